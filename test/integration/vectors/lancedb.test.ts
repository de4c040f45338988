import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { connect } from '@lancedb/lancedb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lanceDbStore } from '../../../functions/vectors/adapters/lancedb.js';
import { EngineError, type VectorRecord, type VectorStore } from '../../../functions/vectors/vector-store.js';
import { startLocalAws } from '../../../scripts/local-aws/server.js';
import { freshIndexName, sampleRecords, scanAll, vectorStoreContract } from '../../contract/vector-store.contract.js';

const metrics = ['cosine', 'euclidean', 'dot'] as const;

const plain = (records: VectorRecord[]) =>
  records.map((r) => ({ id: r.id, vector: Array.from(r.vector), metadata: r.metadata })).sort((a, b) => (a.id < b.id ? -1 : 1));

vectorStoreContract('lancedb (local directory)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lancedb-contract-'));
  return {
    store: lanceDbStore({ uri: dir }),
    reopen: async () => lanceDbStore({ uri: dir }),
    metrics,
    stop: () => rm(dir, { recursive: true, force: true }),
  };
});

vectorStoreContract('lancedb (s3:// on the local AWS)', async () => {
  const aws = await startLocalAws();
  const s3 = new S3Client({
    endpoint: aws.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await s3.send(new CreateBucketCommand({ Bucket: 'lancedb' }));
  s3.destroy();
  const config = {
    uri: 's3://lancedb/tables',
    storageOptions: {
      aws_endpoint: aws.endpoint,
      aws_access_key_id: 'local',
      aws_secret_access_key: 'local',
      aws_region: 'us-east-1',
      allow_http: 'true',
    },
  };
  return { store: lanceDbStore(config), reopen: async () => lanceDbStore(config), metrics, stop: aws.stop };
});

describe('lancedb adapter (local directory)', () => {
  let dir: string;
  let store: VectorStore;
  const dimensions = 8;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lancedb-adapter-'));
    store = lanceDbStore({ uri: dir });
  });
  afterAll(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('scans the table version of the first page, whatever is written before the next page', async () => {
    const index = freshIndexName();
    const records = sampleRecords(90, dimensions, 5);
    await store.createIndex(index, { dimensions, metric: 'euclidean' });
    await store.write(index, records.slice(0, 40));
    await store.write(index, records.slice(40));

    const first = await store.scan(index, { limit: 30 });
    const changed = records.slice(0, 60).map((r) => ({ ...r, vector: r.vector.map((x) => x + 1), metadata: { changed: true } }));
    await store.write(index, [...changed, ...sampleRecords(25, dimensions, 6)]);

    const resumed = lanceDbStore({ uri: dir });
    try {
      const rest = await scanAll(resumed, index, 30, first.cursor);
      expect(plain([...first.records, ...rest])).toEqual(plain(records));
      expect((await store.describe(index)).count).toBe(115);
    } finally {
      await resumed.close();
      await store.dropIndex(index);
    }
  });

  it('reads a table it did not create: metadata = the other columns, no metric', async () => {
    const index = freshIndexName('user');
    const db = await connect(dir);
    const table = await db.createTable(index, [
      { id: 1n, vector: [0.5, -0.25], title: 'first', year: 2001 },
      { id: 2n, vector: [-1.5, 3], title: 'second', year: 2002 },
    ]);
    table.close();
    db.close();

    expect(await store.describe(index)).toEqual({ dimensions: 2, metric: undefined, count: 2 });
    await store.write(index, [{ id: '3', vector: new Float32Array([2, 2]), metadata: { title: 'third', year: 2003 } }]);
    expect(plain(await scanAll(store, index, 2))).toEqual([
      { id: '1', vector: [0.5, -0.25], metadata: { title: 'first', year: 2001 } },
      { id: '2', vector: [-1.5, 3], metadata: { title: 'second', year: 2002 } },
      { id: '3', vector: [2, 2], metadata: { title: 'third', year: 2003 } },
    ]);
    expect((await store.query(index, new Float32Array([0.5, -0.5]), 3)).map((n) => n.id)).toEqual(['1', '3', '2']);
    await store.dropIndex(index);
  });

  it('restores a native snapshot (a tagged version) into its table; a URL is refused', async () => {
    const index = freshIndexName();
    const records = sampleRecords(20, dimensions, 9);
    await store.createIndex(index, { dimensions, metric: 'cosine' });
    await store.write(index, records);

    const ref = await store.native!.create(index);
    expect(ref).toMatchObject({ format: 'lancedb-version', details: { version: expect.any(Number) } });
    await store.write(index, [...sampleRecords(5, dimensions, 10), { ...records[0]!, metadata: { overwritten: true } }]);
    expect((await store.describe(index)).count).toBe(25);

    await store.native!.restore(index, { ref });
    expect(plain(await scanAll(store, index, 50))).toEqual(plain(records));
    expect(await store.describe(index)).toEqual({ dimensions, metric: 'cosine', count: 20 });
    await expect(store.native!.restore(index, { url: 'https://example.com/snapshot' })).rejects.toBeInstanceOf(EngineError);
    await store.dropIndex(index);
  });
});
