import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CreateBucketCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, DeleteMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse } from 'aws-lambda';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoLedger } from '../../functions/ledger/dynamo-ledger.js';
import { loadPolicyFile } from '../../functions/policy/load.js';
import type { ObjectAsset, Policy } from '../../functions/policy/schema.js';
import { dynamoDocumentClient } from '../../functions/shared/aws-clients.js';
import { drainQueue, localContext, pollOnce, type SqsHandler } from '../../scripts/local-aws/event-source-mapping.js';
import { replicaReport } from '../../scripts/local-aws/replica-report.js';
import { type LocalAws, startLocalAws } from '../../scripts/local-aws/server.js';
import { deployLocalStack, functionEnv, type LocalStack } from '../../scripts/local-aws/stack.js';
import { projectRoot } from '../../scripts/local-aws/venv.js';

export const TEST_POLICY = join(projectRoot, 'test/support/test-policy.yml');

/**
 * The test policy with the shipped Object Lock defaults (its `objectLock: none` line removed), plus
 * `extraAssets` (YAML list items), written into `dir`: for tests whose clocks are the machine's.
 */
export function lockedTestPolicy(dir: string, extraAssets = ''): string {
  const text = readFileSync(TEST_POLICY, 'utf8').replace(/^objectLock: .*\n/m, '');
  if (text.includes('objectLock')) throw new Error(`${TEST_POLICY} no longer turns Object Lock off in one line`);
  const file = join(dir, 'locked-policy.yml');
  writeFileSync(file, `${text}${extraAssets}`);
  return file;
}

/** A local AWS with the stack deployed from a policy file and the real replicate handler loaded. */
export interface StackUnderTest {
  aws: LocalAws;
  stack: LocalStack;
  policy: Policy;
  asset(name: string): ObjectAsset;
  s3: S3Client;
  sqs: SQSClient;
  cloudwatch: CloudWatchClient;
  ledger: DynamoLedger;
  handler: SqsHandler;
  queue: { url: string; arn: string; region: string };
  drain(): ReturnType<typeof drainQueue>;
  pollOnce(): Promise<SQSBatchResponse & { received: number; failed: number }>;
  /** Takes every message off a queue without processing it (to replay them in another order). */
  takeMessages(url?: string): Promise<string[]>;
  send(body: string, url?: string): Promise<void>;
  report(asset: string): ReturnType<typeof replicaReport>;
  /** Creates a versioned bucket beside the stack (a restore target), in the sources' region. */
  createVersionedBucket(bucket: string): Promise<void>;
  /** Invokes the real reconcile handler (scheduled input). */
  reconcile(event: unknown): Promise<{ results: { asset: string; finished: boolean; afterKey?: string; counts: Record<string, any> }[] }>;
  stop(): Promise<void>;
}

/**
 * `via`: an endpoint every client of the process (and of processes it starts) uses instead of the
 * local AWS's own, made from it (a fault proxy in front of it).
 */
export async function startStack(
  policyFile = TEST_POLICY,
  options: { via?: (endpoint: string) => Promise<string> } = {},
): Promise<StackUnderTest> {
  const aws = await startLocalAws();
  const policy = loadPolicyFile(policyFile);
  const endpoint = options.via ? await options.via(aws.endpoint) : aws.endpoint;
  Object.assign(process.env, aws.env, { AWS_REGION: policy.deployment.region, AWS_ENDPOINT_URL: endpoint });
  const stack = await deployLocalStack(policy, { visibilityTimeoutSeconds: 30 });
  Object.assign(process.env, functionEnv(stack, policyFile));
  const { handler } = await import('../../functions/replicate.js');

  const s3 = new S3Client({ region: 'us-east-1', forcePathStyle: true });
  const sqs = new SQSClient({ region: stack.region });
  const ledger = new DynamoLedger(dynamoDocumentClient(), stack.ledgerTable);
  const queue = { url: stack.queueUrl, arn: stack.queueArn, region: stack.region };
  const asset = (name: string) => {
    const found = policy.assets.find((a) => a.name === name);
    if (!found || found.kind === 'vector-index') throw new Error(`no object asset ${name}`);
    return found;
  };
  return {
    aws,
    stack,
    policy,
    asset,
    s3,
    sqs,
    cloudwatch: new CloudWatchClient({ region: stack.region }),
    ledger,
    handler,
    queue,
    drain: () => drainQueue(sqs, queue, handler),
    pollOnce: async () => {
      let response: SQSBatchResponse = { batchItemFailures: [] };
      const result = await pollOnce(sqs, queue, async (event, context) => {
        response = (await handler(event, context)) ?? { batchItemFailures: [] };
        return response;
      });
      return { ...response, received: result.received, failed: result.failed };
    },
    takeMessages: async (url = stack.queueUrl) => {
      const bodies: string[] = [];
      for (;;) {
        const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
        if (Messages.length === 0) return bodies;
        for (const m of Messages) {
          bodies.push(m.Body ?? '');
          await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
        }
      }
    },
    send: async (body, url = stack.queueUrl) => {
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body }));
    },
    report: (name) => replicaReport(s3, asset(name), (key) => ledger.entriesFor(name, key)),
    createVersionedBucket: async (Bucket) => {
      await s3.send(new CreateBucketCommand({ Bucket }));
      await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    },
    reconcile: async (event) => {
      const { handler } = await import('../../functions/reconcile.js');
      return handler(event, localContext('reconcile')) as never;
    },
    stop: () => aws.stop(),
  };
}
