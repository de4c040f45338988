import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { expect } from 'vitest';
import { targetEventErrors } from './event-schema.js';
import type { StackUnderTest } from './local-stack.js';

/** Everything on-call received so far (the stand-in queue of the on-call topic), removed from it; each checked against the event schema. */
export async function onCallPages(t: StackUnderTest): Promise<{ 'detail-type': string; detail: Record<string, unknown> }[]> {
  const received = [];
  for (;;) {
    const { Messages = [] } = await t.sqs.send(new ReceiveMessageCommand({ QueueUrl: t.stack.onCallQueueUrl, MaxNumberOfMessages: 10 }));
    if (Messages.length === 0) return received;
    for (const m of Messages) {
      const event = JSON.parse(m.Body!) as { 'detail-type': string; detail: Record<string, unknown> };
      expect(targetEventErrors(event)).toEqual([]);
      received.push(event);
      await t.sqs.send(new DeleteMessageCommand({ QueueUrl: t.stack.onCallQueueUrl, ReceiptHandle: m.ReceiptHandle }));
    }
  }
}
