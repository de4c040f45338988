import type { VectorAsset } from '../policy/schema.js';
import { describeError } from '../shared/errors.js';
import { readChunk, readManifest, SnapshotCorruptError } from '../vectors/read-snapshot.js';
import { newestVerified, type SnapshotCatalogStore } from '../vectors/snapshot-catalog.js';
import type { Manifest } from '../vectors/snapshot-format.js';
import type { SnapshotObjects } from '../vectors/snapshot-objects.js';
import type { JsonValue } from '../shared/json.js';
import { IndexExistsError, IndexNotFoundError, type Neighbour, type VectorStore } from '../vectors/vector-store.js';
import { measuredRto, type RestoreTestResult } from './restore-test.js';
import { compareWithManifest, derivedIndexName, scanIndex, scanStart, writeChunks } from './restore-vectors-copy.js';
import { followRestoreInParts, type VectorRestoreCall } from './follow-parts.js';
import type { VectorRestoreStatus } from './restore-vectors.js';
import type { InvocationTime } from '../shared/invocation-time.js';
import { sleep } from '../shared/sleep.js';

/**
 * The restore test of a vector-index asset (called by verify-restore on the asset's schedule): the
 * newest verified snapshot is restored into a scratch index on the asset's own engine, checked
 * (count, content fingerprint, recall@10 of golden queries against the live source index), and the
 * scratch index is dropped whatever happened. A snapshot whose chunks fail their checksum is marked
 * `corrupt` in the catalog, as snapshot-vectors' own read-back would have.
 */
export interface VerifyVectorsDeps {
  catalog: SnapshotCatalogStore;
  /** The asset's replica bucket. */
  objects: SnapshotObjects;
  openStore: (asset: VectorAsset) => Promise<VectorStore>;
  now: () => Date;
  /** Records per store.write. Default 500. */
  batchSize?: number;
  /** Records per scan page. Default 1000. */
  pageSize?: number;
}

/** What a restore test measured of its restore: its time, the records restored of the snapshot's, whether it completed. */
interface RestoreMeasured {
  ms: number;
  restored: number;
  total: number;
  completed: boolean;
}
const notRestored: RestoreMeasured = { ms: 0, restored: 0, total: 0, completed: false };

function testResult(
  asset: VectorAsset,
  startedAt: string,
  finishedAt: Date,
  checks: Record<string, JsonValue>,
  reason: string | undefined,
  restore: RestoreMeasured,
): RestoreTestResult {
  return {
    asset: asset.name,
    kind: 'vectors',
    ok: reason === undefined,
    ...(reason !== undefined && { reason }),
    startedAt,
    finishedAt: finishedAt.toISOString(),
    restoreMs: restore.ms,
    restored: restore.restored,
    assetTotal: restore.total,
    rtoSeconds: restore.completed ? measuredRto(restore.ms, restore.restored, restore.total) : null,
    checks,
  };
}

/** Recall is measured at 10 neighbours (recall@10). */
export const K = 10;

