import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idPayloadKey, pointIdOf, qdrantStore, qdrantSnapshotFormat } from '../../../functions/vectors/adapters/qdrant.js';
import { EngineError, IndexNotFoundError, type VectorRecord, type VectorStore } from '../../../functions/vectors/vector-store.js';
import { freePort } from '../../../scripts/local-aws/server.js';
import { freshIndexName, sampleRecords, scanAll, vectorStoreContract } from '../../contract/vector-store.contract.js';
import { startQdrantEmulator, type QdrantEmulator } from '../../support/engines/qdrant-emulator.js';

const apiVersion = '1.13';
const fixtureDir = join(import.meta.dirname, '../../fixtures/engines/qdrant', `v${apiVersion}`);

interface Fixture {
  apiVersion: string;
  source: string;
  request: { method: string; path: string; headers?: Record<string, string>; body?: unknown };
  response: { status: number; body: unknown };
}
const fixture = (name: string) => JSON.parse(readFileSync(join(fixtureDir, `${name}.json`), 'utf8')) as Fixture;

/** Keys and types, recursively (arrays element by element): what must match between emulator and docs. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shape);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, shape((value as Record<string, unknown>)[key])]),
    );
  }
  return value === null ? 'null' : typeof value;
}

/** A request body's structure: arrays by their first element, point ids and payloads by kind only. */
function structure(value: unknown, key = ''): unknown {
  if (key === 'id') return 'point id';
  if (key === 'payload') return 'payload';
  if (Array.isArray(value)) return value.length === 0 ? [] : [structure(value[0])];
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, structure((value as Record<string, unknown>)[k], k)]),
    );
  }
  return value === null ? 'null' : typeof value;
}

