import type { Readable } from 'node:stream';
import type { ObjectLock } from './object-lock.js';

/** The port replication uses to read and write a versioned object store (S3 or compatible). */

export interface VersionEntry {
  kind: 'object' | 'delete-marker';
  versionId: string;
  lastModified: Date;
  /** Bytes; 0 for delete markers. */
  size: number;
  isLatest: boolean;
}

export interface VersionDetails {
  size: number;
  /** Hex SHA-256 of the whole object when the store holds a full-object checksum; never a composite. */
  fullObjectSha256?: string;
  /** The version's ETag: names its content (a "null" version that is overwritten gets another one). */
  etag?: string;
  contentType?: string;
  cacheControl?: string;
  contentDisposition?: string;
  contentEncoding?: string;
  contentLanguage?: string;
  expires?: Date;
  metadata: Record<string, string>;
  /** How many tags the version has (S3's x-amz-tagging-count); absent when it has none. */
  tagCount?: number;
}

export interface ObjectRef {
  bucket: string;
  key: string;
  versionId: string;
}

export interface CopyRequest {
  source: ObjectRef;
  target: { bucket: string; key: string };
  details: VersionDetails;
  /** User metadata written on the copy (the source's metadata plus the replicator's own). */
  metadata: Record<string, string>;
  storageClass: string;
  /** The Object Lock retention of the new version, where the target bucket has Object Lock on (else ignored). */
  lock?: ObjectLock;
}

export interface CopyResult {
  versionId: string;
  /** Requests the SDK had to repeat (throttling, 5xx) to make this copy. */
  retries?: number;
  /** Hex SHA-256 the store computed for the new version, when it reports one. */
  sha256?: string;
}

/** A part of a multipart copy: bytes [start, end] of the source, inclusive. */
export interface PartRange {
  partNumber: number;
  start: number;
  end: number;
}

export interface CopiedPart {
  partNumber: number;
  etag: string;
  /** Hex SHA-256 of the part as the store computed it, when it reports one. */
  sha256?: string;
  retries?: number;
}

/** One key and all its versions and delete markers, oldest first. */
export interface KeyHistory {
  key: string;
  versions: VersionEntry[];
}

/** The histories of a range of keys, from one listing (VersionedStore.historiesInRange). */
export interface KeyRangeHistories {
  /** Keys of the range that have versions or delete markers, each with its history, oldest first. */
  histories: Map<string, VersionEntry[]>;
  /** Every key of the range up to this one (inclusive) was read: such a key without a history has none. */
  through?: string;
}

export interface VersionedStore {
  /**
   * Every key under a prefix with its history, in key order, paged underneath; starts after
   * `startAfterKey` when given (a checkpoint). Reads listings only, never objects.
   */
  keysUnder(bucket: string, prefix: string, startAfterKey?: string): AsyncIterable<KeyHistory>;
  /** Every version and delete marker of exactly this key, oldest first. */
  listVersions(bucket: string, key: string): Promise<VersionEntry[]>;
  /**
   * The histories of the keys from `firstKey` to `lastKey` (UTF-8 order), from one listing page of
   * at most `maxEntries` versions: a batch of nearby keys costs one request instead of one per key.
   * Keys past `through` were not reached.
   */
  historiesInRange(bucket: string, firstKey: string, lastKey: string, maxEntries: number): Promise<KeyRangeHistories>;
  describe(ref: ObjectRef): Promise<VersionDetails>;
  /** The key's current version and its details (one HEAD); undefined when absent or deleted. */
  current(bucket: string, key: string): Promise<(VersionDetails & { versionId: string; lastModified: Date }) | undefined>;
  /** The details and the SHA-256 of the bytes, hashed as they are read, in one read (a stored checksum is in the details). */
  describeAndHash(ref: ObjectRef): Promise<VersionDetails & { sha256: string }>;
  /** Reads the version and hashes it (used when no full-object checksum is stored). */
  sha256(ref: ObjectRef): Promise<string>;
  /** Server-side copy of a version into this store; tags are copied, metadata replaced. */
  copy(request: CopyRequest): Promise<CopyResult>;
  /** Adds a delete marker (never a permanent delete); returns its version id. */
  addDeleteMarker(bucket: string, key: string): Promise<string>;
  /** Hashes bytes [start, end] of a version (a part of a multipart copy). */
  sha256Range(ref: ObjectRef, start: number, end: number): Promise<string>;
  /**
   * The version's tags as a URL query string (multipart copies and streamed writes set tags at
   * creation); '' without a request when its description counts none.
   */
  tagging(ref: ObjectRef, details: VersionDetails): Promise<string>;
  /** Opens bytes [start, end] (or all) of a version for reading, as a stream. */
  openRange(ref: ObjectRef, start?: number, end?: number): Promise<Readable>;
  /** Writes a whole object from a stream of `length` bytes (sources that cannot be copied server-side). */
  put(request: CopyRequest & { tagging: string }, body: Readable, length: number): Promise<CopyResult>;
  /**
   * Multipart upload into this store: nothing is visible until completeUpload. `checksums` asks the
   * store for per-part SHA-256 (server-side part copies); streamed parts are verified by reading back.
   */
  createUpload(request: CopyRequest & { tagging: string; checksums: boolean }): Promise<string>;
  uploadPart(target: { bucket: string; key: string }, uploadId: string, part: PartRange, body: Readable): Promise<CopiedPart>;
  copyPart(request: CopyRequest, uploadId: string, part: PartRange): Promise<CopiedPart>;
  /** The parts an upload already holds (to resume it after a crash or a timeout). */
  listParts(target: { bucket: string; key: string }, uploadId: string): Promise<CopiedPart[]>;
  completeUpload(target: { bucket: string; key: string }, uploadId: string, parts: CopiedPart[]): Promise<CopyResult>;
  abortUpload(target: { bucket: string; key: string }, uploadId: string): Promise<void>;
  /**
   * The same store for one batch of writes: the target's versioning is checked once for all of them
   * instead of before each (each write still checks the version id it got back).
   */
  forOneBatch?(): VersionedStore;
  /**
   * A batch's store only: starts its check of `bucket` (Object Lock, else versioning) now, so that it
   * runs alongside the reads before the first write instead of after them (a failure shows at that write).
   */
  prepareWrites?(bucket: string): void;
}
