import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countsOf, type RequestCounts } from '../../scripts/local-aws/server.js';
import { lockedTestPolicy, startStack, type StackUnderTest } from '../support/local-stack.js';

/**
 * What replication costs, in requests, counted by the local AWS where they are served
 * (scripts/local-aws/request_counter.py): by service and operation, for a batch of ten new versions
 * of scattered keys, a lone version, duplicate events, a version another invocation holds, a key
 * with a hundred versions and a multipart object. Counts are deterministic, so they are asserted
 * exactly: a change that adds a request fails here, and a change that removes one updates these
 * numbers on purpose.
 *
 * The protocol (docs/architecture.md, "The replication protocol"): the event's version is claimed
 * by one conditional write that is also its pending entry; the batch's keys are listed in one
 * request while the claims are made; the source is read once and hashed; the copy; the replicated
 * entries of the batch are written together (BatchWriteItem). The replica bucket has Object Lock on
 * (the stack's default): its configuration is read once per container (the first batch below), and
 * its versioning is never checked (S3 cannot suspend it); a bucket without Object Lock has its
 * versioning checked once per batch (unit tests). Issue 13's targets: at most 4 requests per new small version in a batch, a
 * duplicate at most 1 DynamoDB request.
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
const total = (counts: RequestCounts) => Object.values(counts).reduce((sum, n) => sum + n, 0);

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'request-counts-'));
  t = await startStack(lockedTestPolicy(dir));
}, 120_000);
afterAll(async () => {
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('requests per replicated version, counted where they are served', () => {
  it('a batch of ten new small versions of scattered keys: 3.6 requests per version (S3 2.2, DynamoDB 1.1, SQS 0.3)', async () => {
    const keys = Array.from({ length: 10 }, (_, i) => `train/${String.fromCharCode(97 + i)}/${i}/shard.jsonl`);
    for (const key of keys) await put(key, `v1 of ${key}`);
    const batch = await cost(() => t.drain());
    expect(batch).toEqual({
      ...POLL,
      // Per key: the claim (its pending entry), a GET to hash the source, the copy. For the batch:
      // one listing of its keys (they fit one page), one write of the ten replicated entries; and
      // the container's first write reads the replica bucket's Object Lock configuration.
      'dynamodb UpdateItem': 10,
      's3 ListObjectVersions': 1,
      's3 GetObject': 10,
      's3 GetObjectLockConfiguration': 1,
      's3 CopyObject': 10,
      'dynamodb BatchWriteItem': 1,
    });
    expect(countsOf(batch, 's3').total / keys.length).toBe(2.2);
    expect(countsOf(batch, 'dynamodb').total / keys.length).toBe(1.1);
    expect(total(batch) / keys.length).toBe(3.6);
    for (const key of keys) expect((await t.ledger.entriesFor('training', key)).map((e) => e.state)).toEqual(['replicated']);
  });

  it('a lone new version: 3 S3 and 2 DynamoDB requests', async () => {
    await put('train/lone.txt', 'lone');
    expect(await cost(() => t.drain())).toEqual({
      ...POLL,
      'dynamodb UpdateItem': 1,
      's3 ListObjectVersions': 1,
      's3 GetObject': 1,
      's3 CopyObject': 1,
      'dynamodb BatchWriteItem': 1,
    });
  });

  it('duplicate events of a replicated version, in one batch and across invocations: one DynamoDB request each, nothing read or copied', async () => {
    await put('train/dup.txt', 'dup');
    const [event] = await t.takeMessages();
    await t.send(event!);
    await t.drain();
    // A burst of five duplicates in one batch: the batch shares one claim among them.
    for (let i = 0; i < 5; i++) await t.send(event!);
    expect(await cost(() => t.drain())).toEqual({ ...POLL, 'dynamodb UpdateItem': 1 });
    // Three more, each in an invocation of its own.
    for (let i = 0; i < 3; i++) {
      await t.send(event!);
      expect(await cost(() => t.drain())).toEqual({ ...POLL, 'dynamodb UpdateItem': 1 });
    }
  });

  it('an event for a version another invocation holds: one refused claim, and the message is acknowledged', async () => {
    const { VersionId } = await put('train/held.txt', 'held');
    const [event] = await t.takeMessages();
    const version = {
      asset: 'training',
      key: 'train/held.txt',
      sourceVersionId: VersionId!,
      entryType: 'object' as const,
      sourceLastModified: new Date().toISOString(),
      size: 4,
    };
    expect(await t.ledger.claimVersion(version, 'another-invocation', new Date(), 300)).toEqual({ claimed: true });
    await t.send(event!);
    // The holder's own message sees the version through (if it dies, its message comes back and the claim expires).
    expect(await cost(() => t.pollOnce())).toEqual({ 'sqs ReceiveMessage': 1, 'dynamodb UpdateItem': 1, 'sqs DeleteMessageBatch': 1 });
    await t.ledger.releaseClaim(version, 'another-invocation');
  });

  it('an event whose version comes after one another invocation holds: queued again with a delay (a new message), not failed', async () => {
    const key = 'train/behind.txt';
    const first = await put(key, 'first');
    await put(key, 'second');
    const [, second] = await t.takeMessages();
    const held = {
      asset: 'training',
      key,
      sourceVersionId: first.VersionId!,
      entryType: 'object' as const,
      sourceLastModified: new Date().toISOString(),
      size: 5,
    };
    expect(await t.ledger.claimVersion(held, 'another-invocation', new Date(), 300)).toEqual({ claimed: true });
    await t.send(second!);
    await t.aws.resetRequests();
    expect(await t.pollOnce()).toMatchObject({ received: 1, failed: 0 });
    const counts = await t.aws.requests();
    // The claim of the second version, the refused claim of the first (held), the second's release;
    // the message again, as a new one (its receive count starts afresh); the original acknowledged.
    // (The read ahead of the second version, dropped, may land on either side of the count.)
    expect(counts).toMatchObject({ 'dynamodb UpdateItem': 3, 'sqs SendMessage': 1, 'sqs DeleteMessageBatch': 1 });
    expect(counts).not.toHaveProperty('s3 CopyObject');
    const entries = await t.ledger.entriesFor('training', key);
    expect(entries.find((e) => e.sourceVersionId !== first.VersionId)).toMatchObject({ state: 'pending' });
    await t.ledger.releaseClaim(held, 'another-invocation');
    await t.takeMessages(); // the delayed message, if it became visible: nothing is left for later tests
  });

  it('a new version of a key with a hundred replicated versions: its history is listed and read once (6 requests)', async () => {
    const key = 'train/history/checkpoint.json';
    for (let i = 0; i < 100; i++) await put(key, `checkpoint ${i}`);
    await t.drain();
    expect((await t.ledger.entriesFor('training', key)).filter((e) => e.state === 'replicated')).toHaveLength(100);
    await put(key, 'checkpoint 100');
    expect(await cost(() => t.drain())).toEqual({
      ...POLL,
      'dynamodb UpdateItem': 1,
      's3 ListObjectVersions': 1,
      // The key has history: its ledger entries are read (one page), to know which versions are done.
      'dynamodb Query': 1,
      's3 GetObject': 1,
      's3 CopyObject': 1,
      'dynamodb BatchWriteItem': 1,
    });
  });

  it('a version deleted from the source before its event is processed: recorded as source-deleted, nothing copied (6 requests)', async () => {
    const key = 'train/gone.txt';
    const { VersionId } = await put(key, 'soon gone');
    const [event] = await t.takeMessages();
    await t.s3.send(new DeleteObjectCommand({ Bucket: 'it-source', Key: key, VersionId }));
    await t.takeMessages(); // the permanent deletion's own event (its key's listing would say the same)
    await t.send(event!);
    expect(await cost(() => t.drain())).toEqual({
      ...POLL,
      // The claim; the read ahead (404) beside the listing, which lacks the version; the key's
      // entries, and a second listing after them (an entry the first lacks may have been written
      // since); and the entry marked source-deleted (which ends the claim).
      'dynamodb UpdateItem': 2,
      's3 GetObject': 1,
      's3 ListObjectVersions': 2,
      'dynamodb Query': 1,
    });
    expect(await t.ledger.entriesFor('training', key)).toEqual([expect.objectContaining({ state: 'source-deleted' })]);
    expect(await t.ledger.entriesFor('training', key)).toEqual([expect.not.objectContaining({ claimOwner: expect.anything() })]);
  });

  it('a 12 MiB object in three 5 MiB parts: 2N+3 S3 requests (and the batch’s listing); DynamoDB: a claim, the progress saves, one replicated entry', async () => {
    await put('train/big.bin', Buffer.alloc(12 * 1024 * 1024, 1));
    const counts = await cost(() => t.drain());
    // The upload's progress is saved after each step, coalesced while a save is in flight (parts run
    // in parallel), so how many saves depends on how the parts interleave: at most 8 here.
    const { 'dynamodb PutItem': saves = 0, ...exact } = counts;
    expect(saves).toBeGreaterThanOrEqual(3);
    expect(saves).toBeLessThanOrEqual(8);
    expect(exact).toEqual({
      ...POLL,
      's3 ListObjectVersions': 1,
      // 2N+3: its description (no GetObjectTagging: it counts no tags), the upload, each part copied
      // and its source range hashed, the completion. S3 reports each copied part's SHA-256 (the
      // upload asks for SHA-256), so no part of the replica is read back.
      's3 HeadObject': 1,
      's3 CreateMultipartUpload': 1,
      's3 UploadPartCopy': 3,
      's3 GetObject': 3,
      's3 CompleteMultipartUpload': 1,
      'dynamodb UpdateItem': 1,
      'dynamodb GetItem': 1,
      'dynamodb DeleteItem': 1,
      'dynamodb BatchWriteItem': 1,
    });
  });
});
