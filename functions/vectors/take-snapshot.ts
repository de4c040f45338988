import { createHash, randomUUID, webcrypto } from 'node:crypto';
import { constants, createGzip, createZstdCompress, type Gzip, type ZstdCompress } from 'node:zlib';
import { describeError } from '../shared/errors.js';
import { canonicalJson } from '../shared/json.js';
import { headChunks, readManifest, SnapshotCorruptError, verifySnapshot } from './read-snapshot.js';
import type { SnapshotCatalogStore, SnapshotEntry, SnapshotPartition, SnapshotProgress } from './snapshot-catalog.js';
import {
  chunkKey,
  type Compression,
  encodeLines,
  Fingerprint,
  formatName,
  formatVersionOf,
  manifestKey,
  partChunkKey,
  partName,
  snapshotIdAt,
  snapshotPrefix,
  writtenCompression,
  type Manifest,
  type ManifestChunk,
} from './snapshot-format.js';
import type { SnapshotObjects } from './snapshot-objects.js';
import { type Engine, EngineError, type Metric, type VectorRecord, type VectorStore } from './vector-store.js';
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
  /** Parts the scan is split into, each scanned by invocations of its own (policy snapshotPartitions; 1: one scan). */
  partitionCount: number;
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
  /** Not finished in this invocation; `part`: the part of a partitioned snapshot to continue. */
  | { outcome: 'in-progress'; snapshotId: string; count: number; chunks: number; part: string }
  /** A partitioned snapshot's parts to start, each in an invocation of its own. */
  | { outcome: 'dispatched'; snapshotId: string; parts: string[] }
  /** This part is scanned and read back; others are not yet (the last one finishes the snapshot). */
  | { outcome: 'part-verified'; snapshotId: string; part: string; count: number }
  /** A part's invocation found the snapshot no longer in progress (finished, failed): nothing to do. */
  | { outcome: 'part-skipped'; snapshotId: string; part: string; state: string }
  /** Another invocation is writing this snapshot (or this part of it). */
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
 *
 * A partitioned snapshot (target.partitionCount > 1, where the engine splits a scan) is `dispatched`:
 * each part is then scanned, stored and read back by invocations of its own (`part`), and the
 * invocation that finds every part verified writes the manifest and verifies the whole.
 */
export async function snapshotVectorIndex(
  target: SnapshotTarget,
  deps: SnapshotDeps,
  part?: { snapshotId: string; part: string },
): Promise<SnapshotRun> {
  if (part) return snapshotPart(target, deps, part.snapshotId, part.part);
  const [newest] = await deps.catalog.list(target.asset);
  let entry: SnapshotEntry;
  if (newest && (newest.state === 'in-progress' || newest.state === 'complete')) {
    // A partitioned entry's parts are items of their own: read with it.
    entry = (newest.partCount && (await deps.catalog.get(target.asset, newest.snapshotId))) || newest;
  } else {
    const started = await start(target, deps);
    if ('outcome' in started) return started;
    entry = started;
  }
  if (entry.partitions && entry.state === 'in-progress') {
    // A schedule tick during a partitioned snapshot starts again the parts nobody works on (an
    // invocation that died), or finishes a snapshot whose last part died before finishing it.
    const parts = Object.entries(entry.partitions)
      .filter(([, p]) => !p.verified && (!p.lease || new Date(p.lease.until) < deps.now()))
      .map(([name]) => name);
    if (parts.length > 0 || !allPartsVerified(entry)) return { outcome: 'dispatched', snapshotId: entry.snapshotId, parts };
  }
  return writeAndVerify(target, deps, entry);
}

