import { createHash, randomUUID } from 'node:crypto';
import { constants, createGzip } from 'node:zlib';
import { describeError } from '../shared/errors.js';
import { readManifest, SnapshotCorruptError, verifySnapshotFiles } from './read-snapshot.js';
import type { SnapshotCatalogStore, SnapshotEntry, SnapshotProgress } from './snapshot-catalog.js';
import {
  chunkKey,
  encodeRecord,
  Fingerprint,
  formatName,
  formatVersion,
  manifestKey,
  snapshotIdAt,
  snapshotPrefix,
  type Manifest,
  type ManifestChunk,
} from './snapshot-format.js';
import type { SnapshotObjects } from './snapshot-objects.js';
import type { Engine, Metric, VectorStore } from './vector-store.js';
import type { InvocationTime } from '../shared/invocation-time.js';
import { retainUntil, type LockSettings } from '../policy/object-lock.js';

/** What the policy says about one vector-index asset. */
export interface SnapshotTarget {
  asset: string;
  engine: Engine;
  index: string;
  dimensions: number;
  metric: Metric;
  embedding: { model: string; version: string };
  /** Prefix in the replica bucket under which snapshots/<id>/ lives. */
  replicaPrefix: string;
  /** Also take the engine's own snapshot and record it in the manifest. */
  native: boolean;
  /** Where `dimensions` and `metric` come from, for error messages (e.g. "assets[3].source"). */
  policyPath: string;
  /** The Object Lock retention of the snapshot's files, from its start, where the bucket has Object Lock on. */
  lock?: LockSettings;
}

/** reserveMs: stop starting new chunks when fewer milliseconds than this remain. Default 60 s. */
export interface SnapshotDeps extends InvocationTime {
  store: VectorStore;
  objects: SnapshotObjects;
  catalog: SnapshotCatalogStore;
  /** Uncompressed bytes per chunk (a chunk ends after the page that reaches it). Default 16 MiB. */
  chunkBytes?: number;
  /** Records per scan page. Default 1000. */
  pageSize?: number;
}

export type SnapshotRun =
  | { outcome: 'verified'; snapshotId: string; count: number; bytes: number; chunks: number; fingerprint: string }
  /** Not finished in this invocation; the next one continues from the checkpoint. */
  | { outcome: 'in-progress'; snapshotId: string; count: number; chunks: number }
  /** Another invocation is writing this snapshot. */
  | { outcome: 'busy'; snapshotId: string }
  | { outcome: 'failed'; snapshotId?: string; reason: string }
  | { outcome: 'corrupt'; snapshotId: string; reason: string };

/** The index disagrees with the policy: refused, nothing is written. */
export class IndexMismatchError extends Error {
  override readonly name = 'IndexMismatchError';
}

/**
 * Takes, resumes or verifies the asset's current snapshot: the newest catalog entry is resumed if
 * it is unfinished, otherwise a new snapshot starts. Engine errors end the run as `failed` with the
 * reason (recorded in the catalog); they do not throw. Errors of the DR bucket or the catalog throw:
 * the checkpoint is intact and the next invocation resumes.
 */
export async function snapshotVectorIndex(target: SnapshotTarget, deps: SnapshotDeps): Promise<SnapshotRun> {
  const [newest] = await deps.catalog.list(target.asset);
  let entry: SnapshotEntry;
  if (newest && (newest.state === 'in-progress' || newest.state === 'complete')) {
    entry = newest;
  } else {
    const started = await start(target, deps);
    if ('outcome' in started) return started;
    entry = started;
  }
  // One invocation at a time per snapshot: the lease lasts this invocation (plus a minute).
  const owner = randomUUID();
  const until = new Date(deps.now().getTime() + Math.min(deps.remainingMs(), 900_000) + 60_000);
  if (!(await deps.catalog.lease(target.asset, entry.snapshotId, owner, until, deps.now()))) {
    return { outcome: 'busy', snapshotId: entry.snapshotId };
  }
  try {
    if (entry.state === 'in-progress') {
      const written = await writeChunks(target, deps, entry);
      if (written.outcome !== 'scanned') return written;
      entry = await finish(target, deps, entry, written.progress);
    }
    return await verify(deps, entry);
  } finally {
    await deps.catalog.release(target.asset, entry.snapshotId, owner);
  }
}

