import { CreateTableCommand, DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand, EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateBucketCommand,
  type BucketLocationConstraint,
  PutBucketEncryptionCommand,
  PutBucketNotificationConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectLockConfigurationCommand,
  PutPublicAccessBlockCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { expectedBucketOwners, replicatedAssets } from '../../functions/policy/assets.js';
import type { Policy } from '../../functions/policy/schema.js';
import { replicaObjectLock } from '../../infra/buckets.js';
import { asAccount, LOCAL_ACCOUNT } from './accounts.js';
import { datasetRequestPattern, eventPatternFor, logicalId } from '../../infra/event-rules.js';
import { LEDGER_TTL_ATTRIBUTE, ledgerKeySchema } from '../../infra/ledger-table.js';

export interface LocalStack {
  region: string;
  queueUrl: string;
  queueArn: string;
  queueName: string;
  deadLetterQueueUrl: string;
  ledgerTable: string;
  /** The stack's bus for DR Target Missed / Recovered events. */
  eventBus: string;
  /** Receives what the on-call SNS topic would (moto's EventBridge cannot target SNS). */
  onCallQueueUrl: string;
  /** Receives the events of dataset version request files (what the lineage function gets in AWS), when the policy has lineage.requests. */
  lineageRequestsQueueUrl?: string;
  /** verify-restore's scratch bucket (RestoreTestScratchBucket). */
  scratchBucket: string;
  /** The customer-managed key of deployment.kmsKey (created here for `stack`), when the policy has one. */
  dataKeyArn?: string;
  /** Vault accounts' buckets and their owners (expectedBucketOwners), created here as those accounts. */
  expectedBucketOwners: Record<string, string>;
}

/** The environment the stack's functions run with (serverless.yml's), for this local stack. */
export const functionEnv = (stack: LocalStack, policyFile: string): Record<string, string> => ({
  LEDGER_TABLE: stack.ledgerTable,
  DR_POLICY_FILE: policyFile,
  DR_EVENT_BUS: stack.eventBus,
  DR_SCRATCH_BUCKET: stack.scratchBucket,
  DEAD_LETTER_QUEUE_URL: stack.deadLetterQueueUrl,
  REPLICATION_QUEUE_URL: stack.queueUrl,
  DR_EXPECTED_BUCKET_OWNERS: JSON.stringify(stack.expectedBucketOwners),
});

/** S3 on the local AWS as the stack's account, or as `account` (a vault's). */
function s3In(region: string, account?: string): S3Client {
  const s3 = new S3Client({ region, forcePathStyle: true });
  return account ? asAccount(s3, account) : s3;
}

async function createVersionedBucket(
  bucket: string,
  region: string,
  objectLock?: ReturnType<typeof replicaObjectLock>,
  dataKeyArn?: string,
  account?: string,
): Promise<void> {
  const s3 = s3In(region, account);
  await s3.send(
    new CreateBucketCommand({
      Bucket: bucket,
      ...(region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }),
      ...(objectLock && { ObjectLockEnabledForBucket: true }),
    }),
  );
  await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  if (objectLock?.Rule) await s3.send(new PutObjectLockConfigurationCommand({ Bucket: bucket, ObjectLockConfiguration: objectLock }));
  if (dataKeyArn) {
    await s3.send(
      new PutBucketEncryptionCommand({
        Bucket: bucket,
        ServerSideEncryptionConfiguration: {
          Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: dataKeyArn }, BucketKeyEnabled: true }],
        },
      }),
    );
  }
}

/** deployment.kmsKey on the local AWS: a key created like the stack's (`stack`), or the ARN given (moto does not check it exists). */
async function dataKey(policy: Policy, name: string): Promise<string | undefined> {
  const key = policy.deployment.kmsKey;
  if (key !== 'stack') return key;
  const { KeyMetadata } = await new KMSClient({ region: policy.deployment.region }).send(
    new CreateKeyCommand({ Description: `${name}: encrypts the DR replica, ledger and queues (docs/encryption.md)` }),
  );
  return KeyMetadata!.Arn!;
}

async function createQueue(sqs: SQSClient, name: string, attributes: Record<string, string>) {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  return { url: QueueUrl!, arn: Attributes!.QueueArn! };
}

/**
 * Creates on the local AWS what serverless.yml creates in an account (replica buckets, queue and
 * dead-letter queue, ledger table, one EventBridge rule per asset) from the same definitions, plus
 * what an operator sets up on existing source buckets (versioning, EventBridge notifications and,
 * for a source in another region, the forwarding rule to the stack's region): docs/attach-buckets.md.
 * The stack's DR event bus routes target events to a queue standing in for the on-call SNS topic.
 */
