import { readChunk } from '../vectors/read-snapshot.js';
import { Fingerprint, type Manifest } from '../vectors/snapshot-format.js';
import type { SnapshotObjects } from '../vectors/snapshot-objects.js';
import type { Engine, Metric, VectorRecord, VectorStore } from '../vectors/vector-store.js';

/**
 * The engine-neutral half of a vector restore, shared by restore-vectors and the restore test:
 * write a snapshot's chunks into an index (each chunk's SHA-256 checked by readChunk), then scan the
 * index back and compare its count and content fingerprint with the manifest. Both steps stop at a
 * checkpoint when time runs out and continue from it, in this invocation or another.
 */

/** Metrics an engine has no name for: a snapshot with one cannot be restored into it. */
const missingMetrics: Partial<Record<Engine, readonly Metric[]>> = { s3vectors: ['dot'] };

export function supportsMetric(engine: Engine, metric: Metric): boolean {
  return !(missingMetrics[engine] ?? []).includes(metric);
}

export const NOT_COMPARABLE = 'not comparable: engine normalises cosine vectors';

/** Qdrant and Chroma store cosine vectors normalised: what a scan returns is not what was written. */
export function normalisesVectors(engine: Engine, metric: Metric): boolean {
  return metric === 'cosine' && (engine === 'qdrant' || engine === 'chroma');
}

/** The longest index name each engine accepts (Pinecone 45, PostgreSQL identifiers and S3 Vectors 63). */
const maxNameLength: Record<Engine, number> = {
  pinecone: 45,
  pgvector: 63,
  s3vectors: 63,
  qdrant: 255,
  chroma: 255,
  weaviate: 255,
  lancedb: 255,
};

/** `<base><suffix>`, the base shortened where the engine's limit needs it; the suffix keeps only [a-z0-9-]. */
export function derivedIndexName(engine: Engine, base: string, suffix: string): string {
  const safe = suffix.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  return `${base.slice(0, Math.max(1, maxNameLength[engine] - safe.length))}${safe}`;
}

/** Where a chunk copy stands: the next chunk, records of it already written, records written in all. */
export interface WriteCheckpoint {
  chunk: number;
  offset: number;
  written: number;
}

export interface WriteChunksOptions {
  store: VectorStore;
  index: string;
  objects: SnapshotObjects;
  /** The snapshot's prefix in the DR bucket. */
  prefix: string;
  manifest: Manifest;
  from: WriteCheckpoint;
  /** The chunk to stop before (a part of a restore that fans out writes a range); default: every chunk. */
  end?: number;
  /** Records per store.write call. */
  batchSize: number;
  /** False when this invocation must stop; checked before each batch. */
  hasTime: () => boolean;
  /** Called after each batch written. */
  checkpoint: (at: WriteCheckpoint) => Promise<void>;
  /** Sees every record as it is written, with its position in the snapshot (0-based, chunk order). */
  onRecord?: (record: VectorRecord, position: number) => void;
}

/**
 * Writes the snapshot's records from `from` on (to `end`), in batches, checkpointing after each. The
 * next chunk downloads while this one is written. Returns where it stopped; `done` after the last chunk.
 */
export async function writeChunks(options: WriteChunksOptions): Promise<{ done: boolean; at: WriteCheckpoint }> {
  const { store, index, objects, prefix, manifest, batchSize } = options;
  const { chunks } = manifest;
  const end = Math.min(options.end ?? chunks.length, chunks.length);
  const read = (i: number) => {
    const records = i < end ? readChunk(objects, prefix, manifest, chunks[i]!) : Promise.resolve([]);
    records.catch(() => undefined); // awaited in turn; this only keeps a failure of a prefetch from being "unhandled"
    return records;
  };
  let at = { ...options.from };
  let position = chunks.slice(0, at.chunk).reduce((sum, c) => sum + c.records, 0) + at.offset;
  let next = read(at.chunk);
  while (at.chunk < end) {
    if (!options.hasTime()) return { done: false, at };
    const records = await next;
    next = read(at.chunk + 1);
    while (at.offset < records.length) {
      if (!options.hasTime()) return { done: false, at };
      const batch = records.slice(at.offset, at.offset + batchSize);
      await store.write(index, batch);
      for (const record of batch) options.onRecord?.(record, position++);
      at = { ...at, offset: at.offset + batch.length, written: at.written + batch.length };
      await options.checkpoint(at);
    }
    at = { chunk: at.chunk + 1, offset: 0, written: at.written };
  }
  return { done: true, at };
}

/** Where a scan of the restored index stands: its cursor (null before the first page), records, running fingerprint. */
export interface ScanCheckpoint {
  cursor: string | null;
  started: boolean;
  count: number;
  fingerprint: string;
}

export const scanStart = (): ScanCheckpoint => ({ cursor: null, started: false, count: 0, fingerprint: new Fingerprint().hex });

/** Scans the index from `from` on, page by page, counting and fingerprinting; stops when time runs out. */
export async function scanIndex(options: {
  store: VectorStore;
  index: string;
  from: ScanCheckpoint;
  pageSize: number;
  hasTime: () => boolean;
  checkpoint: (at: ScanCheckpoint) => Promise<void>;
}): Promise<{ done: boolean; at: ScanCheckpoint }> {
  let at = options.from;
  const fingerprint = new Fingerprint(at.fingerprint);
  while (!at.started || at.cursor !== null) {
    if (!options.hasTime()) return { done: false, at };
    const page = await options.store.scan(options.index, { cursor: at.cursor ?? undefined, limit: options.pageSize });
    for (const record of page.records) fingerprint.add(record);
    at = { cursor: page.cursor ?? null, started: true, count: at.count + page.records.length, fingerprint: fingerprint.hex };
    await options.checkpoint(at);
  }
  return { done: true, at };
}

export interface ContentCheck {
  ok: boolean;
  /** What did not match, for an operator. */
  reason?: string;
  count: { expected: number; actual: number };
  fingerprint: { expected: string; actual: string };
}

/** The restored index against the manifest: the count always, the fingerprint where the engine keeps vectors as written. */
export function compareWithManifest(manifest: Manifest, scanned: ScanCheckpoint, target: { engine: Engine; index: string }): ContentCheck {
  const comparable = !normalisesVectors(target.engine, manifest.metric);
  const count = { expected: manifest.count, actual: scanned.count };
  const fingerprint = { expected: manifest.fingerprint.value, actual: comparable ? scanned.fingerprint : NOT_COMPARABLE };
  const where = `${target.engine} index "${target.index}"`;
  if (count.actual !== count.expected) {
    return {
      ok: false,
      reason: `${where} holds ${count.actual} records; snapshot ${manifest.snapshotId} has ${count.expected}`,
      count,
      fingerprint,
    };
  }
  if (comparable && fingerprint.actual !== fingerprint.expected) {
    return {
      ok: false,
      reason: `${where}: content fingerprint ${fingerprint.actual} does not match snapshot ${manifest.snapshotId}'s ${fingerprint.expected}`,
      count,
      fingerprint,
    };
  }
  return { ok: true, count, fingerprint };
}
