import { replicaHasObjectLock } from '../policy/object-lock.js';
import type { ObjectAsset, Policy } from '../policy/schema.js';
import type { InvocationTime } from '../shared/invocation-time.js';
import type { DatasetVersionEntry } from './dataset-catalog.js';
import type { ManifestLine } from './dataset-manifest.js';
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
  // A dataset version a model links again (registered meanwhile) is held, not released: its hold
  // starts anew from the first line, whatever the release had taken.
  if (!on && (await deps.activeUsers(entry.asset, entry.id)).length > 0) return holdDatasetVersion(entry, true, deps);
  const stored = await deps.holds.get(entry.asset, entry.id);
  const wanted = on ? ['holding', 'held'] : ['releasing', 'released'];
  let hold: DatasetHold;
  // Unprotected stays so while the bucket still cannot hold; once it can (Object Lock turned on), it is held.
  const stillUnprotected = stored?.state === 'unprotected' && (!on || cannotHold(deps.policy, asset) !== undefined);
  if (stored && (wanted.includes(stored.state) || stillUnprotected)) {
    if (stored.state === 'held' || stored.state === 'released' || stillUnprotected) return { hold: stored, continues: false };
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

/**
 * The other dataset versions of the asset that are held (or being held) and overlap the one being
 * released: a release keeps what they name. Listed again after every batch it releases, so that a
 * hold started meanwhile (it commits its state before it places any hold) gets back at once what
 * the batch took from it; and the listing tells when the release's own hold was taken over (held
 * again by a model that links it, or committed by a duplicate of this step).
 */
class OtherHolds {
  private readonly seen = new Map<string, ManifestCursor | undefined>();

  constructor(
    private readonly deps: HoldDeps,
    private readonly objects: DatasetObjects,
    private readonly entry: DatasetVersionEntry,
    /** The release's own hold as this invocation found it. */
    private readonly steps: number,
  ) {}

  /**
   * Lists the asset's holds, adding the holders new since the last listing to `cursors`, and says
   * whether the release's own hold was taken over meanwhile (`superseded`, with its state now).
   */
  async refresh(): Promise<{ superseded: boolean; state?: DatasetHold['state'] }> {
    const holds = await this.deps.holds.list(this.entry.asset);
    const own = holds.find((h) => h.id === this.entry.id);
    for (const h of holds) {
      if (h.id === this.entry.id || this.seen.has(h.id) || !(h.state === 'holding' || h.state === 'held')) continue;
      const other = await this.deps.datasets.get(h.asset, h.id);
      const overlaps =
        other?.state === 'complete' && (other.prefix.startsWith(this.entry.prefix) || this.entry.prefix.startsWith(other.prefix));
      this.seen.set(h.id, overlaps ? new ManifestCursor(this.objects, manifestRefOf(other)) : undefined);
    }
    return { superseded: own?.steps !== this.steps, ...(own && { state: own.state }) };
  }

  /** The lines of `batch` (ascending keys) that none of `cursors` names (same key, same replica version). */
  static async unnamed(batch: ManifestLine[], cursors: ManifestCursor[]): Promise<ManifestLine[]> {
    const lines = [];
    for (const line of batch) {
      let named = false;
      for (const cursor of cursors) if ((await cursor.find(line.key))?.replicaVersionId === line.replicaVersionId) named = true;
      if (!named) lines.push(line);
    }
    return lines;
  }

  get cursors(): ManifestCursor[] {
    return [...this.seen.values()].filter((c): c is ManifestCursor => c !== undefined);
  }
}

/** Lines a hold or a release walks between two looks at the holds (its own, and for a release the asset's). */
const RELEASE_BATCH = 512;

/** A replica version to hold or release: a manifest line's, or one of the dataset version's own files. */
type Held = { key: string; versionId: string; line?: ManifestLine };
const heldOf = (lines: ManifestLine[]): Held[] => lines.map((line) => ({ key: line.replicaKey, versionId: line.replicaVersionId, line }));

async function step(asset: ObjectAsset, entry: DatasetVersionEntry, start: DatasetHold, on: boolean, deps: HoldDeps): Promise<HoldStep> {
  const objects = deps.objects(asset);
  const holds = deps.objectHolds(asset);
  const ref = manifestRefOf(entry);
  const concurrency = deps.concurrency ?? 16;
  const short = () => deps.remainingMs() < (deps.reserveMs ?? RESERVE_MS);
  const set = (versions: Held[], value: boolean) => pool(versions, concurrency, (v) => holds.set(v.key, v.versionId, value));
  const next: DatasetHold = { ...start, steps: start.steps + 1 };
  const others = new OtherHolds(deps, objects, entry, start.steps);
  /**
   * Releases `versions`, then lists the holds again: what a hold started meanwhile names is held
   * again (answered: how many); if this release was taken over by a hold of its own dataset version
   * (a model links it again), all of `versions` is held again. Taken over by a duplicate of this
   * release (it committed the same step first), they stay released (the duplicate releases them
   * too), but for what other holds name, as always.
   */
  const release = async (versions: Held[]): Promise<number | 'superseded'> => {
    await set(versions, false);
    const { superseded, state } = await others.refresh();
    const lines = versions.flatMap((v) => (v.line ? [v.line] : []));
    if (superseded && (state === 'holding' || state === 'held')) {
      await set(versions, true);
      return 'superseded';
    }
    // What a hold started meanwhile names is held again (the other holds' lines were never released).
    const unnamed = new Set(await OtherHolds.unnamed(lines, others.cursors));
    const named = lines.filter((l) => !unnamed.has(l));
    await set(heldOf(named), true);
    return superseded ? 'superseded' : named.length;
  };
  // A model registered after the check in holdDatasetVersion (its hold found this one still held and
  // did nothing) is seen now, after the release committed: the dataset version is held again instead.
  if (!on && (await deps.activeUsers(entry.asset, entry.id)).length > 0) return holdDatasetVersion(entry, true, deps);
  let superseded = !on && (await others.refresh()).superseded;
  const walked = superseded
    ? { done: false, at: start.at }
    : await walkManifest(objects, ref, start.at, RELEASE_BATCH, short, async (batch) => {
        if (on) {
          // Taken over (a release committed after this hold's step began): stop before holding more,
          // so that what the release has passed already is not held again behind it.
          if ((await deps.holds.get(entry.asset, entry.id))?.steps !== start.steps) {
            superseded = true;
            return 0;
          }
          await set(heldOf(batch), true);
          next.versions += batch.length;
          return batch.length;
        }
        const lines = await OtherHolds.unnamed(batch, others.cursors);
        const heldAgain = await release(heldOf(lines));
        if (heldAgain === 'superseded') {
          superseded = true;
          return 0;
        }
        next.kept += batch.length - lines.length + heldAgain;
        next.versions += lines.length - heldAgain;
        return batch.length;
      });
  next.at = walked.at;
  if (walked.done && !superseded) {
    const own = await files(objects, ref);
    if (on) await set(own, true);
    else superseded = (await release(own)) === 'superseded';
    Object.assign(next, { state: on ? 'held' : 'released', files: own.length, finishedAt: deps.now().toISOString() });
  }
  if (superseded || !(await deps.holds.commit(next)))
    return { hold: (await deps.holds.get(entry.asset, entry.id)) ?? next, continues: false };
  return { hold: next, continues: !walked.done };
}
