import { describe, expect, it } from 'vitest';
import { PrefixNotDestroyedError } from '../../../functions/storage/destroy-prefix.js';
import { applyRetention, planRetention } from '../../../functions/vectors/retention.js';
import type { SnapshotCatalogStore, SnapshotEntry, SnapshotState } from '../../../functions/vectors/snapshot-catalog.js';
import type { SnapshotObjects } from '../../../functions/vectors/snapshot-objects.js';
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

/** A snapshot whose files are locked (COMPLIANCE) until `until`. */
const locked = (at: string, until: string, state: SnapshotState = 'verified'): SnapshotEntry => ({
  ...entry(at, state),
  lock: { mode: 'COMPLIANCE', until },
});

/** Hourly snapshots from `from` for `days` days. */
function hourly(from: string, days: number): SnapshotEntry[] {
  const start = new Date(from).getTime();
  return Array.from({ length: days * 24 }, (_, h) => entry(new Date(start + h * 3_600_000).toISOString()));
}

/** No snapshot here is locked: when retention runs does not matter to these plans. */
const NOW = new Date('2026-11-29T00:00:00Z');

const ids = (list: { entry: SnapshotEntry }[]) => list.map((x) => x.entry.snapshotId);

describe('planRetention', () => {
  it('keeps the newest snapshot of each of the last N days, ISO weeks and months', () => {
    const entries = hourly('2026-08-01T00:00:00Z', 120); // Aug 1 .. Nov 28
    const plan = planRetention(entries, { daily: 7, weekly: 4, monthly: 3 }, NOW);

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
    const plan = planRetention([old, ...failedSince], { daily: 1, weekly: 0, monthly: 0 }, NOW);
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
    const plan = planRetention(entries, { daily: 30, weekly: 8, monthly: 3 }, NOW);
    expect(plan.remove.map((r) => [r.entry.state, r.reason])).toEqual([
      ['corrupt', 'corrupt, and a newer snapshot is verified'],
      ['failed', 'failed, and a newer snapshot is verified'],
    ]);
    expect(ids(plan.keep)).toEqual([entries[2]!.snapshotId]);
  });

  it('keeps nothing and removes nothing when no snapshot is verified', () => {
    const plan = planRetention([entry('2026-11-20T00:00:00Z', 'failed')], { daily: 1, weekly: 1, monthly: 1 }, NOW);
    expect(plan).toEqual({ keep: [], remove: [], waiting: [] });
  });
});

describe('retention under Object Lock', () => {
  it('plans a locked snapshot out of retention for the first run after its lock expires, and says when', () => {
    const old = locked('2026-11-01T00:00:00Z', '2026-12-01T00:00:00Z');
    const newest = locked('2026-11-28T00:00:00Z', '2026-12-28T00:00:00Z');
    const before = planRetention([old, newest], { daily: 1, weekly: 0, monthly: 0 }, new Date('2026-11-30T23:59:59Z'));
    expect(before.remove).toEqual([]);
    expect(before.waiting).toEqual([{ entry: old, reason: 'outside the daily, weekly and monthly retention', until: old.lock!.until }]);

    const after = planRetention([old, newest], { daily: 1, weekly: 0, monthly: 0 }, new Date('2026-12-01T00:00:01Z'));
    expect(ids(after.remove)).toEqual([old.snapshotId]);
    expect(after.waiting).toEqual([]);
  });
});