async function start(target: SnapshotTarget, deps: SnapshotDeps): Promise<SnapshotEntry | SnapshotRun> {
  const startedAt = deps.now();
  const snapshotId = snapshotIdAt(startedAt);
  const entry: SnapshotEntry = {
    asset: target.asset,
    snapshotId,
    state: 'in-progress',
    engine: target.engine,
    index: target.index,
    dimensions: target.dimensions,
    metric: target.metric,
    prefix: snapshotPrefix(target.replicaPrefix, snapshotId),
    startedAt: startedAt.toISOString(),
    count: 0,
    bytes: 0,
    chunks: 0,
    progress: { scanDone: false, nextChunk: 0, count: 0, bytes: 0, fingerprint: new Fingerprint().hex },
  };
  let reason: string | undefined;
  try {
    const description = await deps.store.describe(target.index);
    if (description.dimensions !== target.dimensions) {
      reason = `${target.engine} index "${target.index}" has ${description.dimensions} dimensions; the policy says ${target.dimensions} (${target.policyPath}.dimensions)`;
    } else if (description.metric !== undefined && description.metric !== target.metric) {
      reason = `${target.engine} index "${target.index}" uses the ${description.metric} metric; the policy says ${target.metric} (${target.policyPath}.metric)`;
    }
    if (reason) reason = describeError(new IndexMismatchError(reason));
  } catch (error) {
    reason = describeError(error);
  }
  if (reason) {
    await deps.catalog.begin({ ...entry, state: 'failed', reason, finishedAt: deps.now().toISOString(), progress: undefined });
    return { outcome: 'failed', snapshotId, reason };
  }
  if (target.lock && (await deps.objects.lockEnabled())) {
    entry.lock = { mode: target.lock.mode, until: retainUntil(target.lock, startedAt).toISOString() };
  }
  if (!(await deps.catalog.begin(entry))) return { outcome: 'busy', snapshotId };
  return entry;
}

/** The retention every file of the snapshot is written with: the same date for all (its catalog entry's). */
const lockOfEntry = (entry: SnapshotEntry) => entry.lock && { lock: { mode: entry.lock.mode, retainUntil: new Date(entry.lock.until) } };

async function writeChunks(
  target: SnapshotTarget,
  deps: SnapshotDeps,
  entry: SnapshotEntry,
): Promise<SnapshotRun | { outcome: 'scanned'; progress: SnapshotProgress }> {
  const chunkBytes = deps.chunkBytes ?? 16 * 1024 ** 2;
  const pageSize = deps.pageSize ?? 1000;
  const reserveMs = deps.reserveMs ?? 60_000;
  const fingerprint = new Fingerprint(entry.progress!.fingerprint);
  // Chunk N is packed, stored and checkpointed while chunk N+1 is scanned; checkpoints stay in
  // order because each store step waits for the one before it. At most two chunks are in memory.
  let stored: Promise<SnapshotProgress | 'busy'> = Promise.resolve(entry.progress!);
  let olderStored: Promise<unknown> = stored;
  let scanned = { cursor: entry.progress!.cursor, scanDone: entry.progress!.scanDone };

  while (!scanned.scanDone) {
    await olderStored;
    if (deps.remainingMs() < reserveMs) break;
    const chunk = new ChunkBuilder();
    let { cursor } = scanned;
    let scanDone = false;
    try {
      while (chunk.rawBytes < chunkBytes && !scanDone) {
        const page = await deps.store.scan(target.index, { cursor, limit: pageSize });
        const lines: string[] = [];
        for (const record of page.records) {
          if (record.vector.length !== target.dimensions) {
            throw new IndexMismatchError(
              `${target.engine} index "${target.index}": record "${record.id}" has ${record.vector.length} dimensions; the policy says ${target.dimensions} (${target.policyPath}.dimensions)`,
            );
          }
          lines.push(encodeRecord(record));
          fingerprint.add(record);
        }
        chunk.add(lines);
        cursor = page.cursor;
        scanDone = cursor === undefined;
      }
    } catch (error) {
      chunk.discard();
      await stored.catch(() => undefined);
      return fail(deps, entry, describeError(error));
    }
    scanned = { cursor, scanDone };
    olderStored = stored;
    stored = storeChunk(target, deps, entry, stored, chunk, { cursor, scanDone, fingerprint: fingerprint.hex });
    stored.catch(() => undefined); // awaited below; this only keeps an early failure from being "unhandled"
  }

  const progress = await stored;
  if (progress === 'busy') return { outcome: 'busy', snapshotId: entry.snapshotId };
  if (!progress.scanDone)
    return { outcome: 'in-progress', snapshotId: entry.snapshotId, count: progress.count, chunks: progress.nextChunk };
  return { outcome: 'scanned', progress };
}

