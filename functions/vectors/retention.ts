import { retainUntil, type LockSettings } from '../policy/object-lock.js';
import { describeError } from '../shared/errors.js';
import { PrefixNotDestroyedError } from '../storage/destroy-prefix.js';
import type { SnapshotCatalogStore, SnapshotEntry } from './snapshot-catalog.js';
import type { SnapshotObjects } from './snapshot-objects.js';

/**
 * Snapshot retention, like `restic forget --keep-daily/--keep-weekly/--keep-monthly`: among verified
 * snapshots, keep the newest of each of the last `daily` days, `weekly` ISO weeks and `monthly`
 * months (UTC) that have one. The newest verified snapshot is always kept. Snapshots that failed or
 * were found corrupt are removed once a newer verified snapshot exists; unfinished ones are left to
 * their run. A removed snapshot's files are destroyed and its catalog entry stays, marked `deleted`.
 *
 * Object Lock: a snapshot is never removed before its lock expires; until then the plan says when it
 * will be (`waiting`). A snapshot retention keeps is locked for as long as it is kept: when less than
 * half of its asset's lock period is left, its files' retention is extended by a whole period.
 */
export interface RetentionPolicy {
  daily: number;
  weekly: number;
  monthly: number;
}

export interface RetentionPlan {
  keep: { entry: SnapshotEntry; reasons: string[] }[];
  remove: { entry: SnapshotEntry; reason: string }[];
  /** Out of retention, but locked: removed by the first run after `until`. */
  waiting: { entry: SnapshotEntry; reason: string; until: string }[];
}

const day = (at: Date) => at.toISOString().slice(0, 10);
const month = (at: Date) => at.toISOString().slice(0, 7);
function isoWeek(at: Date): string {
  const d = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
  const weekday = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${d.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

export function planRetention(entries: readonly SnapshotEntry[], policy: RetentionPolicy, now: Date): RetentionPlan {
  const newestFirst = [...entries].sort((a, b) => b.snapshotId.localeCompare(a.snapshotId));
  const verified = newestFirst.filter((e) => e.state === 'verified');
  const reasons = new Map<string, string[]>();
  const keep = (entry: SnapshotEntry, reason: string) => reasons.set(entry.snapshotId, [...(reasons.get(entry.snapshotId) ?? []), reason]);

  if (verified[0]) keep(verified[0], 'newest verified');
  for (const [name, limit, bucket] of [
    ['daily', policy.daily, day],
    ['weekly', policy.weekly, isoWeek],
    ['monthly', policy.monthly, month],
  ] as const) {
    const seen = new Set<string>();
    for (const entry of verified) {
      const period = bucket(new Date(entry.startedAt));
      if (seen.has(period)) continue;
      if (seen.size >= limit) break;
      seen.add(period);
      keep(entry, `${name} ${period}`);
    }
  }

  const plan: RetentionPlan = { keep: [], remove: [], waiting: [] };
  const newestVerifiedId = verified[0]?.snapshotId;
  const remove = (entry: SnapshotEntry, reason: string) => {
    if (entry.lock && new Date(entry.lock.until) > now) plan.waiting.push({ entry, reason, until: entry.lock.until });
    else plan.remove.push({ entry, reason });
  };
  for (const entry of newestFirst) {
    const kept = reasons.get(entry.snapshotId);
    if (kept) plan.keep.push({ entry, reasons: kept });
    else if (entry.state === 'verified') remove(entry, 'outside the daily, weekly and monthly retention');
    else if ((entry.state === 'failed' || entry.state === 'corrupt') && newestVerifiedId && entry.snapshotId < newestVerifiedId) {
      remove(entry, `${entry.state}, and a newer snapshot is verified`);
    }
  }
  return plan;
}

export interface RetentionDeps {
  catalog: SnapshotCatalogStore;
  objects: SnapshotObjects;
  now: () => Date;
  log: (message: string, fields: Record<string, unknown>) => void;
  /** The asset's Object Lock retention now (the policy's), for the extensions of kept snapshots. */
  lock?: LockSettings;
}

/**
 * Applies the plan: extends the locks of kept snapshots that need it (a refused extension is
 * logged and asked again by the next run), destroys each removed snapshot's files, then marks its
 * entry deleted. A snapshot S3 will not let go of (a legal hold,
 * a lock set outside this service) stays, with the reason; one it let go of in part can no longer
 * be restored and is marked corrupt, to be removed by a later run. Neither stops the others.
 */
export async function applyRetention(asset: string, policy: RetentionPolicy, deps: RetentionDeps): Promise<RetentionPlan> {
  const plan = planRetention(await deps.catalog.list(asset), policy, deps.now());
  if (deps.lock) {
    for (const { entry } of plan.keep) {
      try {
        await extendIfDue(asset, entry, deps.lock, deps);
      } catch (error) {
        // Half a period is left: the next run asks again. Removing what retention no longer keeps goes on.
        deps.log('snapshot lock not extended', {
          asset,
          snapshotId: entry.snapshotId,
          until: entry.lock?.until,
          error: describeError(error),
        });
      }
    }
  }
  for (const { entry, reason, until } of plan.waiting) {
    deps.log('snapshot out of retention kept until its lock expires', { asset, snapshotId: entry.snapshotId, reason, until });
  }
  const removed: RetentionPlan['remove'] = [];
  for (const { entry, reason } of plan.remove) {
    try {
      const objects = await deps.objects.destroyPrefix(entry.prefix);
      await deps.catalog.update(asset, entry.snapshotId, { state: 'deleted', deletedAt: deps.now().toISOString(), reason });
      deps.log('snapshot deleted by retention', { asset, snapshotId: entry.snapshotId, previousState: entry.state, reason, objects });
      removed.push({ entry, reason });
    } catch (error) {
      if (!(error instanceof PrefixNotDestroyedError)) throw error;
      const refused = `retention could not remove it: ${describeError(error)}`;
      if (error.removed > 0) await deps.catalog.update(asset, entry.snapshotId, { state: 'corrupt', reason: refused });
      deps.log('snapshot not removed by retention', { asset, snapshotId: entry.snapshotId, reason, refused, removed: error.removed });
    }
  }
  return { ...plan, remove: removed };
}

/** Extends a kept snapshot's lock by a whole period once less than half of one is left. */
async function extendIfDue(asset: string, entry: SnapshotEntry, lock: LockSettings, deps: RetentionDeps): Promise<void> {
  if (!entry.lock) return;
  const now = deps.now();
  const periodMs = lock.days * 86_400_000;
  if (new Date(entry.lock.until).getTime() - now.getTime() >= periodMs / 2) return;
  // In the mode the snapshot was written with: S3 lets no one turn COMPLIANCE into GOVERNANCE, and
  // turning GOVERNANCE into COMPLIANCE takes the governance bypass, which no role of the stack has.
  // A policy that changed mode applies to the snapshots written after the change.
  const mode = entry.lock.mode;
  const until = retainUntil(lock, now);
  const objects = await deps.objects.extendLock(entry.prefix, { mode, retainUntil: until });
  await deps.catalog.update(asset, entry.snapshotId, { lock: { mode, until: until.toISOString() } });
  deps.log('snapshot lock extended', {
    asset,
    snapshotId: entry.snapshotId,
    mode,
    from: entry.lock.until,
    until: until.toISOString(),
    objects,
  });
}
