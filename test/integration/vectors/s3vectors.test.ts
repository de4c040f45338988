import { CreateVectorBucketCommand, ListVectorsCommand, PutVectorsCommand, S3VectorsClient } from '@aws-sdk/client-s3vectors';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { s3VectorsStore } from '../../../functions/vectors/adapters/s3vectors.js';
import { EngineError, type VectorRecord, type VectorStore } from '../../../functions/vectors/vector-store.js';
import { startLocalAws } from '../../../scripts/local-aws/server.js';
import { freshIndexName, sampleRecords, vectorStoreContract } from '../../contract/vector-store.contract.js';

const vectorBucketName = 'dr-vectors';

/** S3 Vectors on the local AWS (moto, with the S3 Vectors gaps closed in scripts/local-aws/moto_patches/s3vectors.py). */
async function startS3Vectors() {
  const aws = await startLocalAws();
  const clients: S3VectorsClient[] = [];
  const newClient = () => {
    const client = new S3VectorsClient({
      endpoint: aws.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    clients.push(client);
    return client;
  };
  await newClient().send(new CreateVectorBucketCommand({ vectorBucketName }));
  const stop = async () => {
    for (const client of clients) client.destroy();
    await aws.stop();
  };
  return { aws, newClient, stop };
}

vectorStoreContract('s3vectors (local AWS)', async () => {
  const { newClient, stop } = await startS3Vectors();
  return {
    store: s3VectorsStore({ vectorBucketName, client: newClient() }),
    reopen: async () => s3VectorsStore({ vectorBucketName, client: newClient() }),
    metrics: ['cosine', 'euclidean'],
    stop,
  };
});

describe('s3vectors adapter', () => {
  let local: Awaited<ReturnType<typeof startS3Vectors>>;
  let client: S3VectorsClient;
  let store: VectorStore;
  const dimensions = 4;

  beforeAll(async () => {
    local = await startS3Vectors();
    client = local.newClient();
    store = s3VectorsStore({ vectorBucketName, client });
  });
  afterAll(async () => {
    await store?.close();
    await local?.stop();
  });

  it('refuses the dot metric, which S3 Vectors does not have', async () => {
    await expect(store.createIndex(freshIndexName(), { dimensions, metric: 'dot' })).rejects.toBeInstanceOf(EngineError);
  });

  it("splits a scan into at most 16 parts, ListVectors' parallel segments, each listed with its segment in every page", async () => {
    const index = freshIndexName();
    const records = sampleRecords(700, dimensions, 5);
    await store.createIndex(index, { dimensions, metric: 'euclidean' });
    await store.write(index, records);
    const send = vi.spyOn(client, 'send');
    try {
      const parts = await store.partitionScan!(index, 64);
      expect(parts).toHaveLength(16);
      let seen = 0;
      for (const cursor of parts) {
        let at: string | undefined = cursor;
        do {
          const page = await store.scan(index, { cursor: at, limit: 20 });
          seen += page.records.length;
          at = page.cursor;
        } while (at);
      }
      expect(seen).toBe(records.length);
      const lists = send.mock.calls.map(([command]) => command).filter((c) => c instanceof ListVectorsCommand) as ListVectorsCommand[];
      expect(lists.length).toBeGreaterThan(16); // some segments took more than one page
      expect(new Set(lists.map((c) => `${c.input.segmentCount}/${c.input.segmentIndex}`)).size).toBe(16);
      expect(lists.every((c) => c.input.segmentCount === 16)).toBe(true);
    } finally {
      send.mockRestore();
      await store.dropIndex(index);
    }
  });

  it('writes in calls of at most 500 vectors and counts past one listing page', async () => {
    const index = freshIndexName();
    const records = sampleRecords(1203, dimensions, 2);
    await store.createIndex(index, { dimensions, metric: 'euclidean' });
    const send = vi.spyOn(client, 'send');
    try {
      await store.write(index, records);
      const puts = send.mock.calls.map(([command]) => command).filter((c) => c instanceof PutVectorsCommand);
      expect(puts.map((c) => (c as PutVectorsCommand).input.vectors?.length)).toEqual([500, 500, 203]);
    } finally {
      send.mockRestore();
    }
    expect(await store.describe(index)).toEqual({ dimensions, metric: 'euclidean', count: 1203 });
    await store.dropIndex(index);
  });

  it('scans a window: vectors written during a scan do not repeat or hide the others', async () => {
    const index = freshIndexName();
    const records = sampleRecords(100, dimensions, 4);
    await store.createIndex(index, { dimensions, metric: 'cosine' });
    await store.write(index, records);

    const scanned: VectorRecord[] = [];
    let page = await store.scan(index, { limit: 30 });
    scanned.push(...page.records);
    await store.write(index, sampleRecords(50, dimensions, 5));
    while (page.cursor !== undefined) {
      page = await store.scan(index, { cursor: page.cursor, limit: 30 });
      scanned.push(...page.records);
    }
    const ids = scanned.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(records.map((r) => r.id)));
    await store.dropIndex(index);
  });
});
