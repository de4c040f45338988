import type { LedgerQueries, ReplicationLedger } from '../ledger/ledger.js';
import { replicaKeyFor, sourceKeyFor } from '../policy/assets.js';
import type { ObjectAsset } from '../policy/schema.js';
import { versionAt } from '../restore/restore-data.js';
import type { InvocationTime } from '../shared/invocation-time.js';
import type { KeyHistory, VersionedStore } from '../storage/versioned-store.js';
import type { DatasetCatalog, DatasetVersionEntry } from './dataset-catalog.js';
import {
  datasetFolder,
  datasetVersionId,
  encodePart,
  formatName,
  formatVersion,
  manifestKey,
  partKey,
  sha256Of,
  type DatasetManifest,
  type ManifestLine,
} from './dataset-manifest.js';
import type { DatasetObjects } from './dataset-objects.js';
import { sleep as wait } from '../shared/sleep.js';

/**
 * Builds a dataset version (dataset-manifest.ts): walks the replica's keys under the request's
 * prefix in key order, takes each key's version as of the time (versionAt, the way restores choose
 * it), and writes the lines a part at a time, so memory holds one part whatever the prefix's size.
 * A build that does not fit in one invocation writes what it has as a part, saves its checkpoint
 * in the catalog and continues in the next. A version written by the time that is not verified in
 * the replica (pending or failed in the ledger, or replicated without a SHA-256) refuses the whole
 * dataset version, with the count and examples: it names only bytes the replica is known to hold.
 * What the DR region does not know of (a change whose event was lost, until reconcile finds it) it
 * cannot name. The same request
 * names the same version: asked again, a complete one is returned as it is, a refused one is built
 * again (replication may have caught up), a building one continues.
 */

export interface DatasetRequest {
  asset: string;
  /** A source prefix inside the asset's (default: the asset's whole prefix). */
  prefix: string;
  asOf: string;
  name?: string;
  /**
   * Until when the build waits for versions written by the time that are still pending
   * replication, instead of refusing at once (the request's waitMinutes, from when it was made).
   */
  waitUntil?: string;
}

export interface BuildDeps extends InvocationTime {
  ledger: Pick<ReplicationLedger, 'entriesFor'> & Pick<LedgerQueries, 'unreplicated'>;
  replica: VersionedStore;
  objects: DatasetObjects;
  catalog: DatasetCatalog;
  /** Where dataset versions are written in the replica bucket (policy lineage.prefix). */
  lineagePrefix: string;
  /** Lines per part (default 50,000: about 10 MB; the catalog entry lists every part, so about 2,500 parts fit: 125 million keys). */
  partLines?: number;
  /** Keys decided at once (default 16). */
  concurrency?: number;
  /** How a wait for replication pauses (default: a timer). */
  sleep?: (ms: number) => Promise<void>;
}

const EXAMPLES = 10;

/**
 * What one invocation did: the version as it stands, and whether this invocation must continue it
 * (it saved progress and the build is not done). An invocation that lost a race with another one
 * of the same build (a duplicate request while it builds) leaves the build to the winner.
 */
export interface BuildStep {
  entry: DatasetVersionEntry;
  continues: boolean;
}

/** A request waiting for replication (request.waitUntil): nothing is written; the next invocation waits on. */
export interface DatasetWaiting {
  asset: string;
  id: string;
  prefix: string;
  asOf: string;
  state: 'waiting';
  waitUntil: string;
  /** Versions written by the time still pending replication, with examples. */
  pending: number;
  examples: string[];
}

/** How often a wait for replication looks at the ledger again. */
const WAIT_STEP_MS = 30_000;
const WAIT_RESERVE_MS = 60_000;

/**
 * Before a build, for a request that waits (waitUntil): waits within this invocation until no
 * version written by the time is pending replication (the ledger is read again every half minute)
 * or until waitUntil. Answers what is still pending when this invocation has no time left to wait
 * on (the caller continues in a new one); nothing once the build may go on: everything is in, or
 * the wait is over and the build refuses as it would have, or the dataset version exists already.
 */
