import { createHash } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replicaKeyFor } from '../../functions/policy/assets.js';
import { S3VersionedStore } from '../../functions/storage/s3-versioned-store.js';
import { localContext } from '../../scripts/local-aws/event-source-mapping.js';
import { loadEvent } from '../support/fixtures.js';
import { type StackUnderTest, startStack } from '../support/local-stack.js';

let t: StackUnderTest;
beforeAll(async () => {
  t = await startStack();
});
afterAll(async () => t?.stop());

const SOURCE = 'it-source';
const REPLICA = 'it-replica';
const sha256 = (body: string | Buffer) => createHash('sha256').update(body).digest('hex');

async function put(key: string, body: string | Buffer, extra: Partial<ConstructorParameters<typeof PutObjectCommand>[0]> = {}) {
  const out = await t.s3.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: Buffer.from(body), ...extra }));
  return out.VersionId!;
}
async function del(key: string) {
  return (await t.s3.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: key }))).VersionId!;
}
async function replicaBytes(key: string, versionId: string) {
  const object = await t.s3.send(new GetObjectCommand({ Bucket: REPLICA, Key: key, VersionId: versionId }));
  return Buffer.from(await object.Body!.transformToByteArray());
}
const replicaVersions = (key: string) => new S3VersionedStore(t.s3).listVersions(REPLICA, key);
const training = () => t.asset('training');

/** Every source version of the asset is in the replica, in order, byte-identical, and the ledger agrees. */
async function expectReplicaMatchesSource(asset: string) {
  const rows = await t.report(asset);
  expect(rows.length).toBeGreaterThan(0);
  expect(rows.filter((r) => !r.verified)).toEqual([]);
  return rows;
}

