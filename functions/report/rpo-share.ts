/** One period's Maximum of an asset's RpoSeconds metric (CloudWatch GetMetricData, Stat Maximum). */
export interface RpoDatapoint {
  /** The start of the period. */
  at: Date;
  maxSeconds: number;
}

/**
 * The share of time an asset was within its RPO target over a window, from the Maximum of
 * RpoSeconds per period. A period counts as within when its Maximum is at or under the target,
 * over when above it, and missing when it has no datapoint: measure-rpo publishes no RpoSeconds
 * when the RPO is unknown (no verified recovery point) and none when it did not run, so a missing
 * period is never counted as within (the RPO alarm treats missing data as breaching, too).
 */
export interface RpoShare {
  periodSeconds: number;
  /** Periods in the window: its length / periodSeconds. */
  periods: number;
  within: number;
  over: number;
  missing: number;
  /** within / periods (missing periods count against); null when the window has no datapoint at all. */
  withinTarget: number | null;
  /** (within + over) / periods: how much of the window was measured. */
  measured: number;
  /** within / (within + over): the share among measured periods; null without data. */
  withinWhenMeasured: number | null;
}

/** The window's periods end at the last period boundary at or before `end` (only whole periods count). */
export function alignedWindow(end: Date, days: number, periodSeconds: number): { start: Date; end: Date } {
  const periodMs = periodSeconds * 1000;
  const endMs = Math.floor(end.getTime() / periodMs) * periodMs;
  return { start: new Date(endMs - days * 86_400_000), end: new Date(endMs) };
}

export function rpoShare(
  points: readonly RpoDatapoint[],
  window: { start: Date; end: Date },
  periodSeconds: number,
  targetSeconds: number,
): RpoShare {
  const periodMs = periodSeconds * 1000;
  const startMs = window.start.getTime();
  const periods = Math.max(0, Math.round((window.end.getTime() - startMs) / periodMs));
  // One value per period (the largest, should two datapoints fall into one period).
  const byPeriod = new Map<number, number>();
  for (const p of points) {
    const index = Math.floor((p.at.getTime() - startMs) / periodMs);
    if (index < 0 || index >= periods || !Number.isFinite(p.maxSeconds)) continue;
    byPeriod.set(index, Math.max(byPeriod.get(index) ?? -Infinity, p.maxSeconds));
  }
  let within = 0;
  for (const value of byPeriod.values()) if (value <= targetSeconds) within += 1;
  const over = byPeriod.size - within;
  const ratio = (n: number, d: number) => (d === 0 ? null : n / d);
  return {
    periodSeconds,
    periods,
    within,
    over,
    missing: periods - byPeriod.size,
    withinTarget: byPeriod.size === 0 ? null : ratio(within, periods),
    measured: ratio(byPeriod.size, periods) ?? 0,
    withinWhenMeasured: ratio(within, byPeriod.size),
  };
}
