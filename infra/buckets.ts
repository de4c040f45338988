import { bucketDefaultLock, replicaHasObjectLock } from '../functions/policy/object-lock.js';
import type { Policy } from '../functions/policy/schema.js';
import { SSE_S3, bucketEncryption } from './encryption.js';
import { logicalId } from './event-rules.js';
import type { Json } from './iam.js';

/** Server access logs of the replica buckets are kept this long (the evidence a breach investigation reads). */
export const ACCESS_LOG_DAYS = 400;
const ACCESS_LOGS = 'ReplicaAccessLogsBucket';
/** Where verify-restore's sample restores go, and are removed at once: never a replica bucket, where Object Lock keeps what is written. */
export const SCRATCH_BUCKET = 'RestoreTestScratchBucket';

/** Private, owner-enforced, and encrypted with `encryption` (SSE-S3, or the stack's data key: encryption.ts). */
const privateEncrypted = (encryption: Json) => ({
  PublicAccessBlockConfiguration: {
    BlockPublicAcls: true,
    BlockPublicPolicy: true,
    IgnorePublicAcls: true,
    RestrictPublicBuckets: true,
  },
  BucketEncryption: encryption,
  OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
});

const denyInsecureTransport = (id: string) => ({
  Sid: 'DenyInsecureTransport',
  Effect: 'Deny',
  Principal: '*',
  Action: 's3:*',
  Resource: [{ 'Fn::GetAtt': [id, 'Arn'] }, { 'Fn::Sub': `\${${id}.Arn}/*` }],
  Condition: { Bool: { 'aws:SecureTransport': 'false' } },
});

/** A bucket's policy: TLS only, and `statements`. */
const bucketPolicy = (id: string, statements: Json[] = []): Json => ({
  Type: 'AWS::S3::BucketPolicy',
  Properties: { Bucket: { Ref: id }, PolicyDocument: { Version: '2012-10-17', Statement: [denyInsecureTransport(id), ...statements] } },
});

/**
 * A replica bucket's Object Lock configuration: on when an asset replicated into it is locked (S3
 * cannot turn it off again), with the policy's default retention for the bucket (what a write that
 * names none gets); undefined when none of its assets is locked.
 */
export function replicaObjectLock(policy: Policy, bucket: string) {
  if (!replicaHasObjectLock(policy, bucket)) return undefined;
  const retention = bucketDefaultLock(policy, bucket);
  return {
    ObjectLockEnabled: 'Enabled' as const,
    ...(retention && { Rule: { DefaultRetention: { Mode: retention.mode, Days: retention.days } } }),
  };
}

/**
 * The replica buckets of the policy: versioned, Object Lock on (replicaObjectLock), private, encrypted, TLS-only, retained, and logging
 * every request (S3 server access logs) into one access-log bucket of the stack, which only S3's
 * logging service may write, for the replica buckets of this account.
 */
export function replicaBucketResources(policy: Policy): Json {
  // A replica bucket of a vault account is the vault's (infra/vault-account.yml), not the stack's.
  const buckets = [...new Set(policy.assets.filter((a) => !a.replica.account).map((a) => a.replica.bucket))];
  const resources: Json = {};
  const encrypted = privateEncrypted(bucketEncryption(policy));
  resources[ACCESS_LOGS] = {
    Type: 'AWS::S3::Bucket',
    DeletionPolicy: 'Retain',
    UpdateReplacePolicy: 'Retain',
    Properties: {
      VersioningConfiguration: { Status: 'Enabled' },
      // S3 delivers server access logs only into a bucket encrypted with SSE-S3.
      ...privateEncrypted(SSE_S3),
      LifecycleConfiguration: {
        Rules: [
          {
            Id: 'expire-access-logs',
            Status: 'Enabled',
            ExpirationInDays: ACCESS_LOG_DAYS,
            NoncurrentVersionExpiration: { NoncurrentDays: 1 },
          },
        ],
      },
      Tags: [{ Key: 'ai-data-dr:role', Value: 'replica-access-logs' }],
    },
  };
  resources[`${ACCESS_LOGS}Policy`] = bucketPolicy(ACCESS_LOGS, [
    {
      Sid: 'S3ServerAccessLogs',
      Effect: 'Allow',
      Principal: { Service: 'logging.s3.amazonaws.com' },
      Action: 's3:PutObject',
      Resource: { 'Fn::Sub': `\${${ACCESS_LOGS}.Arn}/*` },
      Condition: {
        ArnLike: { 'aws:SourceArn': [...buckets.map((b) => `arn:aws:s3:::${b}`), { 'Fn::GetAtt': [SCRATCH_BUCKET, 'Arn'] }] },
        StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
      },
    },
  ]);
  resources[SCRATCH_BUCKET] = {
    Type: 'AWS::S3::Bucket',
    Properties: {
      VersioningConfiguration: { Status: 'Enabled' },
      ...encrypted,
      LoggingConfiguration: { DestinationBucketName: { Ref: ACCESS_LOGS }, LogFilePrefix: 'restore-test-scratch/' },
      // A restore test removes its copies when it ends; these rules catch what a killed one left.
      LifecycleConfiguration: {
        Rules: [
          {
            Id: 'expire-scratch-copies',
            Status: 'Enabled',
            ExpirationInDays: 1,
            NoncurrentVersionExpiration: { NoncurrentDays: 1 },
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
          },
        ],
      },
      Tags: [{ Key: 'ai-data-dr:role', Value: 'restore-test-scratch' }],
    },
  };
  resources[`${SCRATCH_BUCKET}Policy`] = bucketPolicy(SCRATCH_BUCKET);
  for (const bucket of buckets) {
    const id = logicalId('ReplicaBucket', bucket);
    const objectLock = replicaObjectLock(policy, bucket);
    resources[id] = {
      Type: 'AWS::S3::Bucket',
      // A DR copy outlives the stack: removing the stack never deletes the replica.
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        BucketName: bucket,
        VersioningConfiguration: { Status: 'Enabled' },
        ...(objectLock && { ObjectLockEnabled: true, ObjectLockConfiguration: objectLock }),
        ...encrypted,
        LoggingConfiguration: { DestinationBucketName: { Ref: ACCESS_LOGS }, LogFilePrefix: `${bucket}/` },
        LifecycleConfiguration: {
          Rules: [
            { Id: 'abort-incomplete-multipart-uploads', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } },
          ],
        },
        Tags: [{ Key: 'ai-data-dr:role', Value: 'replica' }],
      },
    };
    resources[`${id}Policy`] = bucketPolicy(id);
  }
  return resources;
}