export async function deployLocalStack(
  policy: Policy,
  options: { name?: string; visibilityTimeoutSeconds?: number } = {},
): Promise<LocalStack> {
  const region = policy.deployment.region;
  const name = options.name ?? 'ai-data-dr-local';
  const assets = replicatedAssets(policy);
  const dataKeyArn = await dataKey(policy, name);

  const vaults = expectedBucketOwners(policy);
  for (const bucket of new Set(policy.assets.map((a) => a.replica.bucket))) {
    // A vault account's bucket is the vault's (docs/vault-account.md): created as that account, without the stack's key.
    const vault = vaults[bucket];
    await createVersionedBucket(bucket, region, replicaObjectLock(policy, bucket), vault ? undefined : dataKeyArn, vault);
    await s3In(region, vault).send(
      new PutPublicAccessBlockCommand({
        Bucket: bucket,
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
      }),
    );
  }
  const scratchBucket = `${name}-restore-test-scratch`;
  await createVersionedBucket(scratchBucket, region, undefined, dataKeyArn);
  // Sources on other endpoints are the operator's (and get no events: reconcile finds their changes).
  const sources = new Map(assets.filter((a) => !a.source.endpoint).map((a) => [a.source.bucket, a.source.region]));
  for (const [bucket, sourceRegion] of sources) {
    await createVersionedBucket(bucket, sourceRegion);
    await s3In(sourceRegion).send(
      new PutBucketNotificationConfigurationCommand({
        Bucket: bucket,
        NotificationConfiguration: { EventBridgeConfiguration: {} },
      }),
    );
  }

  const sqs = new SQSClient({ region });
  const encryptedQueue: Record<string, string> = dataKeyArn ? { KmsMasterKeyId: dataKeyArn } : {};
  const dlq = await createQueue(sqs, `${name}-dlq`, { MessageRetentionPeriod: '1209600', ...encryptedQueue });
  const queue = await createQueue(sqs, `${name}-replication`, {
    ...encryptedQueue,
    VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? policy.replication.timeoutSeconds * 6),
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: policy.replication.maxReceiveCount }),
  });

  const ledgerTable = `${name}-ledger`;
  const dynamo = new DynamoDBClient({ region });
  await dynamo.send(
    new CreateTableCommand({
      TableName: ledgerTable,
      ...structuredClone(ledgerKeySchema),
      ...(dataKeyArn && { SSESpecification: { Enabled: true, SSEType: 'KMS', KMSMasterKeyId: dataKeyArn } }),
    } as never),
  );
  await dynamo.send(
    new UpdateTimeToLiveCommand({
      TableName: ledgerTable,
      TimeToLiveSpecification: { AttributeName: LEDGER_TTL_ATTRIBUTE, Enabled: true },
    }),
  );

  const stackEvents = new EventBridgeClient({ region });
  for (const asset of assets.filter((a) => !a.source.endpoint)) {
    const rule = logicalId(`${name}-`, asset.name);
    const pattern = JSON.stringify(eventPatternFor(asset));
    await stackEvents.send(new PutRuleCommand({ Name: rule, EventPattern: pattern, State: 'ENABLED' }));
    await stackEvents.send(new PutTargetsCommand({ Rule: rule, Targets: [{ Id: 'replication-queue', Arn: queue.arn }] }));
    if (asset.source.region !== region) {
      // Events of a bucket reach its own region's default bus: forward them to the stack's region.
      const sourceEvents = new EventBridgeClient({ region: asset.source.region });
      await sourceEvents.send(new PutRuleCommand({ Name: `${rule}-forward`, EventPattern: pattern, State: 'ENABLED' }));
      await sourceEvents.send(
        new PutTargetsCommand({
          Rule: `${rule}-forward`,
          Targets: [{ Id: 'dr-region-bus', Arn: `arn:aws:events:${region}:${LOCAL_ACCOUNT}:event-bus/default` }],
        }),
      );
    }
  }
  // Dataset version request files (lineage.requests): serverless.yml routes them to the lineage function; here, to a queue the tests read.
  let lineageRequestsQueueUrl: string | undefined;
  if (policy.lineage?.requests) {
    const requests = await createQueue(sqs, `${name}-lineage-requests`, {});
    lineageRequestsQueueUrl = requests.url;
    const pattern = JSON.stringify(datasetRequestPattern(policy.lineage.requests));
    await stackEvents.send(new PutRuleCommand({ Name: `${name}-lineage-requests`, EventPattern: pattern, State: 'ENABLED' }));
    await stackEvents.send(new PutTargetsCommand({ Rule: `${name}-lineage-requests`, Targets: [{ Id: 'lineage', Arn: requests.arn }] }));
    const sourceRegion = assets.find((a) => a.source.bucket === policy.lineage!.requests!.bucket)?.source.region;
    if (sourceRegion && sourceRegion !== region) {
      const sourceEvents = new EventBridgeClient({ region: sourceRegion });
      await sourceEvents.send(new PutRuleCommand({ Name: `${name}-lineage-requests-forward`, EventPattern: pattern, State: 'ENABLED' }));
      await sourceEvents.send(
        new PutTargetsCommand({
          Rule: `${name}-lineage-requests-forward`,
          Targets: [{ Id: 'dr-region-bus', Arn: `arn:aws:events:${region}:${LOCAL_ACCOUNT}:event-bus/default` }],
        }),
      );
    }
  }
  const eventBus = `${name}-dr-events`;
  await stackEvents.send(new CreateEventBusCommand({ Name: eventBus }));
  const onCall = await createQueue(sqs, `${name}-on-call`, {});
  await stackEvents.send(
    new PutRuleCommand({
      Name: `${name}-dr-target-events`,
      EventBusName: eventBus,
      EventPattern: JSON.stringify({ source: ['ai-data-dr'], 'detail-type': ['DR Target Missed', 'DR Target Recovered'] }),
      State: 'ENABLED',
    }),
  );
  await stackEvents.send(
    new PutTargetsCommand({ Rule: `${name}-dr-target-events`, EventBusName: eventBus, Targets: [{ Id: 'on-call', Arn: onCall.arn }] }),
  );
  return {
    region,
    queueUrl: queue.url,
    queueArn: queue.arn,
    queueName: `${name}-replication`,
    deadLetterQueueUrl: dlq.url,
    ledgerTable,
    eventBus,
    onCallQueueUrl: onCall.url,
    ...(lineageRequestsQueueUrl && { lineageRequestsQueueUrl }),
    scratchBucket,
    ...(dataKeyArn && { dataKeyArn }),
    expectedBucketOwners: vaults,
  };
}