export async function awaitReplication(asset: ObjectAsset, request: DatasetRequest, deps: BuildDeps): Promise<DatasetWaiting | undefined> {
  if (!request.waitUntil) return undefined;
  const id = datasetVersionId(request);
  if ((await deps.catalog.get(asset.name, id))?.state === 'complete') return undefined;
  const until = Date.parse(request.waitUntil);
  const sleep = deps.sleep ?? wait;
  for (;;) {
    const { unverified } = await unverifiedTracker(deps, asset, request.prefix, Date.parse(request.asOf));
    const left = until - deps.now().getTime();
    if (unverified.pending === 0 || left <= 0) return undefined;
    const pause = Math.min(WAIT_STEP_MS, left);
    if (deps.remainingMs() - pause < (deps.reserveMs ?? WAIT_RESERVE_MS)) {
      const { asset: name, prefix, asOf, waitUntil } = request;
      return {
        asset: name,
        id,
        prefix,
        asOf,
        state: 'waiting',
        waitUntil: waitUntil!,
        pending: unverified.pending,
        examples: unverified.examples,
      };
    }
    await sleep(pause);
  }
}

/** Starts the dataset version the request names, or continues or returns it; one invocation's worth. */
export async function buildDatasetVersion(asset: ObjectAsset, request: DatasetRequest, deps: BuildDeps): Promise<BuildStep> {
  const id = datasetVersionId(request);
  const existing = await deps.catalog.get(asset.name, id);
  if (existing?.state === 'complete') return { entry: existing, continues: false };
  let entry = existing?.state === 'building' ? existing : fresh(asset, request, id, deps);
  const started = !existing ? await deps.catalog.begin(entry) : existing.state === 'refused' ? await deps.catalog.restart(entry) : true;
  // Another invocation began or restarted it meanwhile: this one goes on from what is stored.
  if (!started) entry = (await deps.catalog.get(asset.name, id)) ?? entry;
  if (entry.state !== 'building') return { entry, continues: false };
  return continueBuild(asset, entry, deps);
}

function fresh(asset: ObjectAsset, request: DatasetRequest, id: string, deps: BuildDeps): DatasetVersionEntry {
  return {
    asset: asset.name,
    id,
    ...(request.name && { name: request.name }),
    prefix: request.prefix,
    asOf: request.asOf,
    state: 'building',
    createdAt: deps.now().toISOString(),
    keys: 0,
    bytes: 0,
    parts: [],
    steps: 0,
    bucket: deps.objects.bucket,
  };
}

type Unverified = NonNullable<DatasetVersionEntry['unverified']>;

/** Counts what the replica cannot vouch for, starting with every version the ledger holds as pending or failed by the time. */
async function unverifiedTracker(deps: Pick<BuildDeps, 'ledger'>, asset: ObjectAsset, prefix: string, asOf: number) {
  const unverified: Unverified = { pending: 0, withoutDigest: 0, examples: [] };
  const missing = (key: string, cause: 'pending' | 'withoutDigest') => {
    unverified[cause]++;
    if (unverified.examples.length < EXAMPLES) unverified.examples.push(key);
  };
  for (const pending of await deps.ledger.unreplicated(asset.name)) {
    if (pending.key.startsWith(prefix) && Date.parse(pending.sourceLastModified) <= asOf) missing(pending.key, 'pending');
  }
  return { unverified, missing, refused: () => unverified.pending + unverified.withoutDigest > 0 };
}

/** What a dry run of a dataset version answers: what it would hold, or why it would be refused; nothing is written. */
export interface DatasetVersionPreview {
  asset: string;
  id: string;
  name?: string;
  prefix: string;
  asOf: string;
  /** complete: it would be built; refused: a version in it is not verified in the replica (see unverified). */
  wouldBe: 'complete' | 'refused';
  keys: number;
  bytes: number;
  unverified: Unverified;
  /** false: the invocation ran short before the walk ended; the numbers are of the keys walked (at least). */
  walkedAll: boolean;
}

