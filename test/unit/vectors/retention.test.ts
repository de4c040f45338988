import { describe, expect, it } from 'vitest';
import { planRetention } from '../../../functions/vectors/retention.js';
import type { SnapshotEntry, SnapshotState } from '../../../functions/vectors/snapshot-catalog.js';
import { snapshotIdAt } from '../../../functions/vectors/snapshot-format.js';

function entry(at: string, state: SnapshotState = 'verified'): SnapshotEntry {
  const snapshotId = snapshotIdAt(new Date(at));
  return {
    asset: 'docs',
    snapshotId,
    state,
    engine: 'pgvector',
    index: 'docs',
    dimensions: 8,
    metric: 'cosine',
    prefix: `vectors/docs/snapshots/${snapshotId}/`,
    startedAt: new Date(at).toISOString(),
    count: 1,
    bytes: 1,
    chunks: 1,
  };
}

/** Hourly snapshots from `from` for `days` days. */
function hourly(from: string, days: number): SnapshotEntry[] {
  const start = new Date(from).getTime();
  return Array.from({ length: days * 24 }, (_, h) => entry(new Date(start + h * 3_600_000).toISOString()));
}

const ids = (list: { entry: SnapshotEntry }[]) => list.map((x) => x.entry.snapshotId);

describe('planRetention', () => {
  it('keeps the newest snapshot of each of the last N days, ISO weeks and months', () => {
    const entries = hourly('2026-08-01T00:00:00Z', 120); // Aug 1 .. Nov 28
    const plan = planRetention(entries, { daily: 7, weekly: 4, monthly: 3 });

    const kept = new Map(plan.keep.map((k) => [k.entry.snapshotId, k.reasons]));
    // Daily: the last hour of each of the last 7 days.
    for (const day of ['2026-11-28', '2026-11-27', '2026-11-26', '2026-11-25', '2026-11-24', '2026-11-23', '2026-11-22']) {
      expect(kept.get(`${day}T23-00-00Z`)).toEqual(expect.arrayContaining([`daily ${day}`]));
    }
    // Weekly: the newest of ISO weeks 48, 47, 46, 45 (Sundays end ISO weeks).
    expect(kept.get('2026-11-22T23-00-00Z')).toContain('weekly 2026-W47');
    expect(kept.get('2026-11-15T23-00-00Z')).toContain('weekly 2026-W46');
    expect(kept.get('2026-11-08T23-00-00Z')).toContain('weekly 2026-W45');
    // Monthly: the newest of November, October, September.
    expect(kept.get('2026-10-31T23-00-00Z')).toContain('monthly 2026-10');
    expect(kept.get('2026-09-30T23-00-00Z')).toContain('monthly 2026-09');
    expect(kept.get('2026-11-28T23-00-00Z')).toEqual(['newest verified', 'daily 2026-11-28', 'weekly 2026-W48', 'monthly 2026-11']);
    // 7 days (Nov 22-28; Nov 22 is also W47's newest), weeks 46 and 45, October and September.
    expect(plan.keep).toHaveLength(7 + 2 + 2);
    expect(plan.remove).toHaveLength(entries.length - plan.keep.length);
    expect(ids(plan.remove)).toContain('2026-11-28T22-00-00Z');
    expect(ids(plan.remove)).toContain('2026-08-31T23-00-00Z');
  });

  it('never removes the newest verified snapshot, however old', () => {
    const old = entry('2025-01-01T00:00:00Z');
    const failedSince = [entry('2026-11-20T00:00:00Z', 'failed'), entry('2026-11-21T00:00:00Z', 'corrupt')];
    const plan = planRetention([old, ...failedSince], { daily: 1, weekly: 0, monthly: 0 });
    expect(ids(plan.keep)).toEqual([old.snapshotId]);
    // Failed and corrupt snapshots newer than the newest verified one are kept for inspection.
    expect(plan.remove).toEqual([]);
  });

  it('removes failed and corrupt snapshots once a newer one is verified, and leaves unfinished ones alone', () => {
    const entries = [
      entry('2026-11-20T00:00:00Z', 'failed'),
      entry('2026-11-21T00:00:00Z', 'corrupt'),
      entry('2026-11-22T00:00:00Z'),
      entry('2026-11-22T06:00:00Z', 'in-progress'),
      entry('2026-11-22T07:00:00Z', 'deleted'),
    ];
    const plan = planRetention(entries, { daily: 30, weekly: 8, monthly: 3 });
    expect(plan.remove.map((r) => [r.entry.state, r.reason])).toEqual([
      ['corrupt', 'corrupt, and a newer snapshot is verified'],
      ['failed', 'failed, and a newer snapshot is verified'],
    ]);
    expect(ids(plan.keep)).toEqual([entries[2]!.snapshotId]);
  });

  it('keeps nothing and removes nothing when no snapshot is verified', () => {
    const plan = planRetention([entry('2026-11-20T00:00:00Z', 'failed')], { daily: 1, weekly: 1, monthly: 1 });
    expect(plan).toEqual({ keep: [], remove: [] });
  });
});
