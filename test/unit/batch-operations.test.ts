import { describe, expect, it } from 'vitest';
import { runBatchTasks } from '../../functions/replication/batch-operations.js';
import { CopyContinuesError, KeyBusyError, ReplicaKeyTooLongError } from '../../functions/replication/errors.js';
import type { ReplicationBatch } from '../../functions/replication/replicator.js';

const request = {
  invocationSchemaVersion: '1.0' as const,
  invocationId: 'inv',
  job: { id: 'job' },
  tasks: [{ taskId: 't', s3Key: 'train/a%2Bb%20c.txt', s3BucketArn: 'arn:aws:s3:::src' }],
};
const failingWith = (error: Error): Pick<ReplicationBatch, 'replicateHint'> => ({ replicateHint: async () => Promise.reject(error) });

describe('S3 Batch Operations result codes', () => {
  it.each([
    [new KeyBusyError('busy'), 'TemporaryFailure'],
    [Object.assign(new Error('Please reduce your request rate.'), { name: 'SlowDown' }), 'TemporaryFailure'],
    [Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }), 'TemporaryFailure'],
    [new CopyContinuesError('3 of 40 parts copied'), 'TemporaryFailure'],
    [new ReplicaKeyTooLongError('too long'), 'PermanentFailure'],
    [Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }), 'PermanentFailure'],
  ])('%s -> %s', async (error, code) => {
    const response = await runBatchTasks(failingWith(error), request);
    expect(response.results[0]).toMatchObject({ taskId: 't', resultCode: code });
  });

  it('syncs every reading of a manifest key (percent-encoded, form-encoded)', async () => {
    const seen: string[][] = [];
    const replicator = {
      replicateHint: async (hint: { keys: string[] }) => {
        seen.push(hint.keys);
        return { keys: [{ replicated: [], alreadyReplicated: 1 }], unmanaged: [] };
      },
    } as unknown as Pick<ReplicationBatch, 'replicateHint'>;
    await runBatchTasks(replicator, request);
    expect(seen).toEqual([['train/a%2Bb%20c.txt', 'train/a+b c.txt']]);
  });
});