/** Packs a chunk (at once), then, after the previous chunk's checkpoint, stores it and checkpoints. */
async function storeChunk(
  target: SnapshotTarget,
  deps: SnapshotDeps,
  entry: SnapshotEntry,
  previous: Promise<SnapshotProgress | 'busy'>,
  builder: ChunkBuilder,
  scan: { cursor?: string; scanDone: boolean; fingerprint: string },
): Promise<SnapshotProgress | 'busy'> {
  const records = builder.records;
  const chunk = records > 0 ? await builder.finish() : (builder.discard(), undefined);
  const before = await previous;
  if (before === 'busy') return 'busy';
  if (chunk) {
    await deps.objects.put(chunkKey(entry.prefix, before.nextChunk), chunk.body, {
      sha256: chunk.sha256,
      contentType: 'application/x-ndjson',
      metadata: { records: String(records), sha256: chunk.sha256 },
      ...lockOfEntry(entry),
    });
  }
  const next: SnapshotProgress = {
    ...scan,
    nextChunk: before.nextChunk + (chunk ? 1 : 0),
    count: before.count + records,
    bytes: before.bytes + (chunk?.body.length ?? 0),
  };
  return (await deps.catalog.saveProgress(target.asset, entry.snapshotId, next, before.nextChunk)) ? next : 'busy';
}

/**
 * One chunk file being written: lines go through gzip as they come (memory holds the compressed
 * chunk, not the lines), Huffman coding only: float32 bytes have no repeats for LZ77 to find, so this
 * compresses the base64 back to about the raw size at three times the speed of level 1 (still plain
 * gzip). Compression runs on libuv's thread pool while the scan goes on.
 */
class ChunkBuilder {
  private readonly gzip = createGzip({ strategy: constants.Z_HUFFMAN_ONLY });
  private readonly parts: Buffer[] = [];
  private readonly done: Promise<void>;
  rawBytes = 0;
  records = 0;

  constructor() {
    this.gzip.on('data', (part: Buffer) => this.parts.push(part));
    this.done = new Promise((resolve, reject) => {
      this.gzip.once('end', resolve);
      this.gzip.once('error', reject);
    });
  }

  /** A page of lines, written at once (one call into zlib per page, not per record). */
  add(lines: string[]): void {
    if (lines.length === 0) return;
    const text = `${lines.join('\n')}\n`;
    this.gzip.write(text);
    this.rawBytes += text.length;
    this.records += lines.length;
  }

  async finish(): Promise<{ body: Buffer; sha256: string }> {
    this.gzip.end();
    await this.done;
    const body = Buffer.concat(this.parts);
    return { body, sha256: createHash('sha256').update(body).digest('hex') };
  }

  discard(): void {
    this.done.catch(() => undefined);
    this.gzip.destroy();
  }
}

