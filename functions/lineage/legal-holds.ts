import { replicaHasObjectLock } from '../policy/object-lock.js';
import type { ObjectAsset, Policy } from '../policy/schema.js';
import type { InvocationTime } from '../shared/invocation-time.js';
import type { DatasetVersionEntry } from './dataset-catalog.js';
import type { DatasetObjects } from './dataset-objects.js';
import {
  ManifestCursor,
  manifestRefOf,
  readManifest,
  walkManifest,
  type ManifestPosition,
  type ManifestRef,
} from './read-dataset-version.js';

/**
 * Keeping what lineage needs (docs/lineage.md#legal-holds): every replica version a registered
 * model's dataset versions name, and the dataset versions' own files, carry an S3 Object Lock
 * legal hold for as long as a model that is not retired links them. A legal hold has no end date
 * and outlasts any retention: no lifecycle rule, retention expiry or role of the stack can delete
 * a held version (the stack's roles may not delete replica versions at all, and only the lineage
 * role may place or remove a hold). Held and released per dataset version, across invocations, a
 * part of its manifest at a time; a release leaves held every version that another held dataset
 * version of the asset names too.
 */

/** A dataset version's hold (the ledger table, pk "HOLD#<asset>", sk its id). */
export interface DatasetHold {
  asset: string;
  id: string;
  /**
   * holding → held while a model links it; releasing → released once none does; unprotected: the
   * replica bucket cannot hold (no Object Lock, or a vault account's, whose policy keeps holds to
   * the vault): `reason` says so.
   */
  state: 'holding' | 'held' | 'releasing' | 'released' | 'unprotected';
  /** The next line to hold or release. */
  at: ManifestPosition;
  /** Versions held (holding, held) or released (releasing, released) so far; files counted apart. */
  versions: number;
  /** Releasing: versions left held because another held dataset version names them. */
  kept: number;
  files: number;
  /** Steps committed (one per invocation): two invocations of one hold or release never both commit one. */
  steps: number;
  startedAt: string;
  finishedAt?: string;
  reason?: string;
}

export interface HoldStore {
  get(asset: string, id: string): Promise<DatasetHold | undefined>;
  /** The asset's holds. */
  list(asset: string): Promise<DatasetHold[]>;
  /** Writes `hold` if the stored one has `steps` one less (or there is none and `hold.steps` is 1); false otherwise. */
  commit(hold: DatasetHold): Promise<boolean>;
}

/** Legal holds on versions of one bucket. */
export interface ObjectHolds {
  set(key: string, versionId: string, on: boolean): Promise<void>;
}

export interface HoldDeps extends InvocationTime {
  policy: Policy;
  holds: HoldStore;
  objects: (asset: ObjectAsset) => DatasetObjects;
  objectHolds: (asset: ObjectAsset) => ObjectHolds;
  /** Active (not retired) models linking a dataset version. */
  activeUsers: (asset: string, id: string) => Promise<string[]>;
  datasets: { get(asset: string, id: string): Promise<DatasetVersionEntry | undefined> };
  /** Requests at once. Default 16. */
  concurrency?: number;
}

/** What one invocation did: the hold as it stands, and whether this invocation must continue it. */
export interface HoldStep {
  hold: DatasetHold;
  continues: boolean;
}

const RESERVE_MS = 30_000;

/** Why a replica bucket cannot hold, if it cannot. */
function cannotHold(policy: Policy, asset: ObjectAsset): string | undefined {
  if (asset.replica.account)
    return `the replica bucket ${asset.replica.bucket} is the vault account's: only the vault may place legal holds there (its Object Lock retention keeps each version)`;
  if (!replicaHasObjectLock(policy, asset.replica.bucket))
    return `the replica bucket ${asset.replica.bucket} has no Object Lock (objectLock none for its assets): S3 places legal holds only with it; no role of the stack may delete its versions, but a lifecycle rule or the account's root could`;
  return undefined;
}

async function pool<T>(items: T[], concurrency: number, each: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += concurrency) await Promise.all(items.slice(i, i + concurrency).map(each));
}

/** A dataset version's own files: manifest.json and its parts, by the versions that pin them. */
async function files(objects: DatasetObjects, ref: ManifestRef): Promise<{ key: string; versionId: string }[]> {
  const manifest = await readManifest(objects, ref);
  const folder = ref.manifestKey.replace(/manifest\.json$/, '');
  return [
    { key: ref.manifestKey, versionId: ref.manifestVersionId },
    ...manifest.parts.map((p) => ({ key: folder + p.key, versionId: p.versionId })),
  ];
}

