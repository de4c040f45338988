import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgvectorStore } from '../../../functions/vectors/adapters/pgvector.js';
import { EngineError, type Metric, type VectorStore } from '../../../functions/vectors/vector-store.js';
import { freePort } from '../../../scripts/local-aws/server.js';
import { freshIndexName, sampleRecords, scanAll, vectorStoreContract } from '../../contract/vector-store.contract.js';
import { copyOutBaseline, type PgliteServer, startPglite } from '../../../scripts/local-engines/pglite-server.js';
import { vectorSums } from '../../support/vector-sums.js';

const metrics = ['cosine', 'euclidean', 'dot'] as const;

// Two connections: the contract's reopen() opens a second adapter while the first keeps its pooled
// connection, as a later Lambda invocation would against a real Postgres.
vectorStoreContract('pgvector (PGlite 0.5.14, pgvector 0.8.7)', async () => {
  const server = await startPglite({ maxConnections: 2 });
  const open = () => pgvectorStore({ connectionString: server.connectionString });
  return { store: open(), reopen: async () => open(), metrics, stop: server.stop };
});

const bits = (vector: Float32Array) => Array.from(new Uint32Array(vector.buffer, vector.byteOffset, vector.length));

function distance(metric: Metric, a: Float32Array, b: Float32Array): number {
  const { dot, aa, bb, l2 } = vectorSums(a, b);
  return metric === 'cosine' ? 1 - dot / Math.sqrt(aa * bb) : metric === 'euclidean' ? Math.sqrt(l2) : -dot;
}