describe('replication through the event path (S3 -> EventBridge -> SQS -> replicate)', () => {
  it('creates: replicates the version with content type, user metadata and tags, verified and in the ledger', async () => {
    const key = 'train/create/shard-0.jsonl';
    const versionId = await put(key, '{"x":1}\n', {
      ContentType: 'application/x-ndjson',
      Metadata: { dataset: 'v7', owner: 'ml-platform' },
      Tagging: 'classification=internal&team=ml',
      CacheControl: 'no-cache',
    });
    const drained = await t.drain();
    expect(drained.failed).toBe(0);

    const replicaKey = replicaKeyFor(training(), key);
    expect(replicaKey).toBe('dr/train/create/shard-0.jsonl');
    const [copy] = await replicaVersions(replicaKey);
    const head = await t.s3.send(new HeadObjectCommand({ Bucket: REPLICA, Key: replicaKey, VersionId: copy!.versionId }));
    expect(head.ContentType).toBe('application/x-ndjson');
    expect(head.CacheControl).toBe('no-cache');
    expect(head.Metadata).toEqual({
      dataset: 'v7',
      owner: 'ml-platform',
      'dr-source-version-id': versionId,
      'dr-source-sha256': sha256('{"x":1}\n'),
      'dr-asset': 'training',
    });
    const tags = await t.s3.send(new GetObjectTaggingCommand({ Bucket: REPLICA, Key: replicaKey, VersionId: copy!.versionId }));
    expect(tags.TagSet).toEqual(
      expect.arrayContaining([
        { Key: 'classification', Value: 'internal' },
        { Key: 'team', Value: 'ml' },
      ]),
    );

    const [entry] = await t.ledger.entriesFor('training', key);
    expect(entry).toMatchObject({
      state: 'replicated',
      sourceVersionId: versionId,
      replicaVersionId: copy!.versionId,
      sha256: sha256('{"x":1}\n'),
      size: 8,
      attempts: 1,
      entryType: 'object',
    });
    expect(entry!.lagSeconds).toBeLessThan(60);
    expect(Date.parse(entry!.replicatedAt!)).toBeGreaterThanOrEqual(Date.parse(entry!.sourceLastModified));
    expect(entry!).not.toHaveProperty('pendingAsset');
    await expectReplicaMatchesSource('training');
  });

  it('overwrites: both versions replicated, in order, each verified', async () => {
    const key = 'evals/golden.jsonl';
    const v1 = await put(key, 'first');
    const v2 = await put(key, 'second');
    await t.drain();
    const versions = await replicaVersions(key);
    expect(versions).toHaveLength(2);
    expect((await replicaBytes(key, versions[0]!.versionId)).toString()).toBe('first');
    expect((await replicaBytes(key, versions[1]!.versionId)).toString()).toBe('second');
    const entries = await t.ledger.entriesFor('evals', key);
    expect(entries.map((e) => e.sourceVersionId).sort()).toEqual([v1, v2].sort());
    await expectReplicaMatchesSource('evals');
  });

  it('deletes: a delete marker in the replica, earlier versions kept', async () => {
    const key = 'train/delete/tmp.txt';
    await put(key, 'keep me in the replica');
    const marker = await del(key);
    await t.drain();
    const versions = await replicaVersions(replicaKeyFor(training(), key));
    expect(versions.map((v) => v.kind)).toEqual(['object', 'delete-marker']);
    expect((await replicaBytes(replicaKeyFor(training(), key), versions[0]!.versionId)).toString()).toBe('keep me in the replica');
    const entry = (await t.ledger.entriesFor('training', key)).find((e) => e.sourceVersionId === marker);
    expect(entry).toMatchObject({ state: 'replicated', entryType: 'delete-marker', replicaVersionId: versions[1]!.versionId });
    await expectReplicaMatchesSource('training');
  });

  it('the same event twice changes nothing the second time', async () => {
    const key = 'train/dup/a.bin';
    await put(key, 'once');
    const [event] = await t.takeMessages();
    await t.send(event!);
    await t.send(event!);
    await t.drain();
    await t.send(event!); // late duplicate, in a later batch
    await t.drain();
    expect(await replicaVersions(replicaKeyFor(training(), key))).toHaveLength(1);
    const [entry] = await t.ledger.entriesFor('training', key);
    expect(entry!.attempts).toBe(1);
    await expectReplicaMatchesSource('training');
  });

  it('a delete event arriving before the create event of the same key ends in the source history', async () => {
    const key = 'train/reordered/file.txt';
    await put(key, 'v1');
    await del(key);
    const events = await t.takeMessages();
    expect(events.map((e) => (JSON.parse(e) as { 'detail-type': string })['detail-type'])).toEqual(['Object Created', 'Object Deleted']);
    await t.send(events[1]!);
    await t.drain();
    await t.send(events[0]!);
    await t.drain();
    expect((await replicaVersions(replicaKeyFor(training(), key))).map((v) => v.kind)).toEqual(['object', 'delete-marker']);
    await expectReplicaMatchesSource('training');
  });

  it('replays a shuffled, duplicated event history into an identical replica', async () => {
    const keys = ['train/replay/a.txt', 'train/replay/b.txt'];
    await put(keys[0]!, 'a1');
    await put(keys[1]!, 'b1');
    await put(keys[0]!, 'a2');
    await del(keys[1]!);
    await put(keys[1]!, 'b3');
    await del(keys[0]!);
    const events = await t.takeMessages();
    const replay = [...events, ...events.slice(0, 3)].reverse();
    for (const body of replay) await t.send(body);
    await t.drain();
    const rows = await expectReplicaMatchesSource('training');
    expect(rows.filter((r) => r.key.startsWith('train/replay/'))).toHaveLength(6);
  });

  it('random histories of awkward keys, events replayed out of order with duplicates, end identical', async () => {
    let seed = 20261126;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const keys = ['train/rnd/a b.txt', 'train/rnd/c+d.txt', 'train/rnd/%41%.txt', 'train/rnd/é/ü.txt', 'train/rnd/x'];
    let written = 0; // versions and delete markers the source received
    for (let i = 0; i < 30; i++) {
      const key = keys[Math.floor(random() * keys.length)]!;
      const versionId = random() < 0.3 ? await del(key) : await put(key, `${key} #${i}`);
      if (versionId) written++;
    }
    const events = await t.takeMessages();
    const replay = events.flatMap((e) => (random() < 0.3 ? [e, e] : [e])).sort(() => random() - 0.5);
    for (const body of replay) await t.send(body);
    await t.drain();
    const rows = (await expectReplicaMatchesSource('training')).filter((r) => r.key.startsWith('train/rnd/'));
    expect(rows).toHaveLength(written);
    expect(written).toBeGreaterThan(25);
  });

  it.each([
    'train/keys/with space.txt',
    'train/keys/plus+sign.txt',
    'train/keys/percent%20literal%.txt',
    'train/keys/ünïcødé/日本語/😀.txt',
    'train/keys/mixed +%2B %25 é.txt',
  ])('round-trips the key %j exactly', async (key) => {
    await put(key, `content of ${key}`);
    await t.drain();
    const versions = await replicaVersions(replicaKeyFor(training(), key));
    expect(versions).toHaveLength(1);
    expect((await replicaBytes(replicaKeyFor(training(), key), versions[0]!.versionId)).toString()).toBe(`content of ${key}`);
  });

  it('round-trips a 1024-byte key', async () => {
    const key = `evals/${'k'.repeat(1024 - 'evals/'.length - 4)}.txt`;
    expect(Buffer.byteLength(key)).toBe(1024);
    await put(key, 'long');
    await t.drain();
    expect(await replicaVersions(key)).toHaveLength(1);
    await expectReplicaMatchesSource('evals');
  });

  it('decodes URL-encoded keys of S3 -> SQS notifications', async () => {
    const key = 'train/encoded/cat photo+1 100% été.jpg';
    await put(key, 'meow');
    await t.takeMessages();
    const encoded = 'train/encoded/cat+photo%2B1+100%25+%C3%A9t%C3%A9.jpg';
    await t.send(JSON.stringify({ Records: [{ eventSource: 'aws:s3', s3: { bucket: { name: SOURCE }, object: { key: encoded } } }] }));
    await t.drain();
    expect(await replicaVersions(replicaKeyFor(training(), key))).toHaveLength(1);
  });

  it("uses a source's stored full-object SHA-256 and still verifies the copy", async () => {
    const key = 'train/checksummed/shard.bin';
    await put(key, 'with a checksum', { ChecksumAlgorithm: 'SHA256' });
    await t.drain();
    const [entry] = await t.ledger.entriesFor('training', key);
    expect(entry).toMatchObject({ state: 'replicated', sha256: sha256('with a checksum') });
  });

  it('replicates a zero-byte object', async () => {
    const key = 'train/empty/_SUCCESS';
    await put(key, '');
    await t.drain();
    const [entry] = await t.ledger.entriesFor('training', key);
    expect(entry).toMatchObject({ state: 'replicated', size: 0, sha256: sha256('') });
  });

  it('replicates a multipart upload, hashing it (its ETag is not an MD5)', async () => {
    const key = 'train/multipart/shard.bin';
    const parts = [Buffer.alloc(5 * 1024 * 1024, 1), Buffer.from('last part')];
    const { UploadId } = await t.s3.send(new CreateMultipartUploadCommand({ Bucket: SOURCE, Key: key, ChecksumAlgorithm: 'SHA256' }));
    const done = [];
    for (const [i, body] of parts.entries()) {
      const part = await t.s3.send(
        new UploadPartCommand({ Bucket: SOURCE, Key: key, UploadId, PartNumber: i + 1, Body: body, ChecksumAlgorithm: 'SHA256' }),
      );
      done.push({ PartNumber: i + 1, ETag: part.ETag, ChecksumSHA256: part.ChecksumSHA256 });
    }
    await t.s3.send(new CompleteMultipartUploadCommand({ Bucket: SOURCE, Key: key, UploadId, MultipartUpload: { Parts: done } }));
    await t.drain();
    const [entry] = await t.ledger.entriesFor('training', key);
    expect(entry).toMatchObject({ state: 'replicated', sha256: sha256(Buffer.concat(parts)) });
    await expectReplicaMatchesSource('training');
  });

  it('a malformed message fails alone; the rest of its batch is replicated', async () => {
    await t.takeMessages();
    const key = 'train/batch/good.txt';
    await put(key, 'good');
    await t.send('this is not JSON {');
    const result = await t.pollOnce();
    expect(result.received).toBe(2);
    expect(result.batchItemFailures).toHaveLength(1);
    expect(await replicaVersions(replicaKeyFor(training(), key))).toHaveLength(1);
    await t.drain(); // the malformed message ends in the dead-letter queue after maxReceiveCount
    const dead = await t.takeMessages(t.stack.deadLetterQueueUrl);
    expect(dead).toEqual(['this is not JSON {']);
  });

  it('the sample SQS batch: the good record is replicated, only the malformed one is reported failed', async () => {
    const event = loadEvent<SQSEvent>('sqs/valid/batch-with-one-malformed.json');
    const body = JSON.parse(event.Records[0]!.body) as { detail: { bucket: { name: string }; object: { key: string } } };
    body.detail.bucket.name = SOURCE;
    body.detail.object.key = 'train/sample/a.jsonl';
    event.Records[0]!.body = JSON.stringify(body);
    await put('train/sample/a.jsonl', '{"a":1}');
    await t.takeMessages();
    const response = await t.handler(event, localContext('replicate'));
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: event.Records[1]!.messageId }] });
    expect(await replicaVersions('dr/train/sample/a.jsonl')).toHaveLength(1);
  });

  it('ignores keys outside every asset (no failure, nothing written)', async () => {
    await put('scratch/not-protected.txt', 'x');
    await t.send(
      JSON.stringify({
        Records: [{ eventSource: 'aws:s3', s3: { bucket: { name: SOURCE }, object: { key: 'scratch/not-protected.txt' } } }],
      }),
    );
    const drained = await t.drain();
    expect(drained.failed).toBe(0);
    expect(await replicaVersions('scratch/not-protected.txt')).toEqual([]);
  });

  it('a missing replica bucket: failure recorded, retried, dead-lettered, nothing lost after redrive', async () => {
    await t.s3.send(new DeleteBucketCommand({ Bucket: 'it-replica-missing' }));
    const key = 'orphaned/model-card.md';
    const versionId = await put(key, 'precious');
    const drained = await t.drain();
    expect(drained.failed).toBe(3); // maxReceiveCount in the test policy
    const [entry] = await t.ledger.entriesFor('orphaned', key);
    expect(entry).toMatchObject({ state: 'failed', attempts: 3, sourceVersionId: versionId });
    expect(entry!.lastError).toMatch(/NoSuchBucket/);
    expect(await t.ledger.unreplicated('orphaned', 10)).toHaveLength(1);

    const dead = await t.takeMessages(t.stack.deadLetterQueueUrl);
    expect(dead).toHaveLength(1);
    await t.s3.send(
      new CreateBucketCommand({ Bucket: 'it-replica-missing', CreateBucketConfiguration: { LocationConstraint: 'us-west-2' } }),
    );
    await t.s3.send(new PutBucketVersioningCommand({ Bucket: 'it-replica-missing', VersioningConfiguration: { Status: 'Enabled' } }));
    await t.send(dead[0]!); // the operator's redrive (docs/runbooks/replication-failures.md)
    await t.drain();
    const [after] = await t.ledger.entriesFor('orphaned', key);
    expect(after).toMatchObject({ state: 'replicated', attempts: 4 });
    expect(after).not.toHaveProperty('lastError');
    expect(await t.ledger.unreplicated('orphaned', 10)).toEqual([]);
    await expectReplicaMatchesSource('orphaned');
  });
});
