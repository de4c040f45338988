import type { VectorAsset } from '../policy/schema.js';
import { describeError } from '../shared/errors.js';
import { readManifest, SnapshotCorruptError } from '../vectors/read-snapshot.js';
import { newestVerified, type SnapshotCatalogStore } from '../vectors/snapshot-catalog.js';
import type { Manifest } from '../vectors/snapshot-format.js';
import type { SnapshotObjects } from '../vectors/snapshot-objects.js';
import type { JsonValue } from '../shared/json.js';
import { IndexExistsError, IndexNotFoundError, type Neighbour, type VectorStore } from '../vectors/vector-store.js';
import { measuredRto, type RestoreTestResult } from './restore-test.js';
import { compareWithManifest, derivedIndexName, scanIndex, scanStart, writeChunks } from './restore-vectors-copy.js';

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

/** Recall is measured at 10 neighbours (recall@10). */
export const K = 10;

export async function verifyVectorRestore(asset: VectorAsset, deps: VerifyVectorsDeps): Promise<RestoreTestResult> {
  const startedAt = deps.now();
  const checks: Record<string, JsonValue> = {};
  const finish = (
    reason: string | undefined,
    restore: { ms: number; restored: number; total: number; completed: boolean },
  ): RestoreTestResult => ({
    asset: asset.name,
    kind: 'vectors',
    ok: reason === undefined,
    ...(reason !== undefined && { reason }),
    startedAt: startedAt.toISOString(),
    finishedAt: deps.now().toISOString(),
    restoreMs: restore.ms,
    restored: restore.restored,
    assetTotal: restore.total,
    rtoSeconds: restore.completed ? measuredRto(restore.ms, restore.restored, restore.total) : null,
    checks,
  });
  const notRestored = { ms: 0, restored: 0, total: 0, completed: false };

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
      if (recall.mean < required) {
        reason ??=
          `recall@${K} ${recall.mean.toFixed(3)} over ${golden.length} golden queries (source index "${asset.source.index}" against ` +
          `the restore) is below the required ${required}${store.exactSearch ? ' (exact search)' : ''}; ` +
          `has the source changed since snapshot ${entry.snapshotId}, or does the restore differ?`;
      }
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