export async function verifyVectorRestore(asset: VectorAsset, deps: VerifyVectorsDeps): Promise<RestoreTestResult> {
  const startedAt = deps.now();
  const checks: Record<string, JsonValue> = {};
  const finish = (reason: string | undefined, restore: RestoreMeasured) =>
    testResult(asset, startedAt.toISOString(), deps.now(), checks, reason, restore);

  const entry = await newestVerified(deps.catalog, asset.name);
  if (!entry) return finish(`no verified snapshot of "${asset.name}" to restore`, notRestored);
  checks.snapshotId = entry.snapshotId;
  let manifest: Manifest | undefined;
  try {
    manifest = await readManifest(deps.objects, entry.prefix);
    if (!manifest) throw new SnapshotCorruptError(`${entry.prefix}: manifest.json is missing`);
  } catch (error) {
    if (!(error instanceof SnapshotCorruptError)) throw error;
    return finish(await markCorrupt(deps, asset.name, entry.snapshotId, error, checks), notRestored);
  }

  let store: VectorStore;
  try {
    store = await deps.openStore(asset);
  } catch (error) {
    return finish(`cannot open ${asset.source.engine}: ${describeError(error)}`, { ...notRestored, total: manifest.count });
  }
  const scratch = derivedIndexName(store.engine, asset.source.index, `-dr-verify-${startedAt.toISOString().replace(/[-:.]/g, '')}`);
  checks.scratchIndex = scratch;
  const restore = { ms: 0, restored: 0, total: manifest.count, completed: false };
  let reason: string | undefined;
  let ours = true;
  try {
    const positions = goldenPositions(manifest.count, asset.restoreTest.goldenQueries);
    const golden: Float32Array[] = [];
    try {
      await store.createIndex(scratch, { dimensions: manifest.dimensions, metric: manifest.metric, bulkLoad: true });
    } catch (error) {
      ours = !(error instanceof IndexExistsError);
      throw error;
    }
    const restoreStart = deps.now().getTime();
    try {
      const written = await writeChunks({
        store,
        index: scratch,
        objects: deps.objects,
        prefix: entry.prefix,
        manifest,
        from: { chunk: 0, offset: 0, written: 0 },
        batchSize: deps.batchSize ?? 500,
        hasTime: () => true,
        checkpoint: async (at) => void (restore.restored = at.written),
        onRecord: (record, position) => void (positions.has(position) && golden.push(record.vector)),
      });
      restore.restored = written.at.written;
      await store.finishLoad?.(scratch, { dimensions: manifest.dimensions, metric: manifest.metric });
      restore.completed = true;
    } finally {
      restore.ms = deps.now().getTime() - restoreStart;
    }

    const scanned = await scanIndex({
      store,
      index: scratch,
      from: scanStart(),
      pageSize: deps.pageSize ?? 1000,
      hasTime: () => true,
      checkpoint: async () => {},
    });
    const content = compareWithManifest(manifest, scanned.at, { engine: store.engine, index: scratch });
    checks.count = content.count;
    checks.fingerprint = content.fingerprint;
    if (!content.ok) reason = content.reason;

    const required = store.exactSearch ? 1 : asset.restoreTest.minRecall;
    try {
      const recall = await goldenRecall(store, asset.source.index, scratch, golden);
      checks.recall = { k: K, queries: golden.length, mean: recall.mean, min: recall.min, required, exactSearch: store.exactSearch };
      if (recall.mean < required) reason ??= recallShort(recall.mean, golden.length, asset, entry.snapshotId, required, store.exactSearch);
    } catch (error) {
      checks.recall = { k: K, queries: golden.length, required, error: describeError(error) };
      reason ??= `golden queries failed: ${describeError(error)}`;
    }
  } catch (error) {
    if (error instanceof IndexExistsError) reason = `scratch index "${scratch}" exists already (another restore test at the same time?)`;
    else if (error instanceof SnapshotCorruptError) reason = await markCorrupt(deps, asset.name, entry.snapshotId, error, checks);
    else reason = `restore of snapshot ${entry.snapshotId} into scratch index "${scratch}" failed: ${describeError(error)}`;
  } finally {
    // Always dropped, unless its name was taken by an index this test did not create.
    const dropped = ours ? await dropScratch(store, scratch) : 'not created by this test';
    checks.scratchDropped = dropped;
    if (ours && dropped !== true) reason ??= `scratch index "${scratch}" could not be dropped: ${dropped}`;
    await store.close();
  }
  return finish(reason, restore);
}

/** A restore test in parts under way (the asset's restoreParts > 1): what its continuation carries. */
export interface VectorTestInParts {
  restoreId: string;
  startedAt: string;
  snapshotId: string;
  scratchIndex: string;
  /** When this test last started or continued the restore (followRestoreInParts). */
  continuedAt?: string;
}

/** What a vector restore test did in this invocation: its result, or the test in parts to continue in the next one. */
export type VectorTestStep = { result: RestoreTestResult } | { continueWith: VectorTestInParts };

