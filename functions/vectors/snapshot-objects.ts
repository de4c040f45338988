import { HeadObjectCommand, ListObjectsV2Command, NoSuchKey, NotFound, type S3Client } from '@aws-sdk/client-s3';
import { destroyAllVersions } from '../storage/destroy-prefix.js';
import { getWhole, putWhole } from '../storage/whole-objects.js';
import { bucketLock, extendRetention, lockHeaders, type ObjectLock } from '../storage/object-lock.js';

export interface PutOptions {
  sha256: string;
  contentType: string;
  metadata?: Record<string, string>;
  /** The Object Lock retention of the new version (the bucket must have Object Lock on: lockEnabled). */
  lock?: ObjectLock;
}

export interface StoredObject {
  bytes: number;
  metadata: Record<string, string>;
  sha256?: string;
  lock?: { mode: ObjectLock['mode']; until: string };
}

/** Where snapshot files live: the asset's replica bucket in the DR region. */
export interface SnapshotObjects {
  /** Stores `body`; S3 refuses it unless it matches `sha256` (hex), and keeps that checksum. */
  put(key: string, body: Buffer, options: PutOptions): Promise<void>;
  /** Whether the bucket has Object Lock on (then what is put can be locked). */
  lockEnabled(): Promise<boolean>;
  /** Sets a later retention on every version under `prefix` (a snapshot retention keeps past its lock); returns how many. */
  extendLock(prefix: string, lock: ObjectLock): Promise<number>;
  /**
   * Size, user metadata, the SHA-256 S3 computed over the object's bytes when it was written (hex;
   * absent when the write named none, or for a multipart object) and Object Lock retention, or
   * undefined when there is no such object.
   */
  head(key: string): Promise<StoredObject | undefined>;
  /** The prefixes of the snapshots under `snapshots` (`<snapshots><id>/`), in key order. */
  listSnapshots(snapshots: string): Promise<string[]>;
  /** The whole object (chunks are bounded in size), or undefined when there is no such object. */
  get(key: string): Promise<Buffer | undefined>;
  /**
   * Removes every version of every object under `prefix` (retention only); returns how many. Throws
   * PrefixNotDestroyedError, saying how many it removed, when S3 refuses some (locked, on legal hold).
   */
  destroyPrefix(prefix: string): Promise<number>;
}

export class S3SnapshotObjects implements SnapshotObjects {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  private locked?: Promise<boolean>;

  async put(key: string, body: Buffer, options: PutOptions) {
    await putWhole(this.s3, {
      bucket: this.bucket,
      key,
      body,
      contentType: options.contentType,
      sha256: options.sha256,
      Metadata: options.metadata,
      ...lockHeaders(options.lock),
    });
  }

  lockEnabled(): Promise<boolean> {
    this.locked ??= bucketLock(this.s3, this.bucket).then(
      (lock) => lock.enabled,
      (error: unknown) => {
        this.locked = undefined;
        throw error;
      },
    );
    return this.locked;
  }

  extendLock(prefix: string, lock: ObjectLock) {
    return extendRetention(this.s3, this.bucket, prefix, lock);
  }

  async head(key: string) {
    try {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key, ChecksumMode: 'ENABLED' }));
      const { ObjectLockMode: mode, ObjectLockRetainUntilDate: until, ChecksumSHA256: checksum } = head;
      // A multipart object's checksum is of its parts' checksums (COMPOSITE, "<base64>-<parts>"), not of its bytes.
      const whole = checksum && head.ChecksumType !== 'COMPOSITE' && !checksum.includes('-');
      return {
        bytes: head.ContentLength ?? 0,
        metadata: head.Metadata ?? {},
        ...(whole && { sha256: Buffer.from(checksum, 'base64').toString('hex') }),
        ...(mode && until && { lock: { mode, until: until.toISOString() } }),
      };
    } catch (error) {
      if (error instanceof NotFound || error instanceof NoSuchKey) return undefined;
      throw error;
    }
  }

  get(key: string) {
    return getWhole(this.s3, this.bucket, key);
  }

  async listSnapshots(snapshots: string) {
    const prefixes: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await this.s3.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: snapshots, Delimiter: '/', ContinuationToken }),
      );
      for (const { Prefix } of page.CommonPrefixes ?? []) if (Prefix) prefixes.push(Prefix);
      ContinuationToken = page.NextContinuationToken;
    } while (ContinuationToken);
    return prefixes;
  }

  async destroyPrefix(prefix: string) {
    return destroyAllVersions(this.s3, this.bucket, prefix);
  }
}
