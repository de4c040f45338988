import type { VerifyProgress } from './read-snapshot.js';
import type { Compression } from './snapshot-format.js';
import type { Engine, Metric } from './vector-store.js';

/**
 * The catalog of vector snapshots: one entry per snapshot with its state. Only `verified` entries
 * are offered for restore and count for the live RPO; `in-progress` entries carry the checkpoint a
 * later invocation resumes from.
 */
export const snapshotStates = ['in-progress', 'complete', 'verified', 'failed', 'corrupt', 'deleted'] as const;
export type SnapshotState = (typeof snapshotStates)[number];

export interface SnapshotProgress {
  /** Scan cursor after the last record written to a chunk; undefined once the scan is done. */
  cursor?: string;
  scanDone: boolean;
  /** Sequence number of the next chunk to write. */
  nextChunk: number;
  count: number;
  bytes: number;
  /** Running content fingerprint (hex) over the records written so far. */
  fingerprint: string;
}

/**
 * One part of a partitioned snapshot (the policy's snapshotPartitions): scanned by invocations of
 * its own, in parallel with the others, into chunks of its own; read back and checked by them too.
 */
export interface SnapshotPartition {
  progress: SnapshotProgress;
  /** The invocation working on this part, until when. */
  lease?: { owner: string; until: string };
  /** Checkpoint of the part's read-back that did not finish in one invocation. */
  verify?: VerifyProgress;
  /** Every chunk of the part was read back: its SHA-256, count and fingerprint match. */
  verified?: boolean;
  /** Engine errors the part met so far, each retried from its checkpoint (PART_ATTEMPTS), and the last one. */
  attempts?: number;
  lastError?: string;
}

export interface SnapshotEntry {
  asset: string;
  snapshotId: string;
  state: SnapshotState;
  engine: Engine;
  index: string;
  dimensions: number;
  metric: Metric;
  /** Prefix of the snapshot's files in the replica bucket. */
  prefix: string;
  startedAt: string;
  /** How its chunks are compressed, fixed when it starts (absent in entries begun before zstd: gzip). */
  compression?: Compression;
  finishedAt?: string;
  verifiedAt?: string;
  deletedAt?: string;
  count: number;
  bytes: number;
  chunks: number;
  fingerprint?: string;
  /** Why the run failed, or what the verification found. */
  reason?: string;
  progress?: SnapshotProgress;
  /** A partitioned snapshot: how many parts its scan runs in (list() gives no more; get() reads the parts). */
  partCount?: number;
  /** A partitioned snapshot's parts, keyed by part number ("0000", "0001", ...), instead of `progress` (from get()). */
  partitions?: Record<string, SnapshotPartition>;
  /** Checkpoint of a read-back verification that did not finish in one invocation. */
  verify?: VerifyProgress;
  /** The invocation working on this snapshot, until when (a schedule tick and a continuation never interleave). */
  lease?: { owner: string; until: string };
  /** The Object Lock retention of every file of the snapshot (absent: the bucket has no Object Lock): nothing removes them before `until`. */
  lock?: { mode: 'COMPLIANCE' | 'GOVERNANCE'; until: string };
  /** When the entry was made again from the snapshot's manifest (rebuild-catalog.ts), the catalog having lost it. */
  rebuiltAt?: string;
}

export interface SnapshotCatalogStore {
  /** Adds a new entry; false when one with that id exists already. */
  begin(entry: SnapshotEntry): Promise<boolean>;
  /**
   * Saves progress only if the entry is still in progress at `expectedNextChunk` (a concurrent run
   * for the same snapshot makes this false, and the caller stops); of one part where `part` is given.
   */
  saveProgress(asset: string, snapshotId: string, progress: SnapshotProgress, expectedNextChunk: number, part?: string): Promise<boolean>;
  /** Sets fields of one part of a partitioned snapshot (its read-back's checkpoint or result). */
  updatePart(
    asset: string,
    snapshotId: string,
    part: string,
    patch: Pick<SnapshotPartition, 'verify' | 'verified' | 'attempts' | 'lastError'>,
  ): Promise<void>;
  /** Sets the state and fields of a finished step. */
  update(asset: string, snapshotId: string, patch: Partial<Omit<SnapshotEntry, 'asset' | 'snapshotId'>>): Promise<void>;
  /** Marks a verified snapshot corrupt with `reason`; false when it is not verified (retention deleted it meanwhile, say). */
  markCorrupt(asset: string, snapshotId: string, reason: string): Promise<boolean>;
  get(asset: string, snapshotId: string): Promise<SnapshotEntry | undefined>;
  /**
   * Takes the snapshot's lease (one part's, where `part` is given) for `owner` until `until`, if it
   * is free, expired or already its own.
   */
  lease(asset: string, snapshotId: string, owner: string, until: Date, now: Date, part?: string): Promise<boolean>;
  /** Gives the lease back (if `owner` still holds it), so that a continuation may take it at once. */
  release(asset: string, snapshotId: string, owner: string, part?: string): Promise<void>;
  /** Every entry of the asset, newest first. */
  list(asset: string): Promise<SnapshotEntry[]>;
}

export async function newestVerified(catalog: SnapshotCatalogStore, asset: string): Promise<SnapshotEntry | undefined> {
  return (await catalog.list(asset)).find((entry) => entry.state === 'verified');
}