/** reserveMs: a test in parts hands over to its next invocation when fewer milliseconds than this remain. Default 60 s. */
export interface VerifyVectorsInPartsDeps extends VerifyVectorsDeps, InvocationTime {
  /** restore-vectors, run as it runs; the parts and continuations of its restores go to the restore-vectors function. */
  restoreVectors: VectorRestoreCall;
  /** Notes the test under way, where the asset's next scheduled test finds it if its continuation is lost (RestoreTestLog). */
  noteUnderWay: (test: VectorTestInParts) => Promise<void>;
  /** How long the test waits before it looks at the restore again. Default 10 s. */
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * The restore test of a vector asset whose restores run in parts (restoreParts > 1): the newest
 * verified snapshot is restored into a scratch index on the asset's own engine by restore-vectors
 * with "parts" (a dry run, then the run; its parts run in restore-vectors' own invocations and its
 * last part checks count and fingerprint), the test waits for it (continued in new invocations,
 * `under`, when it outlasts this one), then measures recall@10 of golden queries (records of the
 * snapshot at the same spread positions as a test in one invocation) against the live source, and
 * drops the scratch index whatever happened. The measured RTO is the restore's own restoreMs: the
 * plan's claim to the end of the check, across all parts.
 */
export async function verifyVectorRestoreInParts(
  asset: VectorAsset,
  deps: VerifyVectorsInPartsDeps,
  under?: VectorTestInParts,
): Promise<VectorTestStep> {
  const startedAt = under?.startedAt ?? deps.now().toISOString();
  const checks: Record<string, JsonValue> = {};
  const finish = (reason: string | undefined, restore: RestoreMeasured) => ({
    result: testResult(asset, startedAt, deps.now(), checks, reason, restore),
  });

  let test = under;
  if (!test) {
    const entry = await newestVerified(deps.catalog, asset.name);
    if (!entry) return finish(`no verified snapshot of "${asset.name}" to restore`, notRestored);
    const scratchIndex = derivedIndexName(asset.source.engine, asset.source.index, `-dr-verify-${startedAt.replace(/[-:.]/g, '')}`);
    try {
      const planned = await deps.restoreVectors({ ...runRequest(asset, entry.snapshotId, scratchIndex), dryRun: true });
      test = { restoreId: planned.restoreId, startedAt, snapshotId: entry.snapshotId, scratchIndex };
    } catch (error) {
      Object.assign(checks, { snapshotId: entry.snapshotId, scratchIndex });
      return finish(`restore-vectors refused the restore test’s dry run: ${describeError(error)}`, notRestored);
    }
    // Before anything creates the scratch index: a test whose invocations all die is still found.
    await deps.noteUnderWay(test);
  }
  Object.assign(checks, { snapshotId: test.snapshotId, scratchIndex: test.scratchIndex, restoreId: test.restoreId });

  let status: VectorRestoreStatus;
  for (;;) {
    const payload = { ...runRequest(asset, test.snapshotId, test.scratchIndex), planToken: test.restoreId };
    const followed = await followRestoreInParts(deps.restoreVectors, test.restoreId, payload, test.continuedAt, deps.now());
    status = followed.status;
    test = { ...test, ...(followed.continuedAt && { continuedAt: followed.continuedAt }) };
    if (status.state !== 'running' && status.state !== 'planned') break;
    if (deps.remainingMs() < (deps.reserveMs ?? 60_000)) {
      await deps.noteUnderWay(test);
      return { continueWith: test };
    }
    await (deps.sleep ?? sleep)(deps.pollMs ?? 10_000);
  }

  const result = status.result ?? undefined;
  const total = status.plan.vectors;
  const restore = { ms: result?.restoreMs ?? 0, restored: result?.written ?? 0, total, completed: status.state === 'done' };
  let reason: string | undefined;
  if (result) {
    Object.assign(checks, { count: result.count, fingerprint: result.fingerprint });
    if (result.fanOut) checks.fanOut = result.fanOut;
  }
  if (status.state !== 'done') {
    reason = `restore ${test.restoreId} of snapshot ${test.snapshotId} ${status.state}: ${status.reason ?? 'no reason given'}`;
    // restore-vectors marks a snapshot whose files do not restore corrupt in the catalog.
    const entry = await deps.catalog.get(asset.name, test.snapshotId);
    if (entry?.state === 'corrupt') {
      checks.snapshotMarkedCorrupt = true;
      reason = `snapshot ${test.snapshotId} does not restore: ${entry.reason ?? 'no reason given'}; it is marked corrupt in the catalog`;
    }
  } else if (!result?.ok) reason = result?.reason ?? 'the restored index does not match the snapshot';

  let store: VectorStore;
  try {
    store = await deps.openStore(asset);
  } catch (error) {
    return finish(reason ?? `cannot open ${asset.source.engine}: ${describeError(error)}`, restore);
  }
  try {
    if (status.state === 'done') {
      const required = store.exactSearch ? 1 : asset.restoreTest.minRecall;
      try {
        const manifest = await readManifest(deps.objects, status.plan.prefix);
        if (!manifest) throw new SnapshotCorruptError(`${status.plan.prefix}: manifest.json is missing`);
        const golden = await goldenVectors(deps.objects, status.plan.prefix, manifest, asset.restoreTest.goldenQueries);
        const recall = await goldenRecall(store, asset.source.index, test.scratchIndex, golden);
        checks.recall = { k: K, queries: golden.length, mean: recall.mean, min: recall.min, required, exactSearch: store.exactSearch };
        if (recall.mean < required) reason ??= recallShort(recall.mean, golden.length, asset, test.snapshotId, required, store.exactSearch);
      } catch (error) {
        checks.recall = { k: K, required, error: describeError(error) };
        reason ??= `golden queries failed: ${describeError(error)}`;
      }
    }
  } finally {
    // The dry run refused an existing index: whatever is there now, the restore made.
    const dropped = await dropScratch(store, test.scratchIndex);
    checks.scratchDropped = dropped;
    if (dropped !== true) reason ??= `scratch index "${test.scratchIndex}" could not be dropped: ${dropped}`;
    await store.close();
  }
  return finish(reason, restore);
}

/** The restore-vectors request of a restore test in parts: the snapshot into the scratch index, on the asset's own engine. */
const runRequest = (asset: VectorAsset, snapshotId: string, scratchIndex: string) => ({
  asset: asset.name,
  snapshotId,
  target: { index: scratchIndex },
  parts: asset.restoreParts,
});

/** The golden queries of a snapshot: the records at goldenPositions, read from the chunks that hold them only. */
export async function goldenVectors(objects: SnapshotObjects, prefix: string, manifest: Manifest, wanted: number): Promise<Float32Array[]> {
  const positions = [...goldenPositions(manifest.count, wanted)].sort((a, b) => a - b);
  const golden: Float32Array[] = [];
  let first = 0;
  for (const chunk of manifest.chunks) {
    const inChunk = positions.filter((p) => p >= first && p < first + chunk.records);
    if (inChunk.length > 0) {
      const records = await readChunk(objects, prefix, manifest, chunk);
      for (const p of inChunk) golden.push(records[p - first]!.vector);
    }
    first += chunk.records;
  }
  return golden;
}

const recallShort = (mean: number, queries: number, asset: VectorAsset, snapshotId: string, required: number, exact: boolean) =>
  `recall@${K} ${mean.toFixed(3)} over ${queries} golden queries (source index "${asset.source.index}" against ` +
  `the restore) is below the required ${required}${exact ? ' (exact search)' : ''}; ` +
  `has the source changed since snapshot ${snapshotId}, or does the restore differ?`;

/** `count` positions spread evenly over the snapshot (the same ones for the same snapshot every time). */
export function goldenPositions(total: number, wanted: number): Set<number> {
  const n = Math.min(total, wanted);
  return new Set(Array.from({ length: n }, (_, i) => Math.floor(((i + 0.5) * total) / n)));
}

/**
 * Recall@K of the restore against the source, per query: the share of the source's top K that the
 * restored index returns. A neighbour tied with the source's K-th distance counts as found (which of
 * several equidistant records makes the top K is the engine's choice).
 */
function recallAt(expected: Neighbour[], actual: Neighbour[]): number {
  if (expected.length === 0) return actual.length === 0 ? 1 : 0;
  const ids = new Set(expected.map((n) => n.id));
  const last = expected.at(-1)!.score;
  const tied = (score: number) => expected.length === K && Math.abs(score - last) <= 1e-6 * Math.max(1, Math.abs(last));
  const hits = actual.filter((n) => ids.has(n.id) || tied(n.score)).length;
  return Math.min(hits, expected.length) / expected.length;
}

async function goldenRecall(store: VectorStore, source: string, scratch: string, queries: Float32Array[]) {
  const recalls: number[] = [];
  for (const query of queries) {
    const expected = await store.query(source, query, K);
    recalls.push(recallAt(expected, await store.query(scratch, query, K)));
  }
  if (recalls.length === 0) return { mean: 1, min: 1 };
  return { mean: recalls.reduce((a, b) => a + b, 0) / recalls.length, min: Math.min(...recalls) };
}

/** Drops the scratch index and makes sure it is gone: true, or why not. */
async function dropScratch(store: VectorStore, scratch: string): Promise<true | string> {
  try {
    await store.dropIndex(scratch);
    await store.describe(scratch);
    return `${store.engine} still describes it after dropIndex`;
  } catch (error) {
    return error instanceof IndexNotFoundError ? true : describeError(error);
  }
}

/** A snapshot that does not restore is no recovery point: the catalog says so, like snapshot-vectors' read-back. */
async function markCorrupt(
  deps: VerifyVectorsDeps,
  asset: string,
  snapshotId: string,
  error: SnapshotCorruptError,
  checks: Record<string, JsonValue>,
) {
  await deps.catalog.update(asset, snapshotId, { state: 'corrupt', reason: `restore test: ${error.message}` });
  checks.snapshotMarkedCorrupt = true;
  return `snapshot ${snapshotId} does not restore: ${error.message}; it is marked corrupt in the catalog`;
}