async function bytesOf(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** The raw points of a collection, as Qdrant holds them. */
async function rawPoints(emulator: QdrantEmulator, index: string) {
  const response = await fetch(`${emulator.url}/collections/${index}/points/scroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ limit: 1000, with_payload: true, with_vector: false }),
  });
  return ((await response.json()) as { result: { points: { id: number | string; payload: Record<string, unknown> }[] } }).result.points;
}

vectorStoreContract(`qdrant (recorded exchanges, API ${apiVersion})`, async () => {
  // An api key on every request: the emulator refuses requests without it.
  const emulator = await startQdrantEmulator({ apiKey: 'contract-key' });
  const open = () => qdrantStore({ url: emulator.url, apiKey: 'contract-key', backoffMs: 0 });
  return {
    store: open(),
    reopen: async () => open(),
    // Euclid first: the round-trip tests use the first metric, and Qdrant normalises Cosine vectors
    // (see 'cosine collections hold normalised vectors' below).
    metrics: ['euclidean', 'cosine', 'dot'],
    stop: () => emulator.stop(),
  };
});

describe(`qdrant adapter against the emulator (API ${apiVersion})`, () => {
  let emulator: QdrantEmulator;
  let store: VectorStore;

  beforeAll(async () => {
    emulator = await startQdrantEmulator();
    store = qdrantStore({ url: emulator.url, backoffMs: 0 });
  });
  afterAll(async () => {
    await store?.close();
    await emulator?.stop();
  });

  // The order the recorded exchanges replay in; every fixture file must be in it.
  const replayOrder = [
    'create-collection',
    'create-collection-conflict',
    'upsert-points',
    'get-collection',
    'count-points',
    'scroll-points',
    'query-points',
    'create-snapshot',
    'recover-snapshot',
    'delete-collection',
    'delete-collection-missing',
    'get-collection-missing',
  ];

  it('answers every recorded request with a response shaped like the recorded one', async () => {
    expect(
      readdirSync(fixtureDir)
        .map((file) => file.replace(/\.json$/, ''))
        .sort(),
    ).toEqual([...replayOrder].sort());
    const tokens: Record<string, string> = { '{base_url}': emulator.url };
    const fill = (text: string) => text.replace(/\{base_url\}|\{snapshot_name\}|\{snapshot_checksum\}/g, (token) => tokens[token]!);
    for (const name of replayOrder) {
      const { apiVersion: version, source, request, response } = fixture(name);
      expect(version).toBe(apiVersion);
      expect(source).toMatch(/https:\/\//);
      const answer = await fetch(`${emulator.url}${fill(request.path)}`, {
        method: request.method,
        headers: request.headers,
        body: request.body === undefined ? undefined : fill(JSON.stringify(request.body)),
      });
      const body = (await answer.json()) as { result?: { name?: string; checksum?: string } };
      expect({ name, status: answer.status }).toEqual({ name, status: response.status });
      expect(shape(body), name).toEqual(shape(response.body));
      if (name === 'create-snapshot')
        Object.assign(tokens, { '{snapshot_name}': body.result!.name, '{snapshot_checksum}': body.result!.checksum });
    }
  });

  it("sends the recorded requests' method, path and body structure for its main operations", async () => {
    const index = freshIndexName('shape');
    const from = emulator.requests.length;
    await store.createIndex(index, { dimensions: 4, metric: 'dot' });
    await store.write(index, sampleRecords(3, 4));
    await store.describe(index);
    await store.scan(index, { limit: 2 });
    await store.query(index, new Float32Array([0.2, 0.1, 0.9, 0.7]), 3);
    const ref = await store.native!.create(index);
    await store.native!.restore(index, { ref });
    await store.dropIndex(index);
    const sent = emulator.requests.slice(from);

    // Every recorded exchange but the error cases (a conflict, something missing).
    const mainOperations = replayOrder.filter((name) => !/-(conflict|missing)$/.test(name));
    expect(mainOperations).toHaveLength(9);
    for (const name of mainOperations) {
      const { request } = fixture(name);
      const path = request.path.replace('test_collection', index);
      const match = sent.find((r) => r.method === request.method && r.url === path);
      expect(match, `${name}: ${request.method} ${path}`).toBeDefined();
      expect(structure(match!.body), name).toEqual(structure(request.body));
      if (request.body !== undefined) expect(match!.headers['content-type'], name).toBe('application/json');
    }
    expect((sent.find((r) => r.url.endsWith('/points/query'))!.body as { params: unknown }).params).toEqual({ exact: true });
    expect(store.exactSearch).toBe(true);
    expect(store.consistency).toBe('window');
  });

  it('reports an engine it cannot reach as an EngineError naming the URL', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const down = qdrantStore({ url, attempts: 2, backoffMs: 0 });
    const failure = down.describe('anything');
    await expect(failure).rejects.toBeInstanceOf(EngineError);
    await expect(failure).rejects.toThrow(`${url}/collections/anything`);
  });

  it('retries a 500 and succeeds; a 500 that persists is an EngineError naming operation and index', async () => {
    const index = freshIndexName('retry');
    const from = emulator.requests.length;
    emulator.failNext(1, 500);
    await store.createIndex(index, { dimensions: 4, metric: 'euclidean' });
    expect(emulator.requests.slice(from).map((r) => `${r.method} ${r.url}`)).toEqual([
      `PUT /collections/${index}`,
      `PUT /collections/${index}`,
    ]);
    expect(await store.describe(index)).toEqual({ dimensions: 4, metric: 'euclidean', count: 0 });

    emulator.failNext(3, 503);
    const failure = store.write(index, sampleRecords(1, 4));
    await expect(failure).rejects.toBeInstanceOf(EngineError);
    await expect(failure).rejects.toThrow(`write of index "${index}" failed`);
    await expect(failure).rejects.toThrow('503');
    await store.dropIndex(index);
  });

  it('maps 404 on a collection to IndexNotFoundError and passes other client errors on as EngineError', async () => {
    const missing = freshIndexName('missing');
    for (const attempt of [
      () => store.describe(missing),
      () => store.scan(missing, { limit: 5 }),
      () => store.write(missing, sampleRecords(1, 4)),
      () => store.query(missing, new Float32Array(4), 1),
      () => store.native!.create(missing),
    ]) {
      await expect(attempt()).rejects.toBeInstanceOf(IndexNotFoundError);
    }
    const index = freshIndexName('bad');
    await store.createIndex(index, { dimensions: 4, metric: 'dot' });
    const wrongSize = store.write(index, sampleRecords(1, 3));
    await expect(wrongSize).rejects.toBeInstanceOf(EngineError);
    await expect(wrongSize).rejects.toThrow(/write of index "bad-.*" failed: .*400.*Vector dimension error/);
    await expect(store.scan(index, { cursor: 'not-a-cursor', limit: 5 })).rejects.toThrow('is not one this adapter issued');
    await store.dropIndex(index);
  });

  it('keeps integer and UUID ids as point ids and maps other ids to name-based UUIDs, the original in the payload', async () => {
    const index = freshIndexName('ids');
    const [a, b, c, d, e] = sampleRecords(5, 4);
    const records: VectorRecord[] = [
      { ...a!, id: '42' },
      { ...b!, id: '550e8400-e29b-41d4-a716-446655440000' },
      { ...c!, id: '550E8400-E29B-41D4-A716-446655440001' }, // Qdrant would answer it in lowercase
      { ...d!, id: '007' }, // would come back as 7
      { ...e!, id: String(2n ** 60n) }, // above 2^53: would not read back exactly from JSON
    ];
    await store.createIndex(index, { dimensions: 4, metric: 'euclidean' });
    await store.write(index, records);

    const raw = new Map((await rawPoints(emulator, index)).map((p) => [p.id, p.payload]));
    expect(raw.get(42)).toEqual(records[0]!.metadata);
    expect(raw.get('550e8400-e29b-41d4-a716-446655440000')).toEqual(records[1]!.metadata);
    for (const mapped of records.slice(2)) {
      const uuid = pointIdOf(mapped.id) as string;
      expect(uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(raw.get(uuid)).toEqual({ ...mapped.metadata, [idPayloadKey]: mapped.id });
    }
    expect(pointIdOf('doc-1-00001')).toBe(pointIdOf('doc-1-00001'));
    expect(pointIdOf('doc-1-00001')).not.toBe(pointIdOf('doc-1-00002'));

    const scanned = (await scanAll(store, index, 40)).sort((a, b) => (a.id < b.id ? -1 : 1));
    expect(scanned.map((r) => r.id)).toEqual(records.map((r) => r.id).sort());
    for (const record of scanned) expect(record.metadata).toEqual(records.find((r) => r.id === record.id)!.metadata);
    expect((await store.query(index, records[4]!.vector, 1))[0]!.id).toBe(String(2n ** 60n));

    const reserved = store.write(index, [{ ...a!, metadata: { [idPayloadKey]: 'x' } }]);
    await expect(reserved).rejects.toThrow(`metadata key "${idPayloadKey}" is reserved`);
    await store.dropIndex(index);
  });

  it('cosine collections hold normalised vectors: a scan returns those, not the ones written', async () => {
    const index = freshIndexName('cosine');
    const records = sampleRecords(20, 8, 5);
    await store.createIndex(index, { dimensions: 8, metric: 'cosine' });
    await store.write(index, records);
    for (const record of (await scanAll(store, index, 40)).sort((a, b) => (a.id < b.id ? -1 : 1))) {
      const written = records.find((r) => r.id === record.id)!.vector;
      const norm = (v: Float32Array) => Math.hypot(...v);
      expect(norm(record.vector)).toBeCloseTo(1, 5);
      record.vector.forEach((x, i) => expect(x).toBeCloseTo(written[i]! / norm(written), 6));
    }
    await store.dropIndex(index);
  });

  describe('native snapshots', () => {
    const records = sampleRecords(90, 8, 21);
    let source: string;

    beforeAll(async () => {
      source = freshIndexName('snap');
      await store.createIndex(source, { dimensions: 8, metric: 'dot' });
      await store.write(source, records);
    });

    it('creates a snapshot, downloads its bytes and restores it by ref into a new and over an existing index', async () => {
      const ref = await store.native!.create(source);
      expect(ref).toMatchObject({ format: qdrantSnapshotFormat, details: { collection: source } });
      expect(ref.id).toMatch(new RegExp(`^${source}-\\d+-[\\d-]+\\.snapshot$`));

      const bytes = await bytesOf(await store.native!.download!(source, ref));
      expect(bytes.length).toBe(ref.details!.size);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(ref.details!.checksum);

      const restored = freshIndexName('restored');
      await store.native!.restore(restored, { ref });
      expect(await store.describe(restored)).toEqual({ dimensions: 8, metric: 'dot', count: records.length });
      expect(await scanAll(store, restored)).toEqual(await scanAll(store, source));

      // Recovery replaces what the target holds (priority "snapshot").
      await store.write(restored, sampleRecords(3, 8, 99));
      await store.native!.restore(restored, { ref });
      expect((await store.describe(restored)).count).toBe(records.length);
      await store.dropIndex(restored);
    });

    it('restores from a URL serving the stored bytes after the source collection is gone', async () => {
      const ref = await store.native!.create(source);
      const bytes = await bytesOf(await store.native!.download!(source, ref));
      const expected = await scanAll(store, source);
      const copy = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(bytes));
      await new Promise<void>((resolve) => copy.listen(0, '127.0.0.1', resolve));
      try {
        await store.dropIndex(source);
        // Qdrant serves a collection's snapshots only while the collection exists.
        await expect(store.native!.restore(source, { ref })).rejects.toBeInstanceOf(EngineError);

        const url = `http://127.0.0.1:${(copy.address() as AddressInfo).port}/stored-copy.snapshot`;
        await store.native!.restore(source, { url });
        expect(await scanAll(store, source)).toEqual(expected);
      } finally {
        copy.closeAllConnections();
        await new Promise((resolve) => copy.close(resolve));
      }
    });

    it('refuses a ref of another format and a snapshot whose checksum does not match', async () => {
      const ref = await store.native!.create(source);
      await expect(store.native!.restore(source, { ref: { ...ref, format: 'lancedb-version' } })).rejects.toThrow(
        'is not a qdrant-snapshot',
      );
      const tampered = { ...ref, details: { ...ref.details, checksum: '0'.repeat(64) } };
      const failure = store.native!.restore(freshIndexName('tampered'), { ref: tampered });
      await expect(failure).rejects.toBeInstanceOf(EngineError);
      await expect(failure).rejects.toThrow('checksum mismatch');
    });

    it('restores by ref on a server with an api key: the key goes along for the self-download', async () => {
      const secured = await startQdrantEmulator({ apiKey: 'secret' });
      const keyed = qdrantStore({ url: secured.url, apiKey: 'secret', backoffMs: 0 });
      try {
        const index = freshIndexName('keyed');
        await keyed.createIndex(index, { dimensions: 8, metric: 'euclidean' });
        await keyed.write(index, records.slice(0, 10));
        const ref = await keyed.native!.create(index);
        const copy = freshIndexName('keyed-copy');
        await keyed.native!.restore(copy, { ref });
        expect(await scanAll(keyed, copy)).toEqual(await scanAll(keyed, index));
        const recover = secured.requests.find((r) => r.url === `/collections/${copy}/snapshots/recover?wait=true`)!;
        expect(recover.body).toMatchObject({ api_key: 'secret', priority: 'snapshot', checksum: ref.details!.checksum });
        await expect(qdrantStore({ url: secured.url, backoffMs: 0 }).describe(index)).rejects.toThrow('401');
      } finally {
        await secured.stop();
      }
    });
  });
});
