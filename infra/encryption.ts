import type { Policy } from '../functions/policy/schema.js';
import type { Json } from './iam.js';
import { functionId, functionKeys, functionLogicalId } from './service.js';

/**
 * The customer-managed KMS key option (deployment.kmsKey, docs/encryption.md): one key encrypts
 * what the stack stores — the replica buckets it creates and the restore-test scratch bucket
 * (SSE-KMS with S3 Bucket Keys), the ledger table, both queues, the functions' log groups and
 * environment. Without the option every one of them is encrypted with an AWS-owned or AWS-managed
 * key, as before. The server access-log bucket stays on SSE-S3: S3 delivers access logs only there.
 */

/** The key's logical id when the stack creates it (`kmsKey: stack`). */
export const DATA_KEY = 'DataKey';

/** The key as a template value (its ARN), or undefined without the option. */
export function dataKeyArn(policy: Policy): Json | string | undefined {
  const key = policy.deployment.kmsKey;
  if (!key) return undefined;
  return key === 'stack' ? { 'Fn::GetAtt': [DATA_KEY, 'Arn'] } : key;
}

/**
 * What the key is used through on the stack's behalf: DynamoDB, SQS and Lambda in the stack's
 * region; S3 there and in every region a restore copies out of the replica into (the sources'
 * and restore targets' regions: a cross-region CopyObject is served by the destination's S3).
 */
function viaServices(policy: Policy): (Json | string)[] {
  const remote = new Set([...policy.assets.map((a) => a.source.region), ...policy.restore.targetBuckets.map((t) => t.region)]);
  remote.delete(policy.deployment.region);
  return [
    ...['s3', 'dynamodb', 'sqs', 'lambda'].map((s) => ({ 'Fn::Sub': `${s}.\${AWS::Region}.amazonaws.com` })),
    ...[...remote].sort().map((region) => `s3.${region}.amazonaws.com`),
  ];
}

/** The roles CloudFormation names for this stack (`<stack>-<LogicalId>-<suffix>`); the key cannot name them without a cycle. */
const stackRoles = { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${AWS::StackName}-*' };
const accountRoot = { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:root' };

/**
 * The key policy of the key the stack creates. Administration (not use) stays with the account's
 * IAM, so the key can be managed; using it to read or write data is for the stack's roles, through
 * the services the stack stores in, and for the services that deliver into the stack (EventBridge
 * into the queues, CloudWatch Logs). A principal of the account outside the stack (an administrator
 * included) cannot read a replica object without first changing this policy — a change the key's
 * alert rule pages on-call for. Deploying needs the key through Lambda and DynamoDB (they check the
 * deployer can use it when a function or table is created or updated).
 */
function dataKeyPolicy(policy: Policy): Json {
  const use = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*', 'kms:DescribeKey'];
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'AccountAdministersNotUses',
        Effect: 'Allow',
        Principal: { AWS: accountRoot },
        // Not kms:Create*: that would include kms:CreateGrant, with which an administrator could let
        // any principal use the key without changing this policy.
        Action: [
          'kms:CreateAlias',
          'kms:Describe*',
          'kms:Enable*',
          'kms:List*',
          'kms:Put*',
          'kms:Update*',
          'kms:Revoke*',
          'kms:Disable*',
          'kms:Get*',
          'kms:Delete*',
          'kms:TagResource',
          'kms:UntagResource',
          'kms:ScheduleKeyDeletion',
          'kms:CancelKeyDeletion',
          'kms:RotateKeyOnDemand',
        ],
        Resource: '*',
      },
      {
        Sid: 'StackRolesUseThroughItsServices',
        Effect: 'Allow',
        Principal: { AWS: accountRoot },
        Action: use,
        Resource: '*',
        Condition: { ArnLike: { 'aws:PrincipalArn': stackRoles }, StringEquals: { 'kms:ViaService': viaServices(policy) } },
      },
      {
        Sid: 'DynamoDbGrantsForStackRoles',
        Effect: 'Allow',
        Principal: { AWS: accountRoot },
        Action: 'kms:CreateGrant',
        Resource: '*',
        Condition: {
          ArnLike: { 'aws:PrincipalArn': stackRoles },
          StringEquals: { 'kms:ViaService': { 'Fn::Sub': 'dynamodb.${AWS::Region}.amazonaws.com' } },
          Bool: { 'kms:GrantIsForAWSResource': true },
        },
      },
      {
        Sid: 'DeployFunctionsAndLedger',
        Effect: 'Allow',
        Principal: { AWS: accountRoot },
        Action: [...use, 'kms:CreateGrant'],
        Resource: '*',
        Condition: {
          StringEquals: {
            'kms:ViaService': [
              { 'Fn::Sub': 'lambda.${AWS::Region}.amazonaws.com' },
              { 'Fn::Sub': 'dynamodb.${AWS::Region}.amazonaws.com' },
            ],
            'kms:CallerAccount': { Ref: 'AWS::AccountId' },
          },
        },
      },
      {
        Sid: 'EventBridgeDeliversToQueues',
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
        Resource: '*',
        Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
      },
      {
        Sid: 'CloudWatchLogsOfTheStacksFunctions',
        Effect: 'Allow',
        Principal: { Service: { 'Fn::Sub': 'logs.${AWS::Region}.amazonaws.com' } },
        Action: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        Resource: '*',
        Condition: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': {
              'Fn::Sub': 'arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/${AWS::StackName}-*',
            },
          },
        },
      },
    ],
  };
}