/** The dry run: walks as a build does and counts, within one invocation, writing nothing. */
export async function previewDatasetVersion(asset: ObjectAsset, request: DatasetRequest, deps: BuildDeps): Promise<DatasetVersionPreview> {
  const asOf = Date.parse(request.asOf);
  const { unverified, missing, refused } = await unverifiedTracker(deps, asset, request.prefix, asOf);
  let keys = 0;
  let bytes = 0;
  const walked = await walkVersions(asset, request.prefix, undefined, asOf, deps, 'walk', {
    missing,
    line: async (line) => {
      keys++;
      bytes += line.size;
    },
  });
  return {
    asset: asset.name,
    id: datasetVersionId(request),
    ...(request.name && { name: request.name }),
    prefix: request.prefix,
    asOf: request.asOf,
    wouldBe: refused() ? 'refused' : 'complete',
    keys,
    bytes,
    unverified,
    walkedAll: walked.done,
  };
}

/** Why a refused version is refused, for people: what is missing, and what to do. */
function refusalReason(asOf: string, unverified: Unverified, complete: boolean): string {
  const examples = `${unverified.examples.join(', ')}${unverified.pending + unverified.withoutDigest > unverified.examples.length ? ', …' : ''}`;
  const parts = [
    unverified.pending > 0 &&
      `${unverified.pending} version(s) written by ${asOf} are not in the replica yet: ask again once replication has caught up (status shows what is pending)`,
    unverified.withoutDigest > 0 &&
      `${unverified.withoutDigest} version(s) are in the replica without a SHA-256 the DR region can check (large objects replicated while the ledger was lost): restore the ledger, or replicate them again`,
  ].filter(Boolean);
  return `${complete ? '' : 'at least: '}${parts.join('; ')} (${examples})`;
}

async function continueBuild(asset: ObjectAsset, start: DatasetVersionEntry, deps: BuildDeps): Promise<BuildStep> {
  const partLines = deps.partLines ?? 50_000;
  const folder = datasetFolder(deps.lineagePrefix, asset.name, start.id);
  const asOf = Date.parse(start.asOf);
  const entry: DatasetVersionEntry = { ...start, parts: [...start.parts], steps: start.steps + 1 };
  const { unverified, missing, refused } = await unverifiedTracker(deps, asset, entry.prefix, asOf);
  let lines: ManifestLine[] = [];
  let lastKey = entry.afterKey;

  const writePart = async () => {
    if (lines.length === 0) return;
    const body = encodePart(lines);
    const sha256 = sha256Of(body);
    const key = partKey(folder, entry.parts.length);
    const versionId = await deps.objects.put(key, body, sha256, 'application/x-ndjson');
    entry.parts.push({ key: key.slice(folder.length), versionId, lines: lines.length, sha256 });
    entry.keys += lines.length;
    entry.bytes += lines.reduce((n, l) => n + l.size, 0);
    lines = [];
  };
  const walked = await walkVersions(asset, entry.prefix, entry.afterKey, asOf, deps, refused() ? 'none' : 'walk', {
    missing,
    line: async (line) => {
      if (refused()) return; // only counting what else is missing
      lines.push(line);
      if (lines.length >= partLines) await writePart();
    },
  });
  const done = walked.done;
  lastKey = walked.lastKey ?? lastKey;

  // Every step is committed only if no other invocation of this build committed one since; the
  // one that lost leaves the build to the other (its parts, if any, are left unnamed).
  const commit = async (next: DatasetVersionEntry, continues: boolean): Promise<BuildStep> =>
    (await deps.catalog.commit(next))
      ? { entry: next, continues }
      : { entry: (await deps.catalog.get(next.asset, next.id)) ?? next, continues: false };

  if (refused()) {
    return commit(
      {
        ...start,
        steps: entry.steps,
        state: 'refused',
        finishedAt: deps.now().toISOString(),
        unverified,
        reason: refusalReason(start.asOf, unverified, done),
      },
      false,
    );
  }
  await writePart();
  // Past keys that added no line too (deleted by the time): the next invocation starts after them.
  entry.afterKey = lastKey;
  if (!done) return commit(entry, true);
  const manifest: DatasetManifest = {
    format: formatName,
    formatVersion,
    id: entry.id,
    asset: entry.asset,
    ...(entry.name && { name: entry.name }),
    prefix: entry.prefix,
    asOf: entry.asOf,
    createdAt: entry.createdAt,
    keys: entry.keys,
    bytes: entry.bytes,
    parts: entry.parts,
  };
  const body = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
  const sha256 = sha256Of(body);
  const manifestVersionId = await deps.objects.put(manifestKey(folder), body, sha256, 'application/json');
  const { afterKey: _walked, ...built } = entry;
  return commit(
    { ...built, state: 'complete', finishedAt: deps.now().toISOString(), manifestKey: manifestKey(folder), manifestVersionId, sha256 },
    false,
  );
}

