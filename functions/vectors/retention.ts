import type { SnapshotCatalogStore, SnapshotEntry } from './snapshot-catalog.js';
import type { SnapshotObjects } from './snapshot-objects.js';

/**
 * Snapshot retention, like `restic forget --keep-daily/--keep-weekly/--keep-monthly`: among verified
 * snapshots, keep the newest of each of the last `daily` days, `weekly` ISO weeks and `monthly`
 * months (UTC) that have one. The newest verified snapshot is always kept. Snapshots that failed or
 * were found corrupt are removed once a newer verified snapshot exists; unfinished ones are left to
 * their run. A removed snapshot's files are destroyed and its catalog entry stays, marked `deleted`.
 */
export interface RetentionPolicy {
  daily: number;
  weekly: number;
  monthly: number;
}

export interface RetentionPlan {
  keep: { entry: SnapshotEntry; reasons: string[] }[];
  remove: { entry: SnapshotEntry; reason: string }[];
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

export function planRetention(entries: readonly SnapshotEntry[], policy: RetentionPolicy): RetentionPlan {
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

  const plan: RetentionPlan = { keep: [], remove: [] };
  const newestVerifiedId = verified[0]?.snapshotId;
  for (const entry of newestFirst) {
    const kept = reasons.get(entry.snapshotId);
    if (kept) plan.keep.push({ entry, reasons: kept });
    else if (entry.state === 'verified') plan.remove.push({ entry, reason: 'outside the daily, weekly and monthly retention' });
    else if ((entry.state === 'failed' || entry.state === 'corrupt') && newestVerifiedId && entry.snapshotId < newestVerifiedId) {
      plan.remove.push({ entry, reason: `${entry.state}, and a newer snapshot is verified` });
    }
  }
  return plan;
}

export interface RetentionDeps {
  catalog: SnapshotCatalogStore;
  objects: SnapshotObjects;
  now: () => Date;
  log: (message: string, fields: Record<string, unknown>) => void;
}

/** Applies the plan: destroys each removed snapshot's files, then marks its entry deleted. */
export async function applyRetention(asset: string, policy: RetentionPolicy, deps: RetentionDeps): Promise<RetentionPlan> {
  const plan = planRetention(await deps.catalog.list(asset), policy);
  for (const { entry, reason } of plan.remove) {
    const objects = await deps.objects.destroyPrefix(entry.prefix);
    await deps.catalog.update(asset, entry.snapshotId, { state: 'deleted', deletedAt: deps.now().toISOString(), reason });
    deps.log('snapshot deleted by retention', { asset, snapshotId: entry.snapshotId, previousState: entry.state, reason, objects });
  }
  return plan;
}