/** Under the snapshot's lease: scans what is left (one scan), writes the manifest, verifies. */
function writeAndVerify(target: SnapshotTarget, deps: SnapshotDeps, read: SnapshotEntry): Promise<SnapshotRun> {
  return withLease(target, deps, read, undefined, async () => {
    let entry = read;
    if (entry.partitions) {
      // Parts finish at once: the one that took the lease after another finished sees it here.
      const now = await deps.catalog.get(entry.asset, entry.snapshotId);
      if (!now || (now.state !== 'in-progress' && now.state !== 'complete')) return { outcome: 'busy', snapshotId: entry.snapshotId };
      entry = now;
    }
    if (entry.state === 'in-progress') {
      let progress = entry.progress!;
      if (entry.partitions) progress = summedProgress(entry.partitions);
      else {
        const written = await writeChunks(target, deps, entry, progress);
        if (written.outcome !== 'scanned') return written;
        progress = written.progress;
      }
      try {
        entry = await finish(target, deps, entry, progress);
      } catch (error) {
        // A chunk missing (or without its SHA-256) when the manifest is made: never verified.
        if (!(error instanceof SnapshotCorruptError)) throw error;
        await deps.catalog.update(entry.asset, entry.snapshotId, { state: 'corrupt', reason: error.message });
        return { outcome: 'corrupt', snapshotId: entry.snapshotId, reason: error.message };
      }
    }
    return verify(deps, entry);
  });
}

/** Runs `work` under the snapshot's lease (one part's, where `part` is given), for this invocation plus a minute. */
async function withLease(
  target: SnapshotTarget,
  deps: SnapshotDeps,
  entry: SnapshotEntry,
  part: string | undefined,
  work: () => Promise<SnapshotRun>,
): Promise<SnapshotRun> {
  const owner = randomUUID();
  const until = new Date(deps.now().getTime() + Math.min(deps.remainingMs(), 900_000) + 60_000);
  if (!(await deps.catalog.lease(target.asset, entry.snapshotId, owner, until, deps.now(), part))) {
    return { outcome: 'busy', snapshotId: entry.snapshotId };
  }
  try {
    return await work();
  } finally {
    await deps.catalog.release(target.asset, entry.snapshotId, owner, part);
  }
}

const allPartsVerified = (entry: SnapshotEntry) => Object.values(entry.partitions ?? {}).every((p) => p.verified);

/** The totals of a partitioned snapshot: counts and bytes added, chunks numbered on, fingerprints summed. */
function summedProgress(partitions: Record<string, SnapshotPartition>): SnapshotProgress {
  const fingerprint = new Fingerprint();
  const parts = Object.values(partitions);
  parts.forEach((p) => fingerprint.merge(p.progress.fingerprint));
  const sum = (field: 'count' | 'bytes' | 'nextChunk') => parts.reduce((total, p) => total + p.progress[field], 0);
  return { scanDone: true, nextChunk: sum('nextChunk'), count: sum('count'), bytes: sum('bytes'), fingerprint: fingerprint.hex };
}

/** How the snapshot's chunks are compressed: as when it started (an entry begun before zstd has none: gzip). */
const compressionOf = (entry: SnapshotEntry): Compression => entry.compression ?? 'gzip';

/** The chunk keys of the snapshot in manifest order: part by part for a partitioned one. */
function chunkKeysOf(entry: SnapshotEntry, progress: SnapshotProgress): string[] {
  const compression = compressionOf(entry);
  if (!entry.partitions) return Array.from({ length: progress.nextChunk }, (_, i) => chunkKey(entry.prefix, i, compression));
  return Object.keys(entry.partitions)
    .sort()
    .flatMap((part) =>
      Array.from({ length: entry.partitions![part]!.progress.nextChunk }, (_, i) => partChunkKey(entry.prefix, part, i, compression)),
    );
}

/**
 * One part of a partitioned snapshot, under its own lease: scan it into its chunks (checkpointed),
 * then read them back (count and fingerprint against its checkpoint). The invocation that finds
 * every part verified finishes the snapshot.
 */
