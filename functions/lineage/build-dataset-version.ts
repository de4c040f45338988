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
}

export interface BuildDeps extends InvocationTime {
  ledger: Pick<ReplicationLedger, 'entriesFor'> & Pick<LedgerQueries, 'unreplicated'>;
  replica: VersionedStore;
  objects: DatasetObjects;
  catalog: DatasetCatalog;
  /** Where dataset versions are written in the replica bucket (policy lineage.prefix). */
  lineagePrefix: string;
  /** Lines per part (default 10,000: about 2 MB). */
  partLines?: number;
  /** Keys decided at once (default 16). */
  concurrency?: number;
}

const EXAMPLES = 10;
/** Pending or failed entries read to find those a dataset version would miss (the oldest first). */
const PENDING_LIMIT = 1000;

/**
 * What one invocation did: the version as it stands, and whether this invocation must continue it
 * (it saved progress and the build is not done). An invocation that lost a race with another one
 * of the same build (a duplicate request while it builds) leaves the build to the winner.
 */
export interface BuildStep {
  entry: DatasetVersionEntry;
  continues: boolean;
}

/** Starts the dataset version the request names, or continues or returns it; one invocation's worth. */
export async function buildDatasetVersion(asset: ObjectAsset, request: DatasetRequest, deps: BuildDeps): Promise<BuildStep> {
  const id = datasetVersionId(request);
  const existing = await deps.catalog.get(asset.name, id);
  if (existing?.state === 'complete') return { entry: existing, continues: false };
  let entry = existing?.state === 'building' ? existing : fresh(asset, request, id, deps);
  if (!existing) {
    if (!(await deps.catalog.begin(entry))) entry = (await deps.catalog.get(asset.name, id)) ?? entry;
  } else if (existing.state === 'refused') {
    await deps.catalog.put(entry);
  }
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
    bucket: deps.objects.bucket,
  };
}

async function continueBuild(asset: ObjectAsset, start: DatasetVersionEntry, deps: BuildDeps): Promise<BuildStep> {
  const partLines = deps.partLines ?? 10_000;
  const concurrency = deps.concurrency ?? 16;
  const reserveMs = deps.reserveMs ?? 60_000;
  const folder = datasetFolder(deps.lineagePrefix, asset.name, start.id);
  const asOf = Date.parse(start.asOf);
  const entry: DatasetVersionEntry = { ...start, parts: [...start.parts] };
  const expectedParts = start.parts.length;
  const unverified = { count: 0, examples: [] as string[] };
  // Versions written by the time that the ledger holds as pending or failed: not in the replica (yet).
  for (const pending of await deps.ledger.unreplicated(asset.name, PENDING_LIMIT)) {
    if (!pending.key.startsWith(entry.prefix) || Date.parse(pending.sourceLastModified) > asOf) continue;
    unverified.count++;
    if (unverified.examples.length < EXAMPLES) unverified.examples.push(pending.key);
  }
  let lines: ManifestLine[] = [];
  let lastKey = entry.afterKey;

  const writePart = async () => {
    if (lines.length === 0 || unverified.count > 0) return;
    const body = encodePart(lines);
    const sha256 = sha256Of(body);
    const key = partKey(folder, entry.parts.length);
    const versionId = await deps.objects.put(key, body, sha256, 'application/x-ndjson');
    entry.parts.push({ key: key.slice(folder.length), versionId, lines: lines.length, sha256 });
    entry.keys += lines.length;
    entry.bytes += lines.reduce((n, l) => n + l.size, 0);
    entry.afterKey = lastKey;
    lines = [];
  };
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
      if (version.state !== 'replicated' || !version.replicaVersionId || !digest) {
        unverified.count++;
        if (unverified.examples.length < EXAMPLES) unverified.examples.push(key);
        continue;
      }
      if (unverified.count > 0) continue; // refused already: only counting what else is missing
      lines.push({
        key,
        sourceVersionId: version.sourceVersionId,
        replicaKey,
        replicaVersionId: version.replicaVersionId,
        size: version.size,
        ...digest,
      });
      if (lines.length >= partLines) await writePart();
    }
  };

  let batch: KeyHistory[] = [];
  let done = unverified.count === 0;
  // With versions pending, the version is refused without walking the replica.
  for await (const history of unverified.count > 0
    ? []
    : deps.replica.keysUnder(asset.replica.bucket, replicaKeyFor(asset, entry.prefix), entry.afterKey)) {
    if (batch.length === 0 && deps.remainingMs() < reserveMs) {
      done = false;
      break;
    }
    batch.push(history);
    if (batch.length >= concurrency) {
      await decide(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await decide(batch);

  if (unverified.count > 0) {
    const refused: DatasetVersionEntry = {
      ...start,
      state: 'refused',
      finishedAt: deps.now().toISOString(),
      unverified,
      reason: `${done ? '' : 'at least '}${unverified.count} version(s) as of ${start.asOf} are not verified in the replica yet (${unverified.examples.join(', ')}${unverified.count > unverified.examples.length ? ', …' : ''}): ask again once replication has caught up (status shows what is pending)`,
    };
    await deps.catalog.put(refused);
    return { entry: refused, continues: false };
  }
  await writePart();
  // Another invocation of this build that saved parts meanwhile wins; this one's parts are left unnamed.
  const lost = async (): Promise<BuildStep> => ({ entry: (await deps.catalog.get(entry.asset, entry.id)) ?? entry, continues: false });
  if (!done) {
    entry.afterKey = lastKey; // past keys that added no line too (deleted by the time): the next invocation starts after them
    return (await deps.catalog.saveProgress(entry, expectedParts)) ? { entry, continues: true } : lost();
  }
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
  const complete: DatasetVersionEntry = {
    ...entry,
    state: 'complete',
    finishedAt: deps.now().toISOString(),
    manifestKey: manifestKey(folder),
    manifestVersionId,
    sha256,
  };
  delete complete.afterKey;
  return (await deps.catalog.finish(complete, expectedParts)) ? { entry: complete, continues: false } : lost();
}