/** Writes the manifest (last), after checking every chunk is stored with the expected checksum. */
async function finish(
  target: SnapshotTarget,
  deps: SnapshotDeps,
  entry: SnapshotEntry,
  progress: SnapshotProgress,
): Promise<SnapshotEntry> {
  const finishedAt = deps.now().toISOString();
  const chunks: ManifestChunk[] = [];
  for (let i = 0; i < progress.nextChunk; i++) {
    const key = chunkKey(entry.prefix, i);
    const head = await deps.objects.head(key);
    const sha256 = head?.metadata.sha256;
    if (!head || !sha256) throw new SnapshotCorruptError(`${key}: chunk is missing or has no SHA-256`);
    chunks.push({ key: key.slice(entry.prefix.length), records: Number(head.metadata.records), bytes: head.bytes, sha256 });
  }

  let native: Manifest['native'];
  if (target.native && deps.store.native) {
    try {
      const ref = await deps.store.native.create(target.index);
      native = { format: ref.format, id: ref.id, ...(ref.details ? { details: ref.details } : {}) };
    } catch (error) {
      // The engine-neutral chunks are the snapshot; a failed native snapshot is noted, not fatal.
      native = undefined;
      await deps.catalog.update(target.asset, entry.snapshotId, { reason: `native snapshot failed: ${describeError(error)}` });
    }
  }

  const manifest: Manifest = {
    format: formatName,
    formatVersion,
    snapshotId: entry.snapshotId,
    asset: target.asset,
    engine: target.engine,
    index: target.index,
    dimensions: target.dimensions,
    metric: target.metric,
    count: progress.count,
    bytes: progress.bytes,
    fingerprint: { algorithm: 'sha256-sum-mod-2^256', value: progress.fingerprint },
    embedding: target.embedding,
    consistency: deps.store.consistency,
    window: { startedAt: entry.startedAt, finishedAt },
    createdAt: finishedAt,
    compression: 'gzip',
    chunks,
    ...(native ? { native } : {}),
  };
  const body = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
  await deps.objects.put(manifestKey(entry.prefix), body, {
    sha256: createHash('sha256').update(body).digest('hex'),
    contentType: 'application/json',
    ...lockOfEntry(entry),
  });
  const patch = {
    state: 'complete' as const,
    finishedAt,
    count: progress.count,
    bytes: progress.bytes,
    chunks: chunks.length,
    fingerprint: progress.fingerprint,
  };
  await deps.catalog.update(target.asset, entry.snapshotId, patch);
  return { ...entry, ...patch };
}

/** Reads the snapshot back against its manifest; only then is it `verified`. */
async function verify(deps: SnapshotDeps, entry: SnapshotEntry): Promise<SnapshotRun> {
  const reserveMs = deps.reserveMs ?? 60_000;
  let result;
  try {
    const manifest = await readManifest(deps.objects, entry.prefix);
    if (!manifest) throw new SnapshotCorruptError(`${entry.prefix}: manifest.json is missing`);
    result = await verifySnapshotFiles(deps.objects, entry.prefix, manifest, () => deps.remainingMs() >= reserveMs, entry.verify);
  } catch (error) {
    if (!(error instanceof SnapshotCorruptError)) throw error;
    await deps.catalog.update(entry.asset, entry.snapshotId, { state: 'corrupt', reason: error.message });
    return { outcome: 'corrupt', snapshotId: entry.snapshotId, reason: error.message };
  }
  if (!result.done) {
    await deps.catalog.update(entry.asset, entry.snapshotId, { verify: result.progress });
    return { outcome: 'in-progress', snapshotId: entry.snapshotId, count: entry.count, chunks: entry.chunks };
  }
  await deps.catalog.update(entry.asset, entry.snapshotId, { state: 'verified', verifiedAt: deps.now().toISOString() });
  return {
    outcome: 'verified',
    snapshotId: entry.snapshotId,
    count: entry.count,
    bytes: entry.bytes,
    chunks: entry.chunks,
    fingerprint: entry.fingerprint!,
  };
}

async function fail(deps: SnapshotDeps, entry: SnapshotEntry, reason: string): Promise<SnapshotRun> {
  await deps.catalog.update(entry.asset, entry.snapshotId, { state: 'failed', reason, finishedAt: deps.now().toISOString() });
  return { outcome: 'failed', snapshotId: entry.snapshotId, reason };
}