describe('applyRetention under Object Lock', () => {
  /** A catalog and snapshot files in memory: what retention changed, and what S3 would refuse. */
  function world(entries: SnapshotEntry[], refuse: Record<string, { removed: number }> = {}) {
    const catalog = new Map(entries.map((e) => [e.snapshotId, structuredClone(e)]));
    const extended: { prefix: string; lock: { mode: string; retainUntil: Date } }[] = [];
    const destroyed: string[] = [];
    const logs: [string, Record<string, unknown>][] = [];
    const deps = {
      catalog: {
        list: async () => [...catalog.values()].sort((a, b) => b.snapshotId.localeCompare(a.snapshotId)),
        update: async (_asset: string, id: string, patch: Partial<SnapshotEntry>) => void Object.assign(catalog.get(id)!, patch),
      } as unknown as SnapshotCatalogStore,
      objects: {
        extendLock: async (prefix: string, lock: { mode: string; retainUntil: Date }) => (extended.push({ prefix, lock }), 3),
        destroyPrefix: async (prefix: string) => {
          const refused = Object.entries(refuse).find(([id]) => prefix.includes(id.replace(/:/g, '-')));
          if (refused) throw new PrefixNotDestroyedError(`deleting ${prefix}: S3 refused 1 of 3 versions`, refused[1].removed);
          destroyed.push(prefix);
          return 3;
        },
      } as unknown as SnapshotObjects,
      log: (message: string, fields: Record<string, unknown>) => void logs.push([message, fields]),
    };
    return { catalog, extended, destroyed, logs, deps };
  }
  const lock = { mode: 'COMPLIANCE' as const, days: 30 };

  it('extends the lock of a kept snapshot by a whole period once less than half of one is left, and only then', async () => {
    const kept = locked('2026-11-01T00:00:00Z', '2026-12-01T00:00:00Z');
    const w = world([kept]);
    await applyRetention('docs', { daily: 7, weekly: 0, monthly: 0 }, { ...w.deps, lock, now: () => new Date('2026-11-16T00:00:01Z') });
    expect(w.extended).toEqual([{ prefix: kept.prefix, lock: { mode: 'COMPLIANCE', retainUntil: new Date('2026-12-16T00:00:01Z') } }]);
    expect(w.catalog.get(kept.snapshotId)!.lock).toEqual({ mode: 'COMPLIANCE', until: '2026-12-16T00:00:01.000Z' });

    // Right after, more than half a period is left: nothing more is asked of S3.
    await applyRetention('docs', { daily: 7, weekly: 0, monthly: 0 }, { ...w.deps, lock, now: () => new Date('2026-11-17T00:00:00Z') });
    expect(w.extended).toHaveLength(1);
  });

  it('never turns a COMPLIANCE lock into GOVERNANCE when it extends it', async () => {
    const kept = locked('2026-11-01T00:00:00Z', '2026-11-20T00:00:00Z');
    const w = world([kept]);
    const governance = { mode: 'GOVERNANCE' as const, days: 30 };
    await applyRetention(
      'docs',
      { daily: 7, weekly: 0, monthly: 0 },
      { ...w.deps, lock: governance, now: () => new Date('2026-11-19T00:00:00Z') },
    );
    expect(w.extended.map((e) => e.lock.mode)).toEqual(['COMPLIANCE']);
  });

  it('extends a GOVERNANCE lock as GOVERNANCE when the policy moved to COMPLIANCE (S3 would want the bypass no role has)', async () => {
    const kept = {
      ...locked('2026-11-01T00:00:00Z', '2026-11-20T00:00:00Z'),
      lock: { mode: 'GOVERNANCE' as const, until: '2026-11-20T00:00:00.000Z' },
    };
    const w = world([kept]);
    await applyRetention('docs', { daily: 7, weekly: 0, monthly: 0 }, { ...w.deps, lock, now: () => new Date('2026-11-19T00:00:00Z') });
    expect(w.extended.map((e) => e.lock.mode)).toEqual(['GOVERNANCE']);
  });

  it('a refused extension is logged and retention goes on removing what it no longer keeps', async () => {
    const kept = locked('2026-11-28T00:00:00Z', '2026-11-30T00:00:00Z');
    const old = entry('2026-11-20T00:00:00Z');
    const w = world([kept, old]);
    w.deps.objects.extendLock = async () => {
      throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied' });
    };
    const plan = await applyRetention(
      'docs',
      { daily: 1, weekly: 0, monthly: 0 },
      { ...w.deps, lock, now: () => new Date('2026-11-29T00:00:00Z') },
    );
    expect(ids(plan.remove)).toEqual([old.snapshotId]);
    expect(w.catalog.get(kept.snapshotId)!.lock!.until).toBe(kept.lock!.until);
    expect(w.logs.filter(([m]) => m === 'snapshot lock not extended').map(([, f]) => [f.snapshotId, f.error])).toEqual([
      [kept.snapshotId, 'AccessDenied: Access Denied'],
    ]);
  });

  it('keeps a snapshot S3 refuses to let go of, marks one it let go of in part corrupt, and goes on with the others', async () => {
    const newest = locked('2026-11-28T00:00:00Z', '2026-12-28T00:00:00Z');
    const held = entry('2026-11-20T00:00:00Z'); // a legal hold set by hand: the catalog knows no lock
    const partly = entry('2026-11-21T00:00:00Z');
    const free = entry('2026-11-22T00:00:00Z');
    const w = world([newest, held, partly, free], { [held.snapshotId]: { removed: 0 }, [partly.snapshotId]: { removed: 2 } });
    const plan = await applyRetention(
      'docs',
      { daily: 1, weekly: 0, monthly: 0 },
      { ...w.deps, lock, now: () => new Date('2026-11-29T00:00:00Z') },
    );

    expect(w.destroyed).toEqual([free.prefix]);
    expect(ids(plan.remove)).toEqual([free.snapshotId]);
    expect(w.catalog.get(free.snapshotId)!.state).toBe('deleted');
    expect(w.catalog.get(held.snapshotId)!.state).toBe('verified');
    expect(w.catalog.get(partly.snapshotId)).toMatchObject({
      state: 'corrupt',
      reason: expect.stringMatching(/^retention could not remove it: PrefixNotDestroyedError: deleting .+ S3 refused 1 of 3 versions$/),
    });
    expect(w.logs.filter(([m]) => m === 'snapshot not removed by retention').map(([, f]) => f.snapshotId)).toEqual([
      partly.snapshotId,
      held.snapshotId,
    ]);
  });
});
