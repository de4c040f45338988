import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { weaviateStore, type WeaviateConfig } from '../../../functions/vectors/adapters/weaviate.js';
import {
  EngineError,
  IndexExistsError,
  IndexNotFoundError,
  type VectorRecord,
  type VectorStore,
} from '../../../functions/vectors/vector-store.js';
import { freePort } from '../../../scripts/local-aws/server.js';
import { freshIndexName, sampleRecords, scanAll, vectorStoreContract } from '../../contract/vector-store.contract.js';
import { startWeaviateEmulator, type WeaviateEmulator } from '../../support/engines/weaviate-emulator.js';

/**
 * The Weaviate adapter against an emulator of Weaviate 1.25's REST API v1 (no Weaviate server runs
 * here). The emulator is held to the documented exchanges in test/fixtures/engines/weaviate/1.25, and
 * the adapter's requests are held to the same fixtures.
 */
const apiVersion = '1.25';
const fixtureDir = join(import.meta.dirname, '../../fixtures/engines/weaviate', apiVersion);

interface Fixture {
  name: string;
  apiVersion: string;
  source: string;
  request: { method: string; path: string; body?: unknown };
  response: { status: number; body: unknown };
}

const fixtures: Fixture[] = readdirSync(fixtureDir)
  .filter((file) => file.endsWith('.json'))
  .sort()
  .map((file) => ({
    name: file.replace(/\.json$/, ''),
    ...(JSON.parse(readFileSync(join(fixtureDir, file), 'utf8')) as Omit<Fixture, 'name'>),
  }));

type Shape = string | Shape[] | { [key: string]: Shape };

/**
 * The keys and value types of a JSON value, recursively; an array's shape is the set of its elements'
 * shapes. Keys in `opaque` (free-form maps such as an object's properties) keep only their type.
 */
function shapeOf(value: unknown, opaque: ReadonlySet<string> = new Set()): Shape {
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    const shapes = new Map(value.map((item) => shapeOf(item, opaque)).map((shape) => [JSON.stringify(shape), shape]));
    return [...shapes.keys()].sort().map((key) => shapes.get(key)!);
  }
  if (typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => {
          const item = (value as Record<string, unknown>)[key];
          return [key, opaque.has(key) ? (Array.isArray(item) ? 'array' : typeof item) : shapeOf(item, opaque)];
        }),
    );
  }
  return typeof value;
}

/** A GraphQL query with its class, property selection and literals replaced by placeholders. */
function graphqlTemplate(query: string): string {
  return query
    .replace(/\s+/g, ' ')
    .replace(/(Aggregate|Get) \{ \w+/, '$1 { C')
    .replace(/\[[^\]]*\]/g, '[…]')
    .replace(/-?\d+(\.\d+)?(e-?\d+)?/g, '#')
    .replace(/\) \{ [\w ]*?_additional/, ') { P _additional');
}

/** Method, path with its variable segments named, the query's parameter names, the GraphQL query's form. */
function requestTemplate(request: { method: string; path: string; body?: unknown }): string {
  const url = new URL(request.path, 'http://weaviate');
  const segments = url.pathname.split('/').map((segment, i, all) => {
    if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(segment)) return '{uuid}';
    if (all[i - 1] === 'schema') return '{class}';
    if (all[i - 1] === 'backups') return '{backend}';
    if (all[i - 2] === 'backups') return '{backup}';
    return segment;
  });
  const parameters = [...url.searchParams.keys()].sort().join('&');
  const query = (request.body as { query?: unknown } | undefined)?.query;
  return `${request.method} ${segments.join('/')}${parameters ? `?${parameters}` : ''}${typeof query === 'string' ? ` ${graphqlTemplate(query)}` : ''}`;
}

const classOf = (index: string) => index[0]!.toUpperCase() + index.slice(1).replaceAll('-', '_');

vectorStoreContract(`weaviate (recorded exchanges, API ${apiVersion})`, async () => {
  const emulator = await startWeaviateEmulator();
  const config: WeaviateConfig = { url: emulator.url, backoffMs: 0 };
  return {
    store: weaviateStore(config),
    reopen: async () => weaviateStore(config),
    metrics: ['cosine', 'euclidean', 'dot'],
    stop: () => emulator.stop(),
  };
});

