import { GetObjectLockConfigurationCommand, PutObjectRetentionCommand, S3ServiceException, type S3Client } from '@aws-sdk/client-s3';
import { lockOf, type LockSettings } from '../policy/object-lock.js';
import type { Policy } from '../policy/schema.js';
import { versionPages } from './destroy-prefix.js';

/** The Object Lock retention a write sets on the version it creates. */
export interface ObjectLock {
  mode: LockSettings['mode'];
  retainUntil: Date;
}

/** The request fields of a write that locks what it creates (PutObject, CopyObject, CreateMultipartUpload). */
export const lockHeaders = (lock: ObjectLock | undefined) =>
  lock ? { ObjectLockMode: lock.mode, ObjectLockRetainUntilDate: lock.retainUntil } : {};

/** A bucket's Object Lock: whether it is on (it cannot be turned off again), and the default retention S3 applies. */
export interface BucketLock {
  enabled: boolean;
  defaultRetention?: { mode: string; days?: number; years?: number };
}

/** A default retention for people: "COMPLIANCE 90 days", "GOVERNANCE 1 year". */
export function describeRetention(retention: NonNullable<BucketLock['defaultRetention']>): string {
  const [n, unit] = retention.days !== undefined ? [retention.days, 'day'] : [retention.years ?? 0, 'year'];
  return `${retention.mode} ${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** S3's answer for a bucket that has never had Object Lock; and an S3-compatible store's that has no Object Lock. */
const NOT_LOCKED = new Set(['ObjectLockConfigurationNotFoundError', 'NotImplemented']);

export async function bucketLock(s3: S3Client, bucket: string): Promise<BucketLock> {
  try {
    const { ObjectLockConfiguration: config } = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
    const retention = config?.Rule?.DefaultRetention;
    return {
      enabled: config?.ObjectLockEnabled === 'Enabled',
      ...(retention?.Mode && {
        defaultRetention: {
          mode: retention.Mode,
          ...(retention.Days !== undefined && { days: retention.Days }),
          ...(retention.Years !== undefined && { years: retention.Years }),
        },
      }),
    };
  } catch (error) {
    if (error instanceof S3ServiceException && NOT_LOCKED.has(error.name)) return { enabled: false };
    throw error;
  }
}

/**
 * Sets the retention of every object version under `prefix` to `lock` (a snapshot that must outlive
 * its lock): one PutObjectRetention per version. Only for a later date than the versions' own (S3
 * refuses to shorten a COMPLIANCE retention, and to turn it into GOVERNANCE). Returns how many.
 */
export async function extendRetention(s3: S3Client, bucket: string, prefix: string, lock: ObjectLock): Promise<number> {
  let extended = 0;
  for await (const page of versionPages(s3, bucket, prefix)) {
    for (const version of page.Versions ?? []) {
      await s3.send(
        new PutObjectRetentionCommand({
          Bucket: bucket,
          Key: version.Key!,
          VersionId: version.VersionId,
          Retention: { Mode: lock.mode, RetainUntilDate: lock.retainUntil },
        }),
      );
      extended++;
    }
  }
  return extended;
}

/** A replica bucket of the policy and what its Object Lock protects (status and the report show it). */
export interface ReplicaBucketProtection {
  bucket: string;
  objectLock: BucketLock;
  /** Assets whose policy asks for a lock in this bucket. */
  lockedAssets: string[];
  /**
   * Assets whose policy asks for a lock the bucket cannot give (its Object Lock is off): their
   * replica versions can be deleted by anyone allowed s3:DeleteObjectVersion. docs/object-lock.md.
   */
  unprotected: string[];
}

export async function replicaProtection(
  policy: Pick<Policy, 'objectLock' | 'assets'>,
  lockOfBucket: (bucket: string) => Promise<BucketLock>,
): Promise<ReplicaBucketProtection[]> {
  const buckets = [...new Set(policy.assets.map((a) => a.replica.bucket))];
  return Promise.all(
    buckets.map(async (bucket) => {
      const objectLock = await lockOfBucket(bucket);
      const lockedAssets = policy.assets.filter((a) => a.replica.bucket === bucket && lockOf(policy, a)).map((a) => a.name);
      return { bucket, objectLock, lockedAssets, unprotected: objectLock.enabled ? [] : lockedAssets };
    }),
  );
}
