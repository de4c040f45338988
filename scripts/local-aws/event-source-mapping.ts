import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>;

export interface PollResult {
  batches: number;
  succeeded: number;
  failed: number;
}

/** A Lambda context for local invocations. */
export function localContext(functionName: string): Context {
  const requestId = crypto.randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/${requestId}`,
    getRemainingTimeInMillis: () => 300_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

function toRecord(message: Message, queueArn: string, region: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}

/**
 * Does what Lambda's SQS event source mapping does with ReportBatchItemFailures: receives a batch,
 * invokes the handler, deletes the messages that succeeded and returns the failed ones to the
 * queue. Failed messages are made visible at once (here the visibility timeout "passes"
 * immediately), so the queue's redrive policy moves them to the dead-letter queue after
 * maxReceiveCount receives, as in AWS.
 */
export async function pollOnce(
  sqs: SQSClient,
  queue: { url: string; arn: string; region: string },
  handler: SqsHandler,
  batchSize = 10,
): Promise<PollResult & { received: number }> {
  const { Messages = [] } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queue.url,
      MaxNumberOfMessages: batchSize,
      WaitTimeSeconds: 0,
      MessageSystemAttributeNames: ['All'],
    }),
  );
  if (Messages.length === 0) return { batches: 0, succeeded: 0, failed: 0, received: 0 };
  const event: SQSEvent = { Records: Messages.map((m) => toRecord(m, queue.arn, queue.region)) };
  let failedIds: Set<string>;
  try {
    const response = await handler(event, localContext('replicate'));
    failedIds = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
  } catch {
    failedIds = new Set(Messages.map((m) => m.MessageId!));
  }
  const succeeded = Messages.filter((m) => !failedIds.has(m.MessageId!));
  const failed = Messages.filter((m) => failedIds.has(m.MessageId!));
  if (succeeded.length > 0) {
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queue.url,
        Entries: succeeded.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }
  if (failed.length > 0) {
    await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queue.url,
        Entries: failed.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 })),
      }),
    );
  }
  return { batches: 1, succeeded: succeeded.length, failed: failed.length, received: Messages.length };
}

/** Polls until the queue is empty (or maxBatches), as Lambda would keep invoking. */
export async function drainQueue(
  sqs: SQSClient,
  queue: { url: string; arn: string; region: string },
  handler: SqsHandler,
  { batchSize = 10, maxBatches = 1000 } = {},
): Promise<PollResult> {
  const total: PollResult = { batches: 0, succeeded: 0, failed: 0 };
  for (let i = 0; i < maxBatches; i++) {
    const result = await pollOnce(sqs, queue, handler, batchSize);
    if (result.received === 0) break;
    total.batches += result.batches;
    total.succeeded += result.succeeded;
    total.failed += result.failed;
  }
  return total;
}
