import type { Asset, LockRule, Policy } from './schema.js';

/** An Object Lock retention the policy asks for: a mode, for so many days from each write. */
export type LockSettings = Exclude<LockRule, 'none'>;

/** The retention of what the stack writes for an asset (its own objectLock, else its tier's); undefined: none. */
export function lockOf(policy: Pick<Policy, 'objectLock'>, asset: Pick<Asset, 'tier' | 'objectLock'>): LockSettings | undefined {
  const rule = asset.objectLock ?? policy.objectLock[asset.tier];
  return rule === 'none' ? undefined : rule;
}

/**
 * A replica bucket's default retention (what S3 applies to a write that names none, such as the
 * report's pages): the weakest of its assets' retentions, GOVERNANCE if any is, for the fewest days;
 * none when one of its assets has none. Each replica version is written with its asset's own.
 */
export function bucketDefaultLock(policy: Pick<Policy, 'objectLock' | 'assets'>, bucket: string): LockSettings | undefined {
  const rules = policy.assets.filter((a) => a.replica.bucket === bucket).map((a) => lockOf(policy, a));
  if (rules.length === 0 || rules.some((r) => r === undefined)) return undefined;
  const locks = rules as LockSettings[];
  return {
    mode: locks.some((l) => l.mode === 'GOVERNANCE') ? 'GOVERNANCE' : 'COMPLIANCE',
    days: Math.min(...locks.map((l) => l.days)),
  };
}

/** When a lock of `settings` taken at `from` expires. */
export const retainUntil = (settings: LockSettings, from: Date) => new Date(from.getTime() + settings.days * 86_400_000);

/** Whether a replica bucket has Object Lock on: it does when an asset replicated into it is locked (S3 cannot turn it off again). */
export const replicaHasObjectLock = (policy: Pick<Policy, 'objectLock' | 'assets'>, bucket: string) =>
  policy.assets.some((a) => a.replica.bucket === bucket && lockOf(policy, a) !== undefined);
