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

/** Seconds between runs of an EventBridge rate() schedule; 60 for cron() schedules. */
export function scheduleIntervalSeconds(schedule: string): number {
  const match = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(schedule);
  if (!match) return 60;
  const unit = { minute: 60, hour: 3600, day: 86400 }[match[2] as 'minute' | 'hour' | 'day'];
  return Number(match[1]) * unit;
}
