import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { chromaStore, type ChromaConfig } from '../../../functions/vectors/adapters/chroma.js';
import { EngineError, IndexNotFoundError, type VectorRecord, type VectorStore } from '../../../functions/vectors/vector-store.js';
import { freePort } from '../../../scripts/local-aws/server.js';
import { freshIndexName, sampleRecords, vectorStoreContract } from '../../contract/vector-store.contract.js';
import { startChroma, type ChromaServer } from '../../../scripts/local-engines/chroma-server.js';

const config = (url: string): ChromaConfig => ({ url, backoffMs: 0 });

vectorStoreContract('chroma (chromadb 1.5.9, chroma run)', async () => {
  const server = await startChroma();
  return {
    store: chromaStore(config(server.url)),
    reopen: async () => chromaStore(config(server.url)),
    // The contract writes data under metrics[0]: euclidean, as Chroma's cosine collections do not
    // keep vectors bit for bit (see the cosine test below and the adapter's doc comment).
    metrics: ['euclidean', 'cosine', 'dot'],
    stop: () => server.stop(),
  };
});

describe('chroma adapter on a real Chroma', () => {
  let server: ChromaServer;
  let store: VectorStore;
  /** Chroma's REST API without the adapter, as another client would use it. */
  const chroma = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${server.url}/api/v2/tenants/default_tenant/databases/default_database${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    expect(response.status, `${method} ${path}`).toBe(200);
    return response.json() as Promise<{ id: string }>;
  };

  beforeAll(async () => {
    server = await startChroma();
    store = chromaStore(config(server.url));
  });
  afterAll(async () => {
    await store?.close();
    await server?.stop();
  });

  it('reports an engine that is down as an EngineError naming the URL', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const down = chromaStore({ url, attempts: 1 });
    const failure = down.describe('anything').catch((error: unknown) => error);
    await expect(failure).resolves.toBeInstanceOf(EngineError);
    await expect(failure).resolves.not.toBeInstanceOf(IndexNotFoundError);
    expect(((await failure) as Error).message).toContain(url);
    await expect(down.dropIndex('anything')).rejects.toThrow(url);
  });

  it('describes and scans a collection created and filled by another client (legacy hnsw:space metadata)', async () => {
    const index = freshIndexName('outside');
    const { id } = await chroma('POST', '/collections', { name: index, metadata: { 'hnsw:space': 'ip', owner: 'someone' } });
    await chroma('POST', `/collections/${id}/upsert`, {
      ids: ['a', 'b', 'c'],
      embeddings: [
        [0.1, 0.2, 0.3, 0.4, 0.5],
        [1, 0, 0, 0, 0],
        [-1.5, 2.25, 3e-38, 1e-45, 3.4028234663852886e38],
      ],
      metadatas: [{ kind: 'x', n: 1 }, null, { flag: false }],
    });

    expect(await store.describe(index)).toEqual({ dimensions: 5, metric: 'dot', count: 3 });
    const page = await store.scan(index, { limit: 10 });
    expect(page.cursor).toBeUndefined();
    expect(page.records.map((r) => [r.id, Array.from(r.vector), r.metadata])).toEqual([
      ['a', Array.from(Float32Array.of(0.1, 0.2, 0.3, 0.4, 0.5)), { kind: 'x', n: 1 }],
      ['b', [1, 0, 0, 0, 0], {}],
      ['c', Array.from(Float32Array.of(-1.5, 2.25, 3e-38, 1e-45, 3.4028234663852886e38)), { flag: false }],
    ]);
    await store.dropIndex(index);
  });

  it('describes an empty collection it created with the requested dimensions, and refuses vectors of another size', async () => {
    const index = freshIndexName();
    await store.createIndex(index, { dimensions: 7, metric: 'euclidean' });
    expect(await store.describe(index)).toEqual({ dimensions: 7, metric: 'euclidean', count: 0 });
    const [wrong] = sampleRecords(1, 6);
    await expect(store.write(index, [wrong!])).rejects.toThrow(
      /write of index ".*" failed: record "doc-1-00000" has 6 dimensions, the collection 7/,
    );
    expect((await store.describe(index)).count).toBe(0);
    await store.dropIndex(index);
  });

  it('upsert replaces: removed metadata keys go, empty metadata stays empty, -0 and extremes survive', async () => {
    const index = freshIndexName();
    await store.createIndex(index, { dimensions: 4, metric: 'dot' });
    await store.write(index, [
      { id: 'keeps-none', vector: Float32Array.of(1, 2, 3, 4), metadata: { a: 1, b: 'two', c: true } },
      { id: 'empty', vector: Float32Array.of(4, 3, 2, 1), metadata: {} },
    ]);
    const replaced: VectorRecord[] = [
      { id: 'keeps-none', vector: Float32Array.of(-0, 1e-45, -3.4028234663852886e38, 0.1), metadata: {} },
      { id: 'empty', vector: Float32Array.of(1, 1, 1, 1), metadata: { b: 'new' } },
    ];
    await store.write(index, replaced);

    expect((await store.describe(index)).count).toBe(2);
    const { records } = await store.scan(index, { limit: 10 });
    const byId = new Map(records.map((r) => [r.id, r]));
    for (const want of replaced) {
      const got = byId.get(want.id)!;
      expect(got.metadata).toEqual(want.metadata);
      expect(Buffer.from(got.vector.buffer).equals(Buffer.from(want.vector.buffer)), `bits of ${want.id}`).toBe(true);
    }
    await store.dropIndex(index);
  });

  it('refuses a cursor from a collection that was dropped and created again under the same name', async () => {
    const index = freshIndexName();
    await store.createIndex(index, { dimensions: 3, metric: 'cosine' });
    await store.write(index, sampleRecords(5, 3));
    const { cursor } = await store.scan(index, { limit: 2 });
    expect(cursor).toBeDefined();
    await store.dropIndex(index);
    await store.createIndex(index, { dimensions: 3, metric: 'cosine' });
    await expect(store.scan(index, { cursor, limit: 2 })).rejects.toThrow(/dropped and created again/);
    await store.dropIndex(index);
  });

  it('asks for the next page while a page is read, and each page once: one read-ahead past the end in all', async () => {
    const index = freshIndexName();
    const written = sampleRecords(9, 3);
    await store.createIndex(index, { dimensions: 3, metric: 'euclidean' });
    await store.write(index, written);
    const reading = chromaStore(config(server.url));
    const offsets: number[] = [];
    const realFetch = globalThis.fetch;
    const spy = vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
      if (String(input).endsWith('/get') && typeof init?.body === 'string')
        offsets.push((JSON.parse(init.body) as { offset: number }).offset);
      return realFetch(input, init);
    });
    try {
      const scanned: VectorRecord[] = [];
      let page = await reading.scan(index, { limit: 2 });
      // The first page answered, the second was asked for with it.
      expect(offsets).toEqual([0, 2]);
      scanned.push(...page.records);
      while (page.cursor) {
        page = await reading.scan(index, { cursor: page.cursor, limit: 2 });
        scanned.push(...page.records);
      }
      expect(offsets).toEqual([0, 2, 4, 6, 8, 10]);
      expect(new Map(scanned.map((r) => [r.id, r]))).toEqual(new Map(written.map((r) => [r.id, r])));
      expect(scanned).toHaveLength(written.length);
    } finally {
      spy.mockRestore();
      await store.dropIndex(index);
    }
  });

  it('round-trips vectors of a cosine collection only to within 2 ulp (Chroma stores them normalised)', async () => {
    const index = freshIndexName();
    const records = sampleRecords(50, 16, 5);
    await store.createIndex(index, { dimensions: 16, metric: 'cosine' });
    await store.write(index, records);
    const byId = new Map((await store.scan(index, { limit: 100 })).records.map((r) => [r.id, r]));
    expect(byId.size).toBe(records.length);
    for (const want of records) {
      const got = new Int32Array(byId.get(want.id)!.vector.buffer);
      const bits = new Int32Array(want.vector.buffer);
      const ulps = Array.from(got, (g, i) => Math.abs(g - bits[i]!));
      expect(Math.max(...ulps), `ulps off in ${want.id}`).toBeLessThanOrEqual(2);
      expect(byId.get(want.id)!.metadata).toEqual(want.metadata);
    }
    await store.dropIndex(index);
  });

  it('keeps float metadata exact although Chroma rounds some of it, and scans its dr:exact key away', async () => {
    const index = freshIndexName();
    await store.createIndex(index, { dimensions: 2, metric: 'euclidean' });
    let state = 42;
    const next = () => (state = (state * 48271) % 2147483647) / 2147483647;
    const records: VectorRecord[] = Array.from({ length: 400 }, (_, i) => ({
      id: `m-${i}`,
      vector: Float32Array.of(i, 1),
      metadata: {
        f32: Math.fround(next()),
        f64: (next() - 0.5) * 10 ** Math.floor(next() * 40 - 20),
        short: i + 0.25,
        list: [next(), Math.fround(next())],
      },
    }));
    await store.write(index, records);

    const scanned: VectorRecord[] = [];
    for (let cursor: string | undefined, first = true; first || cursor !== undefined; first = false) {
      const page = await store.scan(index, { cursor, limit: 150 });
      scanned.push(...page.records);
      cursor = page.cursor;
    }
    expect(new Map(scanned.map((r) => [r.id, r.metadata]))).toEqual(new Map(records.map((r) => [r.id, r.metadata])));

    // What Chroma itself keeps: some values an ulp off, which is why the adapter adds dr:exact.
    const { id } = await chroma('GET', `/collections/${index}`);
    const raw = (await chroma('POST', `/collections/${id}/get`, { include: ['metadatas'] })) as unknown as {
      ids: string[];
      metadatas: Record<string, unknown>[];
    };
    const written = new Map(records.map((r) => [r.id, r.metadata]));
    const moved = raw.ids.filter((rid, i) => raw.metadatas[i]!.f32 !== written.get(rid)!.f32);
    expect(moved.length).toBeGreaterThan(0);
    for (const rid of moved) expect(raw.metadatas[raw.ids.indexOf(rid)]!['dr:exact']).toEqual(expect.any(String));
    await store.dropIndex(index);
  });
});
