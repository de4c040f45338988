/**
 * The port in front of every vector engine. Snapshots, restores and restore tests talk to this and
 * nothing else; one adapter per engine lives in functions/vectors/adapters/, and one contract suite
 * (test/contract/vector-store.contract.ts) runs against every adapter.
 */

import type { JsonValue } from '../shared/json.js';

export const engines = ['pgvector', 'qdrant', 'pinecone', 'chroma', 'lancedb', 's3vectors', 'weaviate'] as const;
export type Engine = (typeof engines)[number];

/** Distance metrics, named engine-neutrally. Adapters map them to and from the engine's names. */
export const metrics = ['cosine', 'euclidean', 'dot'] as const;
export type Metric = (typeof metrics)[number];

export type Metadata = Record<string, JsonValue>;

export interface VectorRecord {
  /** The engine's id as a string (numeric ids are written in decimal). */
  id: string;
  vector: Float32Array;
  metadata: Metadata;
}

export interface IndexSpec {
  dimensions: number;
  metric: Metric;
  /**
   * A bulk load follows (a restore): engines that maintain a search index on every insert may
   * create the index without it, to build it once in `finishLoad` (as pg_restore does).
   */
  bulkLoad?: boolean;
}

export interface IndexDescription {
  dimensions: number;
  /** Undefined where the engine keeps no metric with the data (a pgvector table without an ANN index). */
  metric?: Metric;
  /** Records in the index now (engines that count asynchronously may lag a little). */
  count: number;
}

export interface ScanPage {
  records: VectorRecord[];
  /** Pass back to continue after this page; undefined when the scan is complete. */
  cursor?: string;
}

export interface Neighbour {
  id: string;
  /** The engine's own score or distance; only the order is compared across engines. */
  score: number;
}

/**
 * What a snapshot of this engine means while writes continue during it:
 * - `point-in-time`: the scan reads one consistent version (a transaction snapshot, a dataset version);
 * - `window`: records are read as they are between the snapshot's start and end; a record written
 *   during the window may or may not be in it. The manifest records the window.
 */
export type Consistency = 'point-in-time' | 'window';

/** A reference to an engine's own snapshot or backup (a Qdrant snapshot name, a LanceDB version). */
export interface NativeSnapshotRef {
  /** Engine-native format, recorded in the manifest: e.g. "qdrant-snapshot", "lancedb-version". */
  format: string;
  id: string;
  details?: Record<string, string | number>;
}

/** The engine's own snapshot facility, where it has one: a faster restore path beside the chunks. */
export interface NativeSnapshots {
  create(index: string): Promise<NativeSnapshotRef>;
  /** The snapshot's bytes, where the engine hands them out, to store beside the chunks. */
  download?(index: string, ref: NativeSnapshotRef): Promise<AsyncIterable<Uint8Array>>;
  /**
   * Restores a native snapshot into `index`: from the engine's own reference, or from a URL the
   * engine can fetch (for example a presigned URL of the stored copy).
   */
  restore(index: string, from: { ref: NativeSnapshotRef } | { url: string }): Promise<void>;
  /**
   * Restore creates the index and refuses one that exists (Weaviate, Pinecone): a restore that
   * overwrites drops the index first. Otherwise restore replaces the index's content in place.
   */
  readonly restoreCreatesIndex: boolean;
}

export interface VectorStore {
  readonly engine: Engine;
  readonly consistency: Consistency;
  /** Throws IndexNotFoundError when the index does not exist. */
  describe(index: string): Promise<IndexDescription>;
  /**
   * One page of every record (id, vector, metadata). Resumable: a cursor from an earlier call,
   * even from another process, continues where that page ended. Pages never repeat a record of an
   * unchanged index.
   */
  scan(index: string, options: { cursor?: string; limit: number }): Promise<ScanPage>;
  /**
   * Splits one scan of the index into at most `count` disjoint parts that together hold every
   * record once, as one scan would: a starting cursor per part, each continued with `scan` until its
   * cursor ends. Parts are scanned in parallel by different processes; a point-in-time engine keeps
   * them at one version. Engines that cannot split a scan leave this out.
   */
  partitionScan?(index: string, count: number): Promise<string[]>;
  /** Upserts records in one batch (adapters split it where the engine has a smaller limit). */
  write(index: string, records: readonly VectorRecord[]): Promise<void>;
  /** Creates an empty index; throws IndexExistsError if it exists. */
  createIndex(index: string, spec: IndexSpec): Promise<void>;
  /** Drops the index; dropping one that does not exist is not an error. */
  dropIndex(index: string): Promise<void>;
  /** After a bulk load: builds what `createIndex` with `bulkLoad` left out (idempotent). */
  finishLoad?(index: string, spec: IndexSpec): Promise<void>;
  /** The k nearest neighbours of `vector`, nearest first. */
  query(index: string, vector: Float32Array, k: number): Promise<Neighbour[]>;
  /** Whether `query` is exact (recall 1.0 expected) or approximate (ANN). */
  readonly exactSearch: boolean;
  readonly native?: NativeSnapshots;
  close(): Promise<void>;
}

/** The engine could not be reached or answered with an error: the run fails with this reason. */
export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    readonly engine: Engine,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${engine}: ${message}`, options);
  }
}

export class IndexNotFoundError extends Error {
  override readonly name = 'IndexNotFoundError';
  constructor(
    readonly engine: Engine,
    readonly index: string,
  ) {
    super(`${engine}: index "${index}" does not exist`);
  }
}

export class IndexExistsError extends Error {
  override readonly name = 'IndexExistsError';
  constructor(
    readonly engine: Engine,
    readonly index: string,
  ) {
    super(`${engine}: index "${index}" already exists`);
  }
}

/**
 * For adapters that scan by offset: `count` records split into at most `parts` ranges
 * [offset, end), the last one open-ended (records past the count when the scan reaches them).
 */
export function offsetRanges(count: number, parts: number): [number, number | undefined][] {
  const n = Math.max(1, Math.min(parts, count));
  return Array.from({ length: n }, (_, i) => [Math.floor((count * i) / n), i === n - 1 ? undefined : Math.floor((count * (i + 1)) / n)]);
}

/** Whether the index exists (describe answers), through any adapter. */
export async function indexExists(store: VectorStore, index: string): Promise<boolean> {
  try {
    await store.describe(index);
    return true;
  } catch (error) {
    if (error instanceof IndexNotFoundError) return false;
    throw error;
  }
}
