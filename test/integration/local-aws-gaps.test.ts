import { CreateTableCommand, DynamoDBClient, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateQueueCommand, ReceiveMessageCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalAws, startLocalAws } from '../../scripts/local-aws/server.js';

/**
 * What scripts/local-aws/server.py changes in moto for speed (gaps 5, 9 to 11, and the long poll
 * around gap 13) still answers as AWS does.
 * Gap 12 (aws-chunked request bodies) is exercised by every streamed upload (streaming.test.ts).
 */
let aws: LocalAws;
const config = () => ({ region: 'us-east-1', endpoint: aws.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });

beforeAll(async () => {
  aws = await startLocalAws();
}, 60_000);
afterAll(() => aws?.stop());

describe('local AWS (moto with the gaps of server.py closed)', () => {
  it('a ranged GetObject returns exactly the bytes of the range; a plain one the whole object', async () => {
    const s3 = new S3Client({ ...config(), forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: 'gaps' }));
    const body = Buffer.alloc(3 * 1024 * 1024 + 7);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >> 11)) & 0xff;
    await s3.send(new PutObjectCommand({ Bucket: 'gaps', Key: 'k', Body: body }));
    const get = async (Range?: string) => {
      const out = await s3.send(new GetObjectCommand({ Bucket: 'gaps', Key: 'k', Range }));
      return { bytes: Buffer.from(await out.Body!.transformToByteArray()), range: out.ContentRange };
    };
    for (const [start, end] of [
      [0, 0],
      [0, 99],
      [1024 * 1024, 2 * 1024 * 1024 - 1],
      [body.length - 1, body.length - 1],
      [5, body.length + 100], // past the end: up to the last byte
    ] as const) {
      const { bytes, range } = await get(`bytes=${start}-${end}`);
      const last = Math.min(end, body.length - 1);
      expect(bytes.equals(body.subarray(start, last + 1))).toBe(true);
      expect(range).toBe(`bytes ${start}-${last}/${body.length}`);
    }
    expect((await get(`bytes=${body.length - 10}-`)).bytes.equals(body.subarray(body.length - 10))).toBe(true);
    expect((await get('bytes=-10')).bytes.equals(body.subarray(body.length - 10))).toBe(true); // a suffix range: moto's own path
    expect((await get()).bytes.equals(body)).toBe(true);
    await expect(get(`bytes=${body.length}-`)).rejects.toMatchObject({ name: 'InvalidRange' });
  });

  it('listing versions leaves every version readable (the listing shares, never closes, stored content)', async () => {
    const s3 = new S3Client({ ...config(), forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: 'gaps-versions' }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: 'gaps-versions', VersioningConfiguration: { Status: 'Enabled' } }));
    const bodies = ['first', 'second'].map((s) => Buffer.from(s.repeat(10_000)));
    for (const Body of bodies) await s3.send(new PutObjectCommand({ Bucket: 'gaps-versions', Key: 'k', Body }));
    let versions: string[] = [];
    for (let i = 0; i < 5; i++) {
      const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: 'gaps-versions', Prefix: 'k' }));
      versions = (listed.Versions ?? []).map((v) => v.VersionId!);
      expect(listed.Versions?.map((v) => v.IsLatest)).toEqual([true, false]);
    }
    for (const [i, VersionId] of [...versions].reverse().entries()) {
      const out = await s3.send(new GetObjectCommand({ Bucket: 'gaps-versions', Key: 'k', VersionId }));
      expect(Buffer.from(await out.Body!.transformToByteArray()).equals(bodies[i]!)).toBe(true);
    }
  });

  it('a table Query returns the items of its partition only, in sort-key order, paged', async () => {
    const db = new DynamoDBClient(config());
    await db.send(
      new CreateTableCommand({
        TableName: 'gaps',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
      }),
    );
    for (const pk of ['a', 'b', 'c']) {
      for (const sk of ['3', '1', '2']) await db.send(new PutItemCommand({ TableName: 'gaps', Item: { pk: { S: pk }, sk: { S: sk } } }));
    }
    const query = (pk: string, extra = {}) =>
      db.send(new QueryCommand({ TableName: 'gaps', KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: pk } }, ...extra }));
    expect((await query('b')).Items!.map((i) => `${i.pk!.S}${i.sk!.S}`)).toEqual(['b1', 'b2', 'b3']);
    expect((await query('b', { ScanIndexForward: false })).Items!.map((i) => i.sk!.S)).toEqual(['3', '2', '1']);
    const first = await query('c', { Limit: 2 });
    expect(first.Items!.map((i) => i.sk!.S)).toEqual(['1', '2']);
    expect((await query('c', { ExclusiveStartKey: first.LastEvaluatedKey })).Items!.map((i) => i.sk!.S)).toEqual(['3']);
    expect((await query('none')).Items).toEqual([]);
  });

  it('ReceiveMessage delivers from a deep queue', async () => {
    const sqs = new SQSClient(config());
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'gaps', Attributes: { MessageRetentionPeriod: '60' } }));
    for (let i = 0; i < 300; i += 10) {
      await sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: Array.from({ length: 10 }, (_, j) => ({ Id: String(j), MessageBody: String(i + j) })) }));
    }
    const seen = new Set<string>();
    for (let i = 0; i < 60 && seen.size < 300; i++) {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10 }));
      for (const m of Messages) seen.add(m.Body!);
    }
    expect(seen.size).toBe(300);
  });

  // Gap 13 (atomic receives) has no test here: the race it closes did not show in one, with or without it.
  it('a long poll still waits for a message sent meanwhile', async () => {
    const sqs = new SQSClient(config());
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'gaps-long-poll' }));
    const poll = sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 5 }));
    await new Promise((r) => setTimeout(r, 300));
    await sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: [{ Id: '1', MessageBody: 'late' }] }));
    expect((await poll).Messages?.map((m) => m.Body)).toEqual(['late']);
  });
});
