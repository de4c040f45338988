import { replicatedAssets, replicaKeyFor } from '../functions/policy/assets.js';
import { loadPolicyFile } from '../functions/policy/load.js';
import type { Policy } from '../functions/policy/schema.js';
import { eventPatternFor, logicalId } from './event-rules.js';
import { LEDGER_TTL_ATTRIBUTE, ledgerKeySchema } from './ledger-table.js';

/**
 * Everything serverless.yml derives from the DR policy: replica buckets, EventBridge rules, the
 * queue policy and the replicate function's IAM statements, scoped to the policy's buckets and
 * prefixes. serverless.yml reads it through infra/stack-config.cjs, so packaging validates the
 * policy and fails with the bad field's path.
 */

type Json = Record<string, unknown>;

const s3Arn = (resource: string) => ({ 'Fn::Sub': `arn:\${AWS::Partition}:s3:::${resource}` });

export function replicaBucketResources(policy: Policy): Json {
  const resources: Json = {};
  for (const bucket of [...new Set(policy.assets.map((a) => a.replica.bucket))]) {
    const id = logicalId('ReplicaBucket', bucket);
    resources[id] = {
      Type: 'AWS::S3::Bucket',
      // A DR copy outlives the stack: removing the stack never deletes the replica.
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        BucketName: bucket,
        VersioningConfiguration: { Status: 'Enabled' },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BucketKeyEnabled: true },
          ],
        },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        LifecycleConfiguration: {
          Rules: [
            { Id: 'abort-incomplete-multipart-uploads', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } },
          ],
        },
        Tags: [{ Key: 'ai-data-dr:role', Value: 'replica' }],
      },
    };
    resources[`${id}Policy`] = {
      Type: 'AWS::S3::BucketPolicy',
      Properties: {
        Bucket: { Ref: id },
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'DenyInsecureTransport',
              Effect: 'Deny',
              Principal: '*',
              Action: 's3:*',
              Resource: [{ 'Fn::GetAtt': [id, 'Arn'] }, { 'Fn::Sub': `\${${id}.Arn}/*` }],
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            },
          ],
        },
      },
    };
  }
  return resources;
}

export function eventRuleResources(policy: Policy): Json {
  const resources: Json = {};
  const ruleIds: string[] = [];
  for (const asset of replicatedAssets(policy)) {
    const id = logicalId('ReplicationRule', asset.name);
    ruleIds.push(id);
    resources[id] = {
      Type: 'AWS::Events::Rule',
      Properties: {
        Description: `S3 changes of asset ${asset.name} (s3://${asset.source.bucket}/${asset.source.prefix}) to the replication queue`,
        State: 'ENABLED',
        EventPattern: eventPatternFor(asset),
        Targets: [
          {
            Id: 'replication-queue',
            Arn: { 'Fn::GetAtt': ['ReplicationQueue', 'Arn'] },
            RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
            DeadLetterConfig: { Arn: { 'Fn::GetAtt': ['ReplicationDeadLetterQueue', 'Arn'] } },
          },
        ],
      },
    };
  }
  resources.ReplicationQueuePolicy = {
    Type: 'AWS::SQS::QueuePolicy',
    Properties: {
      Queues: [{ Ref: 'ReplicationQueue' }, { Ref: 'ReplicationDeadLetterQueue' }],
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'S3EventsFromThisStacksRules',
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: 'sqs:SendMessage',
            Resource: [
              { 'Fn::GetAtt': ['ReplicationQueue', 'Arn'] },
              { 'Fn::GetAtt': ['ReplicationDeadLetterQueue', 'Arn'] },
            ],
            Condition: { ArnEquals: { 'aws:SourceArn': ruleIds.map((id) => ({ 'Fn::GetAtt': [id, 'Arn'] })) } },
          },
          {
            Sid: 'DenyInsecureTransport',
            Effect: 'Deny',
            Principal: '*',
            Action: 'sqs:*',
            Resource: [
              { 'Fn::GetAtt': ['ReplicationQueue', 'Arn'] },
              { 'Fn::GetAtt': ['ReplicationDeadLetterQueue', 'Arn'] },
            ],
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
        ],
      },
    },
  };
  return resources;
}

/** The replicate function's S3 permissions: read the sources' prefixes, add versions to the replicas. */
export function replicateS3Statements(policy: Policy): Json[] {
  const assets = replicatedAssets(policy);
  const statements: Json[] = [];
  for (const asset of assets) {
    const name = logicalId('', asset.name);
    const replicaPrefix = replicaKeyFor(asset, asset.source.prefix);
    statements.push(
      {
        Sid: `ListSource${name}`,
        Effect: 'Allow',
        Action: ['s3:ListBucketVersions'],
        Resource: s3Arn(asset.source.bucket),
        Condition: { StringLike: { 's3:prefix': [`${asset.source.prefix}*`] } },
      },
      {
        Sid: `ReadSource${name}`,
        Effect: 'Allow',
        Action: ['s3:GetObjectVersion', 's3:GetObjectVersionTagging', 's3:GetObjectVersionAttributes'],
        Resource: s3Arn(`${asset.source.bucket}/${asset.source.prefix}*`),
      },
      {
        Sid: `ListReplica${name}`,
        Effect: 'Allow',
        Action: ['s3:ListBucketVersions', 's3:GetBucketVersioning'],
        Resource: s3Arn(asset.replica.bucket),
      },
      {
        Sid: `WriteReplica${name}`,
        Effect: 'Allow',
        // DeleteObject without a version id only adds a delete marker on a versioned bucket.
        Action: ['s3:PutObject', 's3:PutObjectTagging', 's3:GetObjectVersion', 's3:DeleteObject'],
        Resource: s3Arn(`${asset.replica.bucket}/${replicaPrefix}*`),
      },
    );
  }
  const replicaBuckets = [...new Set(assets.map((a) => a.replica.bucket))];
  statements.push({
    Sid: 'NeverDestroyReplicas',
    Effect: 'Deny',
    Action: [
      's3:DeleteObjectVersion',
      's3:DeleteBucket',
      's3:PutBucketVersioning',
      's3:PutLifecycleConfiguration',
      's3:PutBucketPolicy',
    ],
    Resource: replicaBuckets.flatMap((b) => [s3Arn(b), s3Arn(`${b}/*`)]),
  });
  return statements;
}

export function stackConfig(policyFile: string) {
  const policy = loadPolicyFile(policyFile);
  const { timeoutSeconds, batchSize, maxReceiveCount } = policy.replication;
  return {
    policyFile,
    region: policy.deployment.region,
    replication: {
      timeoutSeconds,
      batchSize,
      maxReceiveCount,
      // AWS recommends a visibility timeout of six times the function timeout for SQS sources.
      visibilityTimeoutSeconds: Math.min(43200, timeoutSeconds * 6),
      leaseSeconds: timeoutSeconds + 60,
    },
    ledgerTable: { ...ledgerKeySchema, ttlAttribute: LEDGER_TTL_ATTRIBUTE },
    resources: { Resources: { ...replicaBucketResources(policy), ...eventRuleResources(policy) } },
    replicateS3Statements: replicateS3Statements(policy),
  };
}
