import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, HeadObjectCommand, ListObjectVersionsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localContext } from '../../scripts/local-aws/event-source-mapping.js';
import { startStack, TEST_POLICY, type StackUnderTest } from '../support/local-stack.js';

/**
 * The customer-managed key option (deployment.kmsKey: stack, docs/encryption.md) on the local AWS:
 * the local stack creates the key and encrypts the replica and scratch buckets (bucket default),
 * the ledger and the queues with it, as the packaged template does (the template test checks
 * that side). What is proven here: replication (whole and multipart), verification, restores and
 * the report run unchanged on a stack whose stores are encrypted with the key, every replica version
 * is encrypted with it, and the report (read by people) is not. moto records the key of each
 * object but does not enforce key policies: who may use the key is the template test's.
 */
let t: StackUnderTest;
let dir: string;
const MiB = 1024 * 1024;
const dr = new S3Client({ region: 'us-west-2', forcePathStyle: true });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'encryption-'));
  const text = readFileSync(TEST_POLICY, 'utf8');
  const deployment = 'deployment:\n  region: us-west-2\n';
  if (!text.includes(deployment)) throw new Error(`${TEST_POLICY}: expected "${deployment}"`);
  const file = join(dir, 'kms-policy.yml');
  writeFileSync(file, text.replace(deployment, `${deployment}  kmsKey: stack\n`));
  t = await startStack(file);
  await t.createVersionedBucket('it-restore');
}, 120_000);

afterAll(async () => {
  await t?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const replicaVersions = async (Prefix = '') =>
  (await dr.send(new ListObjectVersionsCommand({ Bucket: 'it-replica', Prefix }))).Versions ?? [];

describe('deployment.kmsKey: stack', () => {
  it('encrypts the ledger and both queues with the stack’s key', async () => {
    const key = t.stack.dataKeyArn;
    expect(key).toMatch(/^arn:aws:kms:us-west-2:\d{12}:key\//);
    const { Table } = await new DynamoDBClient({ region: 'us-west-2' }).send(new DescribeTableCommand({ TableName: t.stack.ledgerTable }));
    expect(Table!.SSEDescription).toMatchObject({ SSEType: 'KMS', KMSMasterKeyArn: key });
    for (const QueueUrl of [t.stack.queueUrl, t.stack.deadLetterQueueUrl]) {
      const { Attributes } = await t.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['KmsMasterKeyId'] }));
      expect(Attributes!.KmsMasterKeyId, QueueUrl).toBe(key);
    }
  });

  it('replicates whole and multipart versions, verified, into replica versions encrypted with the key (S3 Bucket Keys on)', async () => {
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'evals/golden.jsonl', Body: '{"q":1}\n' }));
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'train/big.bin', Body: Buffer.alloc(12 * MiB, 7) }));
    await t.drain();

    expect((await t.ledger.entriesFor('training', 'train/big.bin')).map((e) => e.state)).toEqual(['replicated']);
    expect((await t.ledger.entriesFor('evals', 'evals/golden.jsonl')).map((e) => e.state)).toEqual(['replicated']);
    const versions = await replicaVersions();
    expect(versions.map((v) => v.Key).sort()).toEqual(['dr/train/big.bin', 'evals/golden.jsonl']);
    for (const v of versions) {
      const head = await dr.send(new HeadObjectCommand({ Bucket: 'it-replica', Key: v.Key, VersionId: v.VersionId }));
      expect([head.ServerSideEncryption, head.SSEKMSKeyId, head.BucketKeyEnabled], v.Key).toEqual(['aws:kms', t.stack.dataKeyArn, true]);
    }
    // Read back independently of the replicator: byte-identical by SHA-256 of both sides.
    const rows = [...(await t.report('training')), ...(await t.report('evals'))];
    expect(rows.map((r) => [r.key, r.verified, r.replicaSha256 === r.sourceSha256])).toEqual([
      ['train/big.bin', true, true],
      ['evals/golden.jsonl', true, true],
    ]);
  });

  it('restores from the encrypted replica, byte for byte, verified by SHA-256', async () => {
    const { handler } = await import('../../functions/restore-data.js');
    const invoke = (payload: unknown) => handler(payload, localContext('restore-data')) as Promise<any>;
    const request = { asset: 'training', asOf: new Date().toISOString(), target: { bucket: 'it-restore', prefix: 'restored/' } };
    const { planToken } = await invoke({ ...request, dryRun: true });
    const run = await invoke({ ...request, planToken });
    expect(run).toMatchObject({ state: 'done', result: { restored: { objects: 1 }, failed: 0 } });
    const restored = await t.s3.send(new GetObjectCommand({ Bucket: 'it-restore', Key: 'restored/big.bin' }));
    expect(Buffer.from(await restored.Body!.transformToByteArray()).equals(Buffer.alloc(12 * MiB, 7))).toBe(true);
  });

  it('writes the report with SSE-S3, readable without the key, beside replica versions that need it', async () => {
    const { handler } = await import('../../functions/report.js');
    const answer = (await handler({}, localContext('report'))) as { bucket: string; keys: string[] };
    expect(answer.keys).toContain('_dr-report/index.html');
    for (const key of answer.keys) {
      const head = await dr.send(new HeadObjectCommand({ Bucket: answer.bucket, Key: key }));
      expect([head.ServerSideEncryption, head.SSEKMSKeyId], key).toEqual(['AES256', undefined]);
    }
  });
});
