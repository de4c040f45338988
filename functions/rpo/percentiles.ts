/** Nearest-rank percentile (p in 0..100) of values; undefined for no values. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

export interface LagStats {
  count: number;
  p50?: number;
  p99?: number;
  max?: number;
}

export function lagStats(values: readonly number[]): LagStats {
  return { count: values.length, p50: percentile(values, 50), p99: percentile(values, 99), max: percentile(values, 100) };
}
