import { DeleteBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchResponse } from '../../functions/replication/batch-operations.js';
import { localContext } from '../../scripts/local-aws/event-source-mapping.js';
import { eventText, loadEvent } from '../support/fixtures.js';
import { type StackUnderTest, startStack } from '../support/local-stack.js';

let t: StackUnderTest;
let backfill: (event: unknown) => Promise<BatchResponse>;
beforeAll(async () => {
  t = await startStack();
  const { handler } = await import('../../functions/backfill.js');
  backfill = (event) => handler(event, localContext('backfill')) as Promise<BatchResponse>;
});
afterAll(async () => t?.stop());

const put = (key: string, body: string) => t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: body }));

describe('S3 Batch Operations backfill (local AWS)', () => {
  it('replicates the tasks of a schema 1.0 job (URL-encoded keys, bucket ARN) and reports per-task result codes', async () => {
    await put('train/backfill/cat photo+1.jpg', 'meow');
    await put('train/backfill/cat photo+1.jpg', 'meow2');
    await put('scratch/outside.txt', 'x');
    await t.s3.send(new DeleteBucketCommand({ Bucket: 'it-replica-missing' }));
    await put('orphaned/no-replica.txt', 'y');
    await t.takeMessages(); // the events are not needed: Batch Operations drives this

    const event = loadEvent<{ tasks: Record<string, unknown>[] }>('s3-batch/valid/schema-1.0.json');
    event.tasks = [
      { taskId: 't1', s3Key: 'train/backfill/cat%20photo%2B1.jpg', s3VersionId: null, s3BucketArn: 'arn:aws:s3:::it-source' },
      { taskId: 't2', s3Key: 'scratch/outside.txt', s3VersionId: null, s3BucketArn: 'arn:aws:s3:::it-source' },
      { taskId: 't3', s3Key: 'orphaned/no-replica.txt', s3VersionId: null, s3BucketArn: 'arn:aws:s3:::it-source' },
    ];
    const response = await backfill(event);
    expect(response).toMatchObject({
      invocationSchemaVersion: '1.0',
      treatMissingKeysAs: 'PermanentFailure',
      invocationId: 'YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo',
    });
    expect(response.results.map((r) => [r.taskId, r.resultCode])).toEqual([
      ['t1', 'Succeeded'],
      ['t2', 'PermanentFailure'],
      ['t3', 'PermanentFailure'],
    ]);
    expect(response.results[0]!.resultString).toBe('replicated 2 version(s), 0 already replicated');
    expect(response.results[1]!.resultString).toBe('"s3://it-source/scratch/outside.txt" belongs to no asset of the DR policy');
    expect(response.results[2]!.resultString).toMatch(/^NoSuchBucket/);
    // The failure is in the ledger too, so the RPO sees it.
    expect((await t.ledger.entriesFor('orphaned', 'orphaned/no-replica.txt'))[0]).toMatchObject({ state: 'failed' });

    // Running the same task again changes nothing (Batch Operations may retry).
    const again = await backfill(event);
    expect(again.results[0]!.resultString).toBe('replicated 0 version(s), 2 already replicated');
    const rows = (await t.report('training')).filter((r) => r.key.startsWith('train/backfill/'));
    expect(rows.map((r) => r.verified)).toEqual([true, true]);
  });

  it('accepts schema 2.0 (bucket name, user arguments)', async () => {
    await put('evals/backfill.jsonl', '{}');
    await t.takeMessages();
    const event = loadEvent<{ tasks: Record<string, unknown>[] }>('s3-batch/valid/schema-2.0.json');
    event.tasks[0]!.s3Bucket = 'it-source';
    event.tasks[0]!.s3Key = 'evals/backfill.jsonl';
    const response = await backfill(event);
    expect(response.results).toEqual([
      { taskId: 'dGFzay0x', resultCode: 'Succeeded', resultString: 'replicated 1 version(s), 0 already replicated' },
    ]);
  });

  it('rejects what is not a Batch Operations invocation, naming the field', async () => {
    await expect(backfill(JSON.parse(eventText('s3-batch/invalid/no-tasks.json')))).rejects.toThrow(
      /^not an S3 Batch Operations invocation: tasks: Too small/,
    );
  });
});