/**
 * Walks the replica's keys under `prefix` from `afterKey` in key order, deciding each key's
 * version as of `asOf` (versionAt, as restores do), `concurrency` at a time: `line` for each
 * verified version, `missing` for one the replica cannot vouch for; a key deleted by then adds
 * nothing. Stops (done false) before a batch when the invocation runs short. `mode` none: nothing
 * to walk (the version is refused already: every pending version was counted).
 */
async function walkVersions(
  asset: ObjectAsset,
  prefix: string,
  afterKey: string | undefined,
  asOf: number,
  deps: Pick<BuildDeps, 'ledger' | 'replica' | 'remainingMs' | 'reserveMs' | 'concurrency'>,
  mode: 'walk' | 'none',
  on: { line: (line: ManifestLine) => Promise<void>; missing: (key: string, cause: 'pending' | 'withoutDigest') => void },
): Promise<{ done: boolean; lastKey?: string }> {
  const concurrency = deps.concurrency ?? 16;
  const reserveMs = deps.reserveMs ?? 60_000;
  let lastKey: string | undefined;
  const decide = async (batch: KeyHistory[]) => {
    const decided = await Promise.all(
      batch.map(async ({ key: replicaKey, versions }) => {
        const key = sourceKeyFor(asset, replicaKey);
        return { key, replicaKey, ...(await versionAt(deps, asset, key, asOf, versions)) };
      }),
    );
    for (const { key, replicaKey, version } of decided) {
      lastKey = replicaKey;
      if (!version || version.entryType === 'delete-marker') continue; // not in the dataset at that time
      const digest = version.sha256
        ? { sha256: version.sha256 }
        : version.sha256Composite && version.partSizeBytes
          ? { sha256Composite: version.sha256Composite, partSizeBytes: version.partSizeBytes }
          : undefined;
      if (version.state !== 'replicated' || !version.replicaVersionId) on.missing(key, 'pending');
      else if (!digest) on.missing(key, 'withoutDigest');
      else
        await on.line({
          key,
          sourceVersionId: version.sourceVersionId,
          replicaKey,
          replicaVersionId: version.replicaVersionId,
          size: version.size,
          ...digest,
        });
    }
  };
  let batch: KeyHistory[] = [];
  if (mode === 'none') return { done: true };
  for await (const history of deps.replica.keysUnder(asset.replica.bucket, replicaKeyFor(asset, prefix), afterKey)) {
    if (batch.length === 0 && deps.remainingMs() < reserveMs) return { done: false, ...(lastKey && { lastKey }) };
    batch.push(history);
    if (batch.length >= concurrency) {
      await decide(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await decide(batch);
  return { done: true, ...(lastKey && { lastKey }) };
}