describe(`weaviate emulator answers like the recorded exchanges (API ${apiVersion})`, () => {
  let emulator: WeaviateEmulator;
  beforeAll(async () => {
    emulator = await startWeaviateEmulator({ pollsInProgress: 0 });
  });
  afterAll(() => emulator?.stop());

  it('has a fixture for every endpoint the adapter uses, each citing its source', () => {
    expect(fixtures.map((f) => requestTemplate(f.request).split(' ').slice(0, 2).join(' '))).toEqual(
      expect.arrayContaining([
        'POST /v1/schema',
        'GET /v1/schema/{class}',
        'DELETE /v1/schema/{class}',
        'POST /v1/batch/objects',
        'GET /v1/objects?after&class&include&limit',
        'POST /v1/graphql',
        'POST /v1/backups/{backend}',
        'GET /v1/backups/{backend}/{backup}',
        'POST /v1/backups/{backend}/{backup}/restore',
        'GET /v1/backups/{backend}/{backup}/restore',
      ]),
    );
    for (const fixture of fixtures) {
      expect(fixture.apiVersion).toContain(apiVersion);
      expect(fixture.source).toMatch(/weaviate/i);
    }
  });

  // In file order: each exchange leaves the state the next one expects (create, write, read, back up, drop, restore).
  for (const fixture of fixtures) {
    it(`${fixture.name}: ${fixture.request.method} ${fixture.request.path}`, async () => {
      const { method, path, body } = fixture.request;
      const response = await fetch(`${emulator.url}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      expect(response.status).toBe(fixture.response.status);
      expect(shapeOf(text === '' ? null : JSON.parse(text))).toEqual(shapeOf(fixture.response.body));
    });
  }
});

describe(`weaviate adapter sends the recorded requests (API ${apiVersion})`, () => {
  it('every fixture request has an adapter request of the same method, path, parameters and body shape', async () => {
    const emulator = await startWeaviateEmulator();
    const store = weaviateStore({ url: emulator.url, backoffMs: 0 });
    try {
      const index = freshIndexName('requests');
      const records = sampleRecords(5, 3, 5);
      await store.createIndex(index, { dimensions: 3, metric: 'cosine' });
      await expect(store.createIndex(index, { dimensions: 3, metric: 'cosine' })).rejects.toBeInstanceOf(IndexExistsError);
      await store.write(index, records);
      await expect(store.write(index, sampleRecords(1, 2, 9))).rejects.toBeInstanceOf(EngineError);
      expect(await scanAll(store, index, 2)).toHaveLength(5);
      await store.describe(index);
      await store.query(index, records[0]!.vector, 2);
      const ref = await store.native!.create(index);
      await store.dropIndex(index);
      await expect(store.describe(index)).rejects.toBeInstanceOf(IndexNotFoundError);
      await expect(store.scan(index, { limit: 2 })).rejects.toBeInstanceOf(IndexNotFoundError);
      await store.native!.restore(index, { ref });

      const opaque = new Set(['properties']);
      for (const fixture of fixtures) {
        const template = requestTemplate(fixture.request);
        const sent = emulator.requests.filter((request) => requestTemplate(request) === template);
        expect(sent.length, `no adapter request like ${fixture.name}: ${template}`).toBeGreaterThan(0);
        for (const request of sent) {
          expect(shapeOf(request.body, opaque), `${fixture.name}: ${request.method} ${request.path}`).toEqual(
            shapeOf(fixture.request.body ?? null, opaque),
          );
        }
      }
    } finally {
      await store.close();
      await emulator.stop();
    }
  });
});

describe('weaviate adapter mapping and error paths', () => {
  let emulator: WeaviateEmulator;
  let store: VectorStore;
  beforeAll(async () => {
    emulator = await startWeaviateEmulator();
    store = weaviateStore({ url: emulator.url, backoffMs: 0 });
  });
  afterAll(async () => {
    await store?.close();
    await emulator?.stop();
  });

  it('maps index names to class names and refuses names it cannot map', async () => {
    const index = freshIndexName('mapping');
    await store.createIndex(index, { dimensions: 4, metric: 'euclidean' });
    const schema = (await (await fetch(`${emulator.url}/v1/schema/${classOf(index)}`)).json()) as {
      class: string;
      vectorIndexConfig: { distance: string };
    };
    expect(schema.class).toBe(classOf(index));
    expect(schema.vectorIndexConfig.distance).toBe('l2-squared');
    expect(await store.describe(index)).toEqual({ dimensions: 4, metric: 'euclidean', count: 0 });
    for (const bad of ['Contract-1', 'contract_1', '1-contract', '', 'x'.repeat(256)]) {
      await expect(store.describe(bad)).rejects.toThrow(/cannot map to a Weaviate class/);
    }
    await store.dropIndex(index);
  });

  it('keeps canonical UUIDs, maps other ids to their UUIDv5 and gives the original ids back', async () => {
    const index = freshIndexName('ids');
    const uuid = '0b4f2d3c-8a41-4c1e-9d2a-5f6e7a8b9c0d';
    const records: VectorRecord[] = [
      { id: uuid, vector: Float32Array.of(1, 0, 0), metadata: { kind: 'uuid' } },
      { id: 'python.org', vector: Float32Array.of(0, 1, 0), metadata: { kind: 'name', missing: null } },
      { id: '42', vector: Float32Array.of(0, 0, 1), metadata: {} },
    ];
    await store.createIndex(index, { dimensions: 3, metric: 'cosine' });
    await store.write(index, records);
    // uuid.uuid5(uuid.NAMESPACE_DNS, 'python.org') in Python's documentation.
    expect(emulator.objectIds(classOf(index))).toContain('886313e1-3b8a-5372-9b90-0c9aee199e5d');
    expect(emulator.objectIds(classOf(index))).toContain(uuid);
    const scanned = await scanAll(store, index, 2);
    expect(new Map(scanned.map((r) => [r.id, r.metadata]))).toEqual(
      new Map([
        [uuid, { kind: 'uuid' }],
        ['python.org', { kind: 'name' }], // Weaviate keeps no null properties
        ['42', {}],
      ]),
    );
    expect((await store.query(index, Float32Array.of(0, 1, 0), 3)).map((n) => n.id)[0]).toBe('python.org');
    expect((await store.query(index, Float32Array.of(1, 0, 0), 3)).map((n) => n.id)[0]).toBe(uuid);
    await store.dropIndex(index);
  });

  it('refuses metadata keys Weaviate would rename or reserves', async () => {
    const index = freshIndexName('keys');
    await store.createIndex(index, { dimensions: 2, metric: 'dot' });
    for (const key of ['Title', 'my-key', 'id', 'drSourceId', '_private']) {
      await expect(store.write(index, [{ id: 'a', vector: Float32Array.of(1, 2), metadata: { [key]: 1 } }])).rejects.toThrow(
        new RegExp(`metadata key "${key}"`),
      );
    }
    await store.dropIndex(index);
  });

  it('reports objects Weaviate refused inside a 200 batch answer as an EngineError', async () => {
    const index = freshIndexName('refused');
    await store.createIndex(index, { dimensions: 3, metric: 'cosine' });
    await store.write(index, sampleRecords(2, 3, 1));
    const error = await store.write(index, [{ id: 'short-one', vector: Float32Array.of(1, 2), metadata: {} }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineError);
    expect((error as Error).message).toMatch(
      /write of index ".*" failed: 1 of 1 objects were refused: "short-one": new node has a vector with length 2/,
    );
    await store.dropIndex(index);
  });

  it('answers 404s on the index with IndexNotFoundError, and never creates the class through auto-schema', async () => {
    const index = freshIndexName('absent');
    await expect(store.describe(index)).rejects.toBeInstanceOf(IndexNotFoundError);
    await expect(store.scan(index, { limit: 5 })).rejects.toBeInstanceOf(IndexNotFoundError);
    await expect(store.query(index, Float32Array.of(1, 2, 3), 1)).rejects.toBeInstanceOf(IndexNotFoundError);
    await expect(store.write(index, sampleRecords(1, 3))).rejects.toBeInstanceOf(IndexNotFoundError);
    await expect(store.native!.create(index)).rejects.toBeInstanceOf(IndexNotFoundError);
    await expect(store.describe(index)).rejects.toBeInstanceOf(IndexNotFoundError);
  });

  it('refuses a cursor it did not make', async () => {
    const index = freshIndexName('cursor');
    await store.createIndex(index, { dimensions: 2, metric: 'cosine' });
    await expect(store.scan(index, { cursor: 'not-a-cursor', limit: 1 })).rejects.toThrow(/not a cursor of this adapter/);
    await store.dropIndex(index);
  });

  it('retries a 500 and succeeds; a lasting 500 is an EngineError naming operation and index', async () => {
    const index = freshIndexName('retry');
    await store.createIndex(index, { dimensions: 2, metric: 'cosine' });
    const before = emulator.requests.length;
    emulator.failNext(500);
    await expect(store.describe(index)).resolves.toEqual({ dimensions: 2, metric: 'cosine', count: 0 });
    const schemaReads = emulator.requests.slice(before).filter((r) => r.method === 'GET' && r.path === `/v1/schema/${classOf(index)}`);
    expect(schemaReads).toHaveLength(2);

    const once = weaviateStore({ url: emulator.url, attempts: 1 });
    emulator.failNext(500);
    const error = await once.describe(index).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineError);
    expect((error as Error).message).toMatch(new RegExp(`describe of index "${index}" failed: .*HTTP 500.*emulated failure`));
    await store.dropIndex(index);
  });

  it('gives an EngineError naming the URL when Weaviate cannot be reached', async () => {
    const port = await freePort();
    const down = weaviateStore({ url: `http://127.0.0.1:${port}`, attempts: 1 });
    const error = await down.describe('some-index').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineError);
    expect((error as Error).message).toContain(`http://127.0.0.1:${port}/v1/schema/Some_index`);
  });
});

describe('weaviate native backups (backup API against the emulator)', () => {
  let emulator: WeaviateEmulator;
  let store: VectorStore;
  beforeAll(async () => {
    emulator = await startWeaviateEmulator({ pollsInProgress: 2 });
    store = weaviateStore({ url: emulator.url, backoffMs: 0 });
  });
  afterAll(async () => {
    await store?.close();
    await emulator?.stop();
  });

  it('backs up a class, waits for SUCCESS, and restores it after the class is dropped', async () => {
    const index = freshIndexName('backup');
    const records = sampleRecords(30, 8, 21);
    await store.createIndex(index, { dimensions: 8, metric: 'dot' });
    await store.write(index, records);

    const before = emulator.requests.length;
    const ref = await store.native!.create(index);
    expect(ref).toMatchObject({ format: 'weaviate-backup', details: { backend: 's3', class: classOf(index) } });
    expect(ref.id).toMatch(/^[a-z0-9_-]+$/);
    const polls = emulator.requests.slice(before).filter((r) => r.method === 'GET' && r.path === `/v1/backups/s3/${ref.id}`);
    expect(polls).toHaveLength(3); // TRANSFERRING, TRANSFERRING, SUCCESS

    await expect(store.native!.restore(index, { ref })).rejects.toBeInstanceOf(IndexExistsError);
    await store.dropIndex(index);
    await store.native!.restore(index, { ref });
    expect(await store.describe(index)).toEqual({ dimensions: 8, metric: 'dot', count: 30 });
    const restored = await scanAll(store, index, 7);
    expect(new Map(restored.map((r) => [r.id, [Array.from(r.vector), r.metadata]]))).toEqual(
      new Map(records.map((r) => [r.id, [Array.from(r.vector), r.metadata]])),
    );
    await store.dropIndex(index);
  });

  it('refuses to restore under another class name or from a URL', async () => {
    const index = freshIndexName('origin');
    await store.createIndex(index, { dimensions: 2, metric: 'cosine' });
    const ref = await store.native!.create(index);
    await expect(store.native!.restore(freshIndexName('elsewhere'), { ref })).rejects.toThrow(/cannot restore it under another class name/);
    await expect(store.native!.restore(index, { url: 'https://example.com/backup.tar' })).rejects.toThrow(/not from a URL/);
    await store.dropIndex(index);
  });

  it("reports a FAILED backup and a FAILED restore with Weaviate's error", async () => {
    const index = freshIndexName('failing');
    await store.createIndex(index, { dimensions: 2, metric: 'cosine' });
    emulator.backupOutcome = { kind: 'failed', error: 'upload to s3: AccessDenied' };
    await expect(store.native!.create(index)).rejects.toThrow(/ended FAILED: upload to s3: AccessDenied/);

    emulator.backupOutcome = { kind: 'success' };
    const ref = await store.native!.create(index);
    await store.dropIndex(index);
    emulator.backupOutcome = { kind: 'failed', error: 'download from s3: NoSuchKey' };
    await expect(store.native!.restore(index, { ref })).rejects.toThrow(
      /restore of backup ".*" of index ".*" ended FAILED: download from s3: NoSuchKey/,
    );
    emulator.backupOutcome = { kind: 'success' };
  });

  it('gives up on a backup stuck in STARTED after backupTimeoutMs', async () => {
    const index = freshIndexName('stuck');
    await store.createIndex(index, { dimensions: 2, metric: 'cosine' });
    emulator.backupOutcome = { kind: 'stuck' };
    const impatient = weaviateStore({ url: emulator.url, backoffMs: 0, backupTimeoutMs: 30 });
    const error = await impatient.native!.create(index).catch((e: unknown) => e);
    emulator.backupOutcome = { kind: 'success' };
    expect(error).toBeInstanceOf(EngineError);
    expect((error as Error).message).toMatch(/is still STARTED after 30 ms: the backup is stuck in STARTED/);
    await store.dropIndex(index);
  });

  it('names an unknown backup or a backend Weaviate has not enabled', async () => {
    const index = freshIndexName('unknown');
    await expect(
      store.native!.restore(index, {
        ref: { format: 'weaviate-backup', id: 'no-such-backup', details: { backend: 's3', class: classOf(index) } },
      }),
    ).rejects.toThrow(/knows no such backup/);
    await store.createIndex(index, { dimensions: 2, metric: 'cosine' });
    const gcs = weaviateStore({ url: emulator.url, backoffMs: 0, backupBackend: 'gcs' });
    await expect(gcs.native!.create(index)).rejects.toThrow(/backup of index ".*" failed: .*HTTP 422.*backup-gcs/);
    await store.dropIndex(index);
  });
});