/**
 * The key (when the stack creates it) and, for any key of the option, an EventBridge rule that
 * pages on-call when someone disables it, schedules its deletion or changes its policy: a deleted
 * key makes every replica object it encrypts unreadable (CloudTrail management events, which a
 * trail of the account must record, docs/encryption.md).
 */
export function dataKeyResources(policy: Policy): Json {
  const arn = dataKeyArn(policy);
  if (!arn) return {};
  const resources: Json = {};
  if (policy.deployment.kmsKey === 'stack') {
    resources[DATA_KEY] = {
      Type: 'AWS::KMS::Key',
      // Replicas encrypted with it outlive the stack, and so must the key.
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        Description: 'Encrypts the DR replica, ledger, queues and logs of the AI data DR stack (docs/encryption.md)',
        EnableKeyRotation: true,
        // The longest wait AWS allows: a scheduled deletion can be cancelled for 30 days.
        PendingWindowInDays: 30,
        KeyPolicy: dataKeyPolicy(policy),
      },
    };
    resources[`${DATA_KEY}Alias`] = {
      Type: 'AWS::KMS::Alias',
      Properties: { AliasName: { 'Fn::Sub': 'alias/${AWS::StackName}-data' }, TargetKeyId: { Ref: DATA_KEY } },
    };
  }
  resources[`${DATA_KEY}ChangesToOnCall`] = {
    Type: 'AWS::Events::Rule',
    Properties: {
      Description: 'The DR data key disabled, scheduled for deletion or its policy changed: page on-call',
      State: 'ENABLED',
      EventPattern: {
        source: ['aws.kms'],
        'detail-type': ['AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['kms.amazonaws.com'],
          eventName: ['DisableKey', 'ScheduleKeyDeletion', 'PutKeyPolicy'],
          resources: { ARN: [arn] },
        },
      },
      Targets: [
        {
          Id: 'on-call',
          Arn: { Ref: 'OnCallTopic' },
          InputTransformer: {
            InputPathsMap: { event: '$.detail.eventName', by: '$.detail.userIdentity.arn', at: '$.time' },
            InputTemplate:
              '"DR data key: <event> by <by> at <at>. Replica objects encrypted with a deleted or disabled key cannot be read: check the change, cancel a deletion (aws kms cancel-key-deletion), see docs/encryption.md."',
          },
        },
      ],
    },
  };
  return resources;
}

const defaultEncryption = (byDefault: Json): Json => ({
  ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: byDefault, BucketKeyEnabled: true }],
});

/** SSE-S3: a bucket's encryption without the option (and always the access-log bucket's, the only kind S3 delivers logs into). */
export const SSE_S3 = defaultEncryption({ SSEAlgorithm: 'AES256' });

/** A bucket's default encryption: the key, with S3 Bucket Keys (KMS is asked once per bucket key, not per object); or SSE-S3. */
export function bucketEncryption(policy: Policy): Json {
  const arn = dataKeyArn(policy);
  return arn ? defaultEncryption({ SSEAlgorithm: 'aws:kms', KMSMasterKeyID: arn }) : SSE_S3;
}

/**
 * What the option changes on resources osls generates or serverless.yml declares
 * (`resources.extensions`, which replaces the named properties): the ledger, the queues, each
 * function's log group and environment.
 */
export function encryptionExtensions(policy: Policy): Json {
  const arn = dataKeyArn(policy);
  if (!arn) return {};
  const queue = { Properties: { SqsManagedSseEnabled: false, KmsMasterKeyId: arn, KmsDataKeyReusePeriodSeconds: 3600 } };
  return {
    LedgerTable: { Properties: { SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: arn } } },
    ReplicationQueue: queue,
    ReplicationDeadLetterQueue: queue,
    ...Object.fromEntries(
      functionKeys.flatMap((key) => [
        [`${functionId(key)}LogGroup`, { Properties: { KmsKeyId: arn } }],
        [functionLogicalId(key), { Properties: { KmsKeyArn: arn } }],
      ]),
    ),
  };
}

/**
 * What every role of the stack adds with the option: the key, through the services the stack
 * stores in (what a role may do there is scoped by its other statements), and DynamoDB's grants.
 */
export function dataKeyStatements(policy: Policy): Json[] {
  const arn = dataKeyArn(policy);
  if (!arn) return [];
  return [
    {
      Sid: 'DataKey',
      Effect: 'Allow',
      Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
      Resource: arn,
      Condition: { StringEquals: { 'kms:ViaService': viaServices(policy) } },
    },
    {
      Sid: 'DataKeyGrantsForDynamoDb',
      Effect: 'Allow',
      Action: 'kms:CreateGrant',
      Resource: arn,
      Condition: {
        StringEquals: { 'kms:ViaService': { 'Fn::Sub': 'dynamodb.${AWS::Region}.amazonaws.com' } },
        Bool: { 'kms:GrantIsForAWSResource': true },
      },
    },
  ];
}