/**
 * Holds (`on`) or releases a dataset version: starts it (or, asked to hold one that is releasing
 * or released, starts holding it again from its first line), or continues it; one invocation's
 * worth. A hold that is held already is returned as it is.
 */
export async function holdDatasetVersion(entry: DatasetVersionEntry, on: boolean, deps: HoldDeps): Promise<HoldStep> {
  const asset = deps.policy.assets.find((a) => a.name === entry.asset) as ObjectAsset;
  const stored = await deps.holds.get(entry.asset, entry.id);
  const wanted = on ? ['holding', 'held'] : ['releasing', 'released'];
  let hold: DatasetHold;
  if (stored && (wanted.includes(stored.state) || stored.state === 'unprotected')) {
    if (stored.state === 'held' || stored.state === 'released' || stored.state === 'unprotected') return { hold: stored, continues: false };
    hold = stored;
  } else {
    if (!on && !stored) return { hold: fresh(entry, 'released', deps), continues: false }; // never held: nothing to release
    const reason = on ? cannotHold(deps.policy, asset) : undefined;
    hold = {
      ...fresh(entry, reason ? 'unprotected' : on ? 'holding' : 'releasing', deps),
      steps: (stored?.steps ?? 0) + 1,
      ...(reason && { reason }),
    };
    if (reason) hold.finishedAt = hold.startedAt;
    if (!(await deps.holds.commit(hold))) return { hold: (await deps.holds.get(entry.asset, entry.id)) ?? hold, continues: false };
    if (reason) return { hold, continues: false };
  }
  return step(asset, entry, hold, on, deps);
}

function fresh(entry: DatasetVersionEntry, state: DatasetHold['state'], deps: HoldDeps): DatasetHold {
  return {
    asset: entry.asset,
    id: entry.id,
    state,
    at: { part: 0, line: 0 },
    versions: 0,
    kept: 0,
    files: 0,
    steps: 0,
    startedAt: deps.now().toISOString(),
  };
}

async function step(asset: ObjectAsset, entry: DatasetVersionEntry, start: DatasetHold, on: boolean, deps: HoldDeps): Promise<HoldStep> {
  const objects = deps.objects(asset);
  const holds = deps.objectHolds(asset);
  const ref = manifestRefOf(entry);
  const concurrency = deps.concurrency ?? 16;
  const short = () => deps.remainingMs() < (deps.reserveMs ?? RESERVE_MS);
  // A release stops as soon as a model links the dataset version again (which also starts its hold anew).
  if (!on && (await deps.activeUsers(entry.asset, entry.id)).length > 0) return { hold: start, continues: false };
  const next: DatasetHold = { ...start, steps: start.steps + 1 };
  // A release keeps what another dataset version of the asset that is held (or being held) names.
  const others = on
    ? []
    : await Promise.all(
        (await deps.holds.list(asset.name))
          .filter((h) => h.id !== entry.id && (h.state === 'holding' || h.state === 'held'))
          .map(async (h) => deps.datasets.get(h.asset, h.id)),
      ).then((entries) =>
        entries
          .filter(
            (e): e is DatasetVersionEntry =>
              e?.state === 'complete' && (e.prefix.startsWith(entry.prefix) || entry.prefix.startsWith(e.prefix)),
          )
          .map((e) => new ManifestCursor(objects, manifestRefOf(e))),
      );
  const walked = await walkManifest(objects, ref, start.at, concurrency, short, async (batch) => {
    const lines = [];
    for (const line of batch) {
      let named = false;
      for (const other of others) {
        if ((await other.find(line.key))?.replicaVersionId !== line.replicaVersionId) continue;
        named = true;
        break;
      }
      if (named) next.kept++;
      else lines.push(line);
    }
    await pool(lines, concurrency, (line) => holds.set(line.replicaKey, line.replicaVersionId, on));
    next.versions += lines.length;
    return batch.length;
  });
  next.at = walked.at;
  if (walked.done) {
    const own = await files(objects, ref);
    await pool(own, concurrency, (f) => holds.set(f.key, f.versionId, on));
    Object.assign(next, { state: on ? 'held' : 'released', files: own.length, finishedAt: deps.now().toISOString() });
  }
  if (!(await deps.holds.commit(next))) return { hold: (await deps.holds.get(entry.asset, entry.id)) ?? next, continues: false };
  return { hold: next, continues: !walked.done };
}
