import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { HintQueue } from './reconcile-asset.js';

/** Reconcile's way into the replication queue: `{"reconcile": {"bucket", "keys"}}` messages. */
export class SqsHintQueue implements HintQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly url: string,
  ) {}

  async send(bucket: string, keys: string[]): Promise<void> {
    const body = JSON.stringify({ reconcile: { bucket, keys } });
    const result = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: this.url, Entries: [{ Id: '0', MessageBody: body }] }));
    if ((result.Failed ?? []).length > 0) {
      throw new Error(`replication queue refused reconcile hints: ${result.Failed?.[0]?.Code} ${result.Failed?.[0]?.Message ?? ''}`);
    }
  }
}
