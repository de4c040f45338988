import type { ServedRequest } from '../local-aws/server.js';

/** The median of the values (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** "median (min–max)" of the values, each with `digits` decimals. */
export function medianAndRange(values: readonly number[], digits = 1, unit = ''): string {
  const f = (v: number) => `${v.toFixed(digits)}${unit}`;
  return values.length > 1 ? `${f(median(values))} (${f(Math.min(...values))}–${f(Math.max(...values))})` : f(values[0]!);
}

/**
 * Sequential round trips of a run: the largest number of requests of it that are pairwise
 * non-overlapping in time at the server (each ended before the next started), found greedily by
 * earliest end, which is optimal for intervals. Requests that overlap cannot wait for each
 * other's answers, so every chain of requests that did wait one for the other is such a set: the
 * number is at least the longest dependent chain the run had. It can be more: two independent
 * requests the client happened to send one after the other count as two. It is what the run took,
 * one after another, in round trips; at a round-trip latency L a run like it takes at least that
 * many times L.
 */
export function sequentialRoundTrips(requests: readonly Pick<ServedRequest, 'start' | 'end'>[]): number {
  let count = 0;
  let lastEnd = -Infinity;
  for (const r of [...requests].sort((a, b) => a.end - b.end)) {
    if (r.start >= lastEnd) {
      count++;
      lastEnd = r.end;
    }
  }
  return count;
}