describe('pgvector adapter (PGlite)', () => {
  let server: PgliteServer;
  let store: VectorStore;
  let sql: pg.Client;

  beforeAll(async () => {
    // The adapter, a plain pg client for tables made by hand, and copyOutBaseline's own client.
    server = await startPglite({ maxConnections: 3 });
    store = pgvectorStore({ connectionString: server.connectionString });
    sql = new pg.Client({ connectionString: server.connectionString });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await store?.close();
    await server?.stop();
  });

  it('round-trips float32 vectors bit for bit, including -0, subnormals and the extremes', async () => {
    const index = freshIndexName('bits');
    const dimensions = 64;
    const patterns = new Uint32Array(dimensions * 20);
    let state = 12345;
    for (let i = 0; i < patterns.length; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      patterns[i] = (state & 0x7f800000) === 0x7f800000 ? state & 0xff7fffff : state; // no NaN or Infinity
    }
    // -0, the smallest subnormal, the largest float32, the smallest normal, 1/3 rounded.
    patterns.set([0x80000000, 0x00000001, 0x7f7fffff, 0x00800000, 0x3eaaaaab]);
    const records = Array.from({ length: 20 }, (_, i) => ({
      id: `bits-${i}`,
      vector: new Float32Array(patterns.buffer, i * dimensions * 4, dimensions),
      metadata: {},
    }));
    await store.createIndex(index, { dimensions, metric: 'euclidean' });
    await store.write(index, records);
    const scanned = new Map((await scanAll(store, index, 7)).map((r) => [r.id, r]));
    for (const record of records) expect(bits(scanned.get(record.id)!.vector), record.id).toEqual(bits(record.vector));
    await store.dropIndex(index);
  });

  it('reads an existing table with bigint ids, ordinary columns and no ANN index, paging in id order', async () => {
    const index = freshIndexName('items');
    await sql.query(`CREATE TABLE "${index}" (id bigint PRIMARY KEY, embedding vector(3), title text, price numeric, in_stock boolean)`);
    await sql.query(
      `INSERT INTO "${index}" VALUES (100, '[1,0,0]', 'hundred', 9.5, true), (2, '[0,1,0]', 'two', 20, false), (10, '[0,0,1]', 'ten', 0.25, true)`,
    );

    expect(await store.describe(index)).toEqual({ dimensions: 3, metric: undefined, count: 3 });
    const records = await scanAll(store, index, 1);
    expect(records.map((r) => r.id)).toEqual(['2', '10', '100']); // numeric order, not text order
    expect(records.map((r) => r.metadata)).toEqual([
      { title: 'two', price: 20, in_stock: false },
      { title: 'ten', price: 0.25, in_stock: true },
      { title: 'hundred', price: 9.5, in_stock: true },
    ]);
    expect(Array.from(records[0]!.vector)).toEqual([0, 1, 0]);
    // No ANN index, so no metric: queried by L2 distance.
    expect((await store.query(index, new Float32Array([0.9, 0.1, 0]), 2)).map((n) => n.id)).toEqual(['100', '2']);

    await sql.query(`CREATE INDEX ON "${index}" USING hnsw (embedding vector_ip_ops)`);
    expect((await store.describe(index)).metric).toBe('dot');
    await store.dropIndex(index);
  });

  it('takes the dimensions of an unconstrained vector column from its stored vectors', async () => {
    const index = freshIndexName('loose');
    await sql.query(`CREATE TABLE "${index}" (id uuid PRIMARY KEY, embedding vector, metadata jsonb)`);
    expect(await store.describe(index)).toEqual({ dimensions: 0, metric: undefined, count: 0 });
    await sql.query(`INSERT INTO "${index}" VALUES ('7b0c4b4e-3f56-4f57-9d55-2a3a4bb0a001', '[1,2,3,4,5]', '{"tag": "x"}')`);
    expect((await store.describe(index)).dimensions).toBe(5);
    expect(await scanAll(store, index, 10)).toEqual([
      { id: '7b0c4b4e-3f56-4f57-9d55-2a3a4bb0a001', vector: new Float32Array([1, 2, 3, 4, 5]), metadata: { tag: 'x' } },
    ]);
    await store.dropIndex(index);
  });

  it.each(metrics)(
    'answers %s queries exactly: more neighbours than the HNSW index could return, in true distance order',
    async (metric) => {
      const index = freshIndexName('exact');
      const records = sampleRecords(300, 16, 5);
      await store.createIndex(index, { dimensions: 16, metric });
      await store.write(index, records);
      const probe = records[42]!.vector;
      const k = 100; // HNSW returns at most hnsw.ef_search (40) rows per index scan.

      const neighbours = await store.query(index, probe, k);
      expect(neighbours).toHaveLength(k);
      const truth = new Map(records.map((r) => [r.id, distance(metric, probe, r.vector)]));
      const scores = neighbours.map((n) => n.score);
      expect(scores).toEqual([...scores].sort((a, b) => a - b));
      for (const n of neighbours) expect(n.score).toBeCloseTo(truth.get(n.id)!, 4);
      const returned = new Set(neighbours.map((n) => n.id));
      const worstReturned = Math.max(...neighbours.map((n) => truth.get(n.id)!));
      for (const [id, d] of truth) if (!returned.has(id)) expect(d, id).toBeGreaterThanOrEqual(worstReturned - 1e-5);
      await store.dropIndex(index);
    },
  );

  it('writes a batch larger than one statement (chunks of 500) all or nothing', async () => {
    const index = freshIndexName('chunks');
    await store.createIndex(index, { dimensions: 4, metric: 'euclidean' });
    await store.write(index, sampleRecords(1201, 4));
    expect((await store.describe(index)).count).toBe(1201);

    const batch = sampleRecords(1100, 4, 2);
    batch[1050] = { ...batch[1050]!, vector: new Float32Array(5) }; // in the third chunk
    await expect(store.write(index, batch)).rejects.toThrow(/write of index ".*" at 127\.0\.0\.1:\d+ failed: expected 4 dimensions, not 5/);
    expect((await store.describe(index)).count).toBe(1201);
    await store.dropIndex(index);
  });

  it('bulk loads without the HNSW index and builds it once at the end (what restores do)', async () => {
    const index = freshIndexName('bulk');
    await store.createIndex(index, { dimensions: 16, metric: 'cosine', bulkLoad: true });
    expect((await store.describe(index)).metric).toBeUndefined(); // no ANN index yet
    const records = sampleRecords(50, 16, 9);
    await store.write(index, records);
    await store.finishLoad!(index, { dimensions: 16, metric: 'cosine' });
    await store.finishLoad!(index, { dimensions: 16, metric: 'cosine' }); // idempotent
    expect(await store.describe(index)).toEqual({ dimensions: 16, metric: 'cosine', count: 50 });
    const client = new pg.Client({ connectionString: server.connectionString });
    await client.connect();
    const { rows } = await client.query('SELECT count(*)::int AS n FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE $2', [
      index,
      '%hnsw%',
    ]);
    await client.end();
    expect(rows[0].n).toBe(1);
    expect((await store.query(index, records[7]!.vector, 3))[0]!.id).toBe(records[7]!.id);
    await store.dropIndex(index);
  });

  it('refuses index names that are not simple identifiers before sending any SQL', async () => {
    await expect(store.describe('items"; DROP TABLE x; --')).rejects.toThrow(/index name .* is not a simple identifier/);
    await expect(store.createIndex('has space', { dimensions: 3, metric: 'cosine' })).rejects.toBeInstanceOf(EngineError);
  });

  it('COPY TO STDOUT works through pglite-socket (the benchmark baseline)', async () => {
    const index = freshIndexName('copy');
    await store.createIndex(index, { dimensions: 16, metric: 'cosine' });
    await store.write(index, sampleRecords(50, 16));
    const { rows, bytes } = await copyOutBaseline(server.connectionString, index);
    expect(rows).toBe(50);
    expect(bytes).toBeGreaterThan(50 * 16 * 2);
    await store.dropIndex(index);
  });
});

describe('pgvector adapter with the engine down', () => {
  it('reports a stopped server as an EngineError naming host and port', async () => {
    const server = await startPglite();
    const store = pgvectorStore({ connectionString: server.connectionString });
    const hostPort = new URL(server.connectionString).host;
    try {
      const index = freshIndexName('down');
      await store.createIndex(index, { dimensions: 3, metric: 'cosine' });
      await server.stop();
      const error = await store.describe(index).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EngineError);
      expect((error as Error).message).toContain(`describe of index "${index}" at ${hostPort} failed`);
    } finally {
      await store.close();
    }
  });

  it('reports a port nobody listens on as an EngineError naming host and port', async () => {
    const port = await freePort();
    const store = pgvectorStore({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`, password: 'secret' });
    try {
      const error = await store.scan('anything', { limit: 10 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EngineError);
      expect((error as Error).message).toMatch(new RegExp(`scan of index "anything" at 127\\.0\\.0\\.1:${port} failed: .*ECONNREFUSED`));
    } finally {
      await store.close();
    }
  });
});
