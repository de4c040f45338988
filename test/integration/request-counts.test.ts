import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countsOf, type RequestCounts } from '../../scripts/local-aws/server.js';
import { startStack, type StackUnderTest } from '../support/local-stack.js';

/**
 * What replication costs, in requests, counted by the local AWS where they are served
 * (scripts/local-aws/request_counter.py): by service and operation, for a batch of ten new versions
 * of scattered keys, a lone version, a duplicate event, a held key and a multipart object. Counts
 * are deterministic, so they are asserted exactly: a change that adds a request fails here, and a
 * change that removes one updates these numbers on purpose.
 *
 * These are the costs of the protocol as it is (the key lease, a listing, a ledger query, a pending
 * put, a GET to hash, the copy, a replicated put; the replica's versioning checked once for the
 * writes of a few seconds). Issue 13's targets
 * for the protocol that replaces it: at most 4 requests per new small version in a batch, a
 * duplicate at most 1 DynamoDB request, 2N+3 S3 requests for N parts.
 *
 * The SQS requests are the event source mapping's (Lambda's poller): a receive that brings the
 * batch, one that finds the queue empty, and the batch delete.
 */
let t: StackUnderTest;
const put = (key: string, body: string | Buffer) => t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: body }));
/** The requests `work` costs. */
async function cost(work: () => Promise<unknown>): Promise<RequestCounts> {
  await t.aws.resetRequests();
  await work();
  return t.aws.requests();
}
const POLL = { 'sqs ReceiveMessage': 2, 'sqs DeleteMessageBatch': 1 };

beforeAll(async () => {
  t = await startStack();
}, 120_000);
afterAll(async () => t?.stop());

describe('requests per replicated version, counted where they are served', () => {
  it('a batch of ten new small versions of scattered keys: 2.2 S3 and 5 DynamoDB requests per version', async () => {
    const keys = Array.from({ length: 10 }, (_, i) => `train/${String.fromCharCode(97 + i)}/${i}/shard.jsonl`);
    for (const key of keys) await put(key, `v1 of ${key}`);
    const batch = await cost(() => t.drain());
    expect(batch).toEqual({
      ...POLL,
      // One listing for the batch's keys (they fit one page) and one versioning check of the replica;
      // then per key: its ledger entries, a GET to hash the source, the copy.
      's3 ListObjectVersions': 1,
      's3 GetObject': 10,
      's3 GetBucketVersioning': 1,
      's3 CopyObject': 10,
      // Per key: the lease put and delete, the pending and the replicated entry, the query.
      'dynamodb Query': 10,
      'dynamodb PutItem': 30,
      'dynamodb DeleteItem': 10,
    });
    expect(countsOf(batch, 's3').total / keys.length).toBe(2.2);
    expect(countsOf(batch, 'dynamodb').total / keys.length).toBe(5);
    for (const key of keys) expect((await t.ledger.entriesFor('training', key)).map((e) => e.state)).toEqual(['replicated']);
  });

  it('a lone new version: 4 S3 and 5 DynamoDB requests', async () => {
    await put('train/lone.txt', 'lone');
    expect(await cost(() => t.drain())).toEqual({
      ...POLL,
      's3 ListObjectVersions': 1,
      's3 GetObject': 1,
      's3 GetBucketVersioning': 1,
      's3 CopyObject': 1,
      'dynamodb Query': 1,
      'dynamodb PutItem': 3,
      'dynamodb DeleteItem': 1,
    });
  });

  it('a duplicate event of a replicated version: 3 DynamoDB requests and a listing, nothing copied', async () => {
    await put('train/dup.txt', 'dup');
    const [event] = await t.takeMessages();
    await t.send(event!);
    await t.drain();
    await t.send(event!);
    expect(await cost(() => t.drain())).toEqual({
      ...POLL,
      's3 ListObjectVersions': 1,
      'dynamodb PutItem': 1,
      'dynamodb Query': 1,
      'dynamodb DeleteItem': 1,
    });
  });

  it('a 12 MiB object in three 5 MiB parts: 15 S3 and 15 DynamoDB requests', async () => {
    await put('train/big.bin', Buffer.alloc(12 * 1024 * 1024, 1));
    expect(await cost(() => t.drain())).toEqual({
      ...POLL,
      's3 ListObjectVersions': 1,
      's3 HeadObject': 1,
      's3 GetObjectTagging': 1,
      's3 GetBucketVersioning': 1,
      's3 CreateMultipartUpload': 1,
      's3 UploadPartCopy': 3,
      's3 CompleteMultipartUpload': 1,
      // Each part hashed twice: the source's range and the replica's.
      's3 GetObject': 6,
      'dynamodb Query': 1,
      'dynamodb GetItem': 1,
      // The lease, the pending entry, the upload's progress after each step, the replicated entry.
      'dynamodb PutItem': 11,
      'dynamodb DeleteItem': 2,
    });
  });
  it('an event for a key another invocation holds: a lease attempt and a flag for the holder; the message goes back to the queue', async () => {
    await put('train/held.txt', 'held');
    const [event] = await t.takeMessages();
    expect(await t.ledger.acquireLease('training', 'train/held.txt', 'another-invocation', new Date(), 300)).toBe(true);
    await t.send(event!);
    const held = await cost(() => t.pollOnce());
    // The refused lease, the flag that tells the holder a change waits (it syncs again before it
    // lets go), and the poller's visibility change for the failed message.
    expect(held).toEqual({
      'sqs ReceiveMessage': 1,
      'dynamodb PutItem': 1,
      'dynamodb UpdateItem': 1,
      'sqs ChangeMessageVisibilityBatch': 1,
    });
    await t.ledger.releaseLease('training', 'train/held.txt', 'another-invocation');
  });
});