async function snapshotPart(target: SnapshotTarget, deps: SnapshotDeps, snapshotId: string, part: string): Promise<SnapshotRun> {
  const read = await deps.catalog.get(target.asset, snapshotId);
  const skipped = (found: SnapshotEntry | undefined) =>
    !found || !found.partitions?.[part] || found.state !== 'in-progress'
      ? ({ outcome: 'part-skipped', snapshotId, part, state: found?.state ?? 'missing' } as const)
      : undefined;
  if (skipped(read)) return skipped(read)!;
  const reserveMs = deps.reserveMs ?? 60_000;
  const run = await withLease(target, deps, read!, part, async (): Promise<SnapshotRun> => {
    // Read again under the lease: an invocation that held it may have moved the part on meanwhile.
    const entry = await deps.catalog.get(target.asset, snapshotId);
    if (skipped(entry)) return skipped(entry)!;
    const state = entry!.partitions![part]!;
    if (state.verified) return { outcome: 'part-verified', snapshotId, part, count: state.progress.count };
    let progress = state.progress;
    if (!progress.scanDone) {
      const written = await writeChunks(target, deps, entry!, progress, part);
      if (written.outcome === 'in-progress') return { ...written, part };
      if (written.outcome !== 'scanned') return written;
      progress = written.progress;
    }
    const { prefix } = entry!;
    const compression = compressionOf(entry!);
    const keys = Array.from({ length: progress.nextChunk }, (_, i) => partChunkKey(prefix, part, i, compression));
    let result;
    try {
      const chunks = await storedChunks(deps, prefix, keys);
      const contents = { chunks, count: progress.count, dimensions: target.dimensions, compression };
      result = await verifySnapshot(
        deps.objects,
        prefix,
        { ...contents, fingerprint: { value: progress.fingerprint } },
        () => deps.remainingMs() >= reserveMs,
        state.verify,
      );
    } catch (error) {
      if (!(error instanceof SnapshotCorruptError)) throw error;
      const reason = `part ${part}: ${error.message}`;
      await deps.catalog.update(target.asset, snapshotId, { state: 'corrupt', reason });
      return { outcome: 'corrupt', snapshotId, reason };
    }
    if (!result.done) {
      if (result.progress) await deps.catalog.updatePart(target.asset, snapshotId, part, { verify: result.progress });
      return { outcome: 'in-progress', snapshotId, count: progress.count, chunks: progress.nextChunk, part };
    }
    await deps.catalog.updatePart(target.asset, snapshotId, part, { verified: true });
    return { outcome: 'part-verified', snapshotId, part, count: progress.count };
  });
  if (run.outcome !== 'part-verified') return run;
  const now = await deps.catalog.get(target.asset, snapshotId);
  if (!now || now.state !== 'in-progress' || !allPartsVerified(now)) return run;
  // Every part is verified: this invocation (the last part's) finishes the snapshot, in a fresh
  // invocation when little of this one is left (the manifest HEADs every chunk of every part).
  if (deps.remainingMs() < 2 * reserveMs) return { outcome: 'in-progress', snapshotId, count: run.count, chunks: 0 };
  return writeAndVerify(target, deps, now);
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
    compression: writtenCompression,
    count: 0,
    bytes: 0,
    chunks: 0,
    progress: { scanDone: false, nextChunk: 0, count: 0, bytes: 0, fingerprint: new Fingerprint().hex },
  };
  let reason: string | undefined;
  try {
    const description = await deps.store.describe(target.index);
    if (target.partitionCount > 1 && description.dimensions === target.dimensions) {
      if (!deps.store.partitionScan)
        throw new IndexMismatchError(`${target.engine} cannot split a scan (${target.policyPath}: snapshotPartitions)`);
      const cursors = await deps.store.partitionScan(target.index, target.partitionCount);
      if (cursors.length > 1) {
        const zero = new Fingerprint().hex;
        entry.partitions = Object.fromEntries(
          cursors.map((cursor, i) => [
            partName(i),
            { progress: { cursor, scanDone: false, nextChunk: 0, count: 0, bytes: 0, fingerprint: zero } },
          ]),
        );
        entry.partCount = cursors.length;
        delete entry.progress;
      }
    }
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

/** Attempts a part of a partitioned snapshot (at its scan) or of a restore in parts (from its checkpoint) makes before an error fails the whole. */
export const PART_ATTEMPTS = 3;

/** The retention every file of the snapshot is written with: the same date for all (its catalog entry's). */
const lockOfEntry = (entry: SnapshotEntry) => entry.lock && { lock: { mode: entry.lock.mode, retainUntil: new Date(entry.lock.until) } };

/** Scans from `from` into chunks, checkpointed; of one part of a partitioned snapshot where `part` is given. */
async function writeChunks(
  target: SnapshotTarget,
  deps: SnapshotDeps,
  entry: SnapshotEntry,
  from: SnapshotProgress,
  part?: string,
): Promise<SnapshotRun | { outcome: 'scanned'; progress: SnapshotProgress }> {
  const chunkBytes = deps.chunkBytes ?? 16 * 1024 ** 2;
  const pageSize = deps.pageSize ?? 1000;
  const reserveMs = deps.reserveMs ?? 60_000;
  const fingerprint = new Fingerprint(from.fingerprint);
  // Chunk N is packed and uploaded while chunk N+1 is scanned, and its upload does not wait for
  // chunk N-1's: each chunk's key is its sequence number, known when it is scanned. Checkpoints stay
  // in order: each waits for the one before it and is written only if that one was. Scanning chunk
  // N+1 waits for chunk N-1's checkpoint, so at most two chunks are being stored at once.
  let sequence = from.nextChunk;
  let stored: Promise<SnapshotProgress | 'busy'> = Promise.resolve(from);
  let olderStored: Promise<SnapshotProgress | 'busy'> = stored;
  let scanned = { cursor: from.cursor, scanDone: from.scanDone };
  // The next page is asked for as soon as a page arrives: the engine serves it while this one is encoded.
  const pageAt = (cursor: string | undefined) => {
    const page = deps.store.scan(target.index, { cursor, limit: pageSize });
    page.catch(() => undefined); // awaited in turn; this only keeps a page never awaited from being "unhandled"
    return page;
  };
  let ahead: ReturnType<typeof pageAt> | undefined;

  while (!scanned.scanDone) {
    // A checkpoint refused (another invocation, or the snapshot failed in another part): stop scanning.
    if ((await olderStored) === 'busy') break;
    if (deps.remainingMs() < reserveMs) break;
    const chunk = new ChunkBuilder(compressionOf(entry));
    // Each chunk's own fingerprint is stored with it: the read-back checks they add up to the snapshot's.
    const chunkFingerprint = new Fingerprint();
    let { cursor } = scanned;
    let scanDone = false;
    try {
      while (chunk.rawBytes < chunkBytes && !scanDone) {
        const page = await (ahead ?? pageAt(cursor));
        ahead = page.cursor === undefined ? undefined : pageAt(page.cursor);
        const metadataJsons: string[] = [];
        for (const record of page.records) {
          if (record.vector.length !== target.dimensions) {
            throw new IndexMismatchError(
              `${target.engine} index "${target.index}": record "${record.id}" has ${record.vector.length} dimensions; the policy says ${target.dimensions} (${target.policyPath}.dimensions)`,
            );
          }
          // The metadata's canonical JSON, once: the line holds it and the fingerprint hashes it.
          const metadataJson = canonicalJson(record.metadata);
          metadataJsons.push(metadataJson);
          chunkFingerprint.add(record, metadataJson);
        }
        chunk.add(page.records, metadataJsons);
        cursor = page.cursor;
        scanDone = cursor === undefined;
      }
    } catch (error) {
      chunk.discard();
      await stored.catch(() => undefined);
      // A part retries an engine error from its checkpoint (a connection reset in one of 64 parts
      // after hours should not throw the others' work away), PART_ATTEMPTS times in all.
      const state = part === undefined ? undefined : entry.partitions?.[part];
      if (state && error instanceof EngineError && (state.attempts ?? 0) + 1 < PART_ATTEMPTS) {
        await deps.catalog.updatePart(target.asset, entry.snapshotId, part!, {
          attempts: (state.attempts ?? 0) + 1,
          lastError: describeError(error),
        });
        const saved = await stored.catch(() => from);
        return { outcome: 'in-progress', snapshotId: entry.snapshotId, count: saved === 'busy' ? from.count : saved.count, chunks: 0 };
      }
      const tries = state ? ` (part ${part}, attempt ${(state.attempts ?? 0) + 1} of ${PART_ATTEMPTS})` : '';
      return fail(deps, entry, `${describeError(error)}${tries}`);
    }
    scanned = { cursor, scanDone };
    fingerprint.merge(chunkFingerprint.hex);
    olderStored = stored;
    const scan = { cursor, scanDone, fingerprint: fingerprint.hex };
    const toStore = { builder: chunk, fingerprint: chunkFingerprint.hex, sequence };
    if (chunk.records > 0) sequence++;
    stored = storeChunk(target, deps, entry, stored, toStore, scan, part);
    stored.catch(() => undefined); // awaited below; this only keeps an early failure from being "unhandled"
  }

  const progress = await stored;
  if (progress === 'busy') return { outcome: 'busy', snapshotId: entry.snapshotId };
  if (!progress.scanDone)
    return { outcome: 'in-progress', snapshotId: entry.snapshotId, count: progress.count, chunks: progress.nextChunk };
  return { outcome: 'scanned', progress };
}

/**
 * Packs a chunk and uploads it as chunk number `sequence` (at once), then, after the previous
 * chunk's checkpoint, checkpoints it. A chunk uploaded beyond a checkpoint that is then refused (the
 * snapshot taken over) or never written (the invocation ended) is written again by whoever goes on
 * from that checkpoint, under the same key; only the checkpoint's chunks make the manifest.
 */
async function storeChunk(
  target: SnapshotTarget,
  deps: SnapshotDeps,
  entry: SnapshotEntry,
  previous: Promise<SnapshotProgress | 'busy'>,
  { builder, fingerprint, sequence }: { builder: ChunkBuilder; fingerprint: string; sequence: number },
  scan: { cursor?: string; scanDone: boolean; fingerprint: string },
  part: string | undefined,
): Promise<SnapshotProgress | 'busy'> {
  const records = builder.records;
  const chunk = records > 0 ? await builder.finish() : (builder.discard(), undefined);
  if (chunk) {
    const compression = compressionOf(entry);
    const key =
      part === undefined ? chunkKey(entry.prefix, sequence, compression) : partChunkKey(entry.prefix, part, sequence, compression);
    await deps.objects.put(key, chunk.body, {
      sha256: chunk.sha256,
      contentType: 'application/x-ndjson',
      metadata: { records: String(records), sha256: chunk.sha256, fingerprint },
      ...lockOfEntry(entry),
    });
  }
  const before = await previous;
  if (before === 'busy') return 'busy';
  const next: SnapshotProgress = {
    ...scan,
    nextChunk: sequence + (chunk ? 1 : 0),
    count: before.count + records,
    bytes: before.bytes + (chunk?.body.length ?? 0),
  };
  // Conditional on the checkpoint this chunk follows (its number): refused if the snapshot moved on without it.
  return (await deps.catalog.saveProgress(target.asset, entry.snapshotId, next, sequence, part)) ? next : 'busy';
}

/**
 * The compressor of a chunk. zstd at level 1 packs the base64 text back to about the vectors' raw
 * size at 540-600 MB/s a core here, four times gzip's speed at the same size (0.735 against 0.737 of
 * the text, docs/benchmarks.md). gzip, for a snapshot begun before zstd, codes Huffman only: float32
 * bytes have no repeats for LZ77 to find. Output in 1 MiB pieces, not 16 KiB: a sixty-fourth of the
 * hops from zlib's thread to this one.
 */
const compressor = (compression: Compression): Gzip | ZstdCompress =>
  compression === 'zstd'
    ? createZstdCompress({ params: { [constants.ZSTD_c_compressionLevel]: 1 }, chunkSize: 1024 ** 2 })
    : createGzip({ strategy: constants.Z_HUFFMAN_ONLY, chunkSize: 1024 ** 2 });

/**
 * One chunk file being written: lines are compressed as they come (memory holds the compressed chunk,
 * not the lines), on libuv's thread pool while the scan goes on.
 */
class ChunkBuilder {
  private readonly stream: Gzip | ZstdCompress;
  private readonly parts: Buffer[] = [];
  private readonly done: Promise<void>;
  rawBytes = 0;
  records = 0;

  constructor(compression: Compression) {
    this.stream = compressor(compression);
    this.stream.on('data', (part: Buffer) => this.parts.push(part));
    this.done = new Promise((resolve, reject) => {
      this.stream.once('end', resolve);
      this.stream.once('error', reject);
    });
  }

  /** A page of records, written at once (one call into zlib per page, not per record). */
  add(records: readonly VectorRecord[], metadataJsons: readonly string[]): void {
    if (records.length === 0) return;
    const lines = encodeLines(records, metadataJsons);
    this.stream.write(lines);
    this.rawBytes += lines.length;
    this.records += records.length;
  }

  async finish(): Promise<{ body: Buffer; sha256: string }> {
    this.stream.end();
    await this.done;
    const body = Buffer.concat(this.parts);
    // On libuv's thread pool (WebCrypto's digest), not this thread, which goes on scanning meanwhile.
    return { body, sha256: Buffer.from(await webcrypto.subtle.digest('SHA-256', body)).toString('hex') };
  }

  discard(): void {
    this.done.catch(() => undefined);
    this.stream.destroy();
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
  const chunks = await storedChunks(deps, entry.prefix, chunkKeysOf(entry, progress));

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
    formatVersion: formatVersionOf(compressionOf(entry), entry.partitions !== undefined),
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
    compression: compressionOf(entry),
    ...(entry.partitions && { partitions: Object.keys(entry.partitions).length }),
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

/** The manifest lines of stored chunks, from their headers (record count, SHA-256). */
async function storedChunks(deps: SnapshotDeps, prefix: string, keys: string[]): Promise<ManifestChunk[]> {
  return (await headChunks(deps.objects, keys)).map((head, i) => {
    const sha256 = head?.metadata.sha256;
    if (!head || !sha256) throw new SnapshotCorruptError(`${keys[i]}: chunk is missing or has no SHA-256`);
    return { key: keys[i]!.slice(prefix.length), records: Number(head.metadata.records), bytes: head.bytes, sha256 };
  });
}

/** Reads the snapshot back against its manifest; only then is it `verified`. */
async function verify(deps: SnapshotDeps, entry: SnapshotEntry): Promise<SnapshotRun> {
  const reserveMs = deps.reserveMs ?? 60_000;
  let result;
  try {
    const manifest = await readManifest(deps.objects, entry.prefix);
    if (!manifest) throw new SnapshotCorruptError(`${entry.prefix}: manifest.json is missing`);
    result =
      entry.partitions && allPartsVerified(entry)
        ? checkAgainstParts(entry, manifest)
        : await verifySnapshot(deps.objects, entry.prefix, manifest, () => deps.remainingMs() >= reserveMs, entry.verify);
  } catch (error) {
    if (!(error instanceof SnapshotCorruptError)) throw error;
    await deps.catalog.update(entry.asset, entry.snapshotId, { state: 'corrupt', reason: error.message });
    return { outcome: 'corrupt', snapshotId: entry.snapshotId, reason: error.message };
  }
  if (!result.done) {
    if (result.progress) await deps.catalog.update(entry.asset, entry.snapshotId, { verify: result.progress });
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

/**
 * A partitioned snapshot's parts each read their own chunks back; the whole is then the manifest as
 * read back, checked against them: every part's chunks in order, the counts, the summed fingerprint.
 */
function checkAgainstParts(entry: SnapshotEntry, manifest: Manifest): { done: true } {
  const expected = summedProgress(entry.partitions!);
  const keys = chunkKeysOf(entry, expected).map((key) => key.slice(entry.prefix.length));
  const listed = manifest.chunks.map((chunk) => chunk.key);
  const records = manifest.chunks.reduce((sum, chunk) => sum + chunk.records, 0);
  const wrong =
    listed.join('\n') !== keys.join('\n')
      ? `lists ${listed.length} chunks, the parts wrote ${keys.length}`
      : manifest.count !== expected.count || records !== expected.count
        ? `says ${manifest.count} records (its chunks ${records}), the parts read back ${expected.count}`
        : manifest.fingerprint.value !== expected.fingerprint
          ? `has fingerprint ${manifest.fingerprint.value}, the parts read back ${expected.fingerprint}`
          : undefined;
  if (wrong) throw new SnapshotCorruptError(`${manifestKey(entry.prefix)} ${wrong}`);
  return { done: true };
}

async function fail(deps: SnapshotDeps, entry: SnapshotEntry, reason: string): Promise<SnapshotRun> {
  await deps.catalog.update(entry.asset, entry.snapshotId, { state: 'failed', reason, finishedAt: deps.now().toISOString() });
  return { outcome: 'failed', snapshotId: entry.snapshotId, reason };
}
