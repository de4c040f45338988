import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pineconeStore, type PineconeConfig } from '../../../functions/vectors/adapters/pinecone.js';
import {
  EngineError,
  IndexExistsError,
  IndexNotFoundError,
  type VectorRecord,
  type VectorStore,
} from '../../../functions/vectors/vector-store.js';
import { freePort } from '../../../scripts/local-aws/server.js';
import { freshIndexName, sampleRecords, scanAll, vectorStoreContract } from '../../contract/vector-store.contract.js';
import { startPineconeEmulator, type PineconeEmulator, type RecordedExchange } from '../../support/engines/pinecone-emulator.js';

/**
 * The Pinecone adapter against an emulator of Pinecone's REST API 2025-04 (no Pinecone runs here). The
 * emulator is held to the documented exchanges in test/fixtures/engines/pinecone/2025-04 (replayed
 * below), and the adapter's own requests are held to the same fixtures.
 */

interface Fixture {
  apiVersion: string;
  source: string;
  request: { method: string; path: string; headers: Record<string, string>; body?: unknown };
  response: { status: number; body: unknown };
}

const fixtureDir = new URL('../../fixtures/engines/pinecone/2025-04/', import.meta.url);
const fixtures: Record<string, Fixture> = Object.fromEntries(
  readdirSync(fixtureDir)
    .filter((file) => file.endsWith('.json'))
    .map((file) => [file.slice(0, -'.json'.length), JSON.parse(readFileSync(new URL(file, fixtureDir), 'utf8')) as Fixture]),
);

const configFor = (emulator: PineconeEmulator, overrides: Partial<PineconeConfig> = {}): PineconeConfig => ({
  apiKey: emulator.apiKey,
  controlPlaneUrl: emulator.controlPlaneUrl,
  dataPlaneScheme: 'http',
  pollMs: 0,
  backoffMs: 0,
  ...overrides,
});

const plain = (records: VectorRecord[]) =>
  records.map((r) => ({ id: r.id, vector: Array.from(r.vector), metadata: r.metadata })).sort((a, b) => (a.id < b.id ? -1 : 1));

/** Same JSON shape: the same keys and types, recursively; arrays by their items. A documented null stands for a nullable field. */
function expectSameShape(actual: unknown, documented: unknown, path: string): void {
  if (documented === null) return;
  if (Array.isArray(documented)) {
    expect(Array.isArray(actual), `${path} is an array`).toBe(true);
    if (documented.length > 0) expect((actual as unknown[]).length, `${path} has items`).toBeGreaterThan(0);
    (actual as unknown[]).forEach((item, i) => expectSameShape(item, documented[0], `${path}[${i}]`));
  } else if (typeof documented === 'object') {
    expect(typeof actual === 'object' && actual !== null && !Array.isArray(actual), `${path} is an object`).toBe(true);
    expect(Object.keys(actual as object).sort(), `keys of ${path}`).toEqual(Object.keys(documented).sort());
    for (const [key, value] of Object.entries(documented))
      expectSameShape((actual as Record<string, unknown>)[key], value, `${path}.${key}`);
  } else {
    expect(typeof actual, `type of ${path}`).toBe(typeof documented);
  }
}

/** Objects the spec types as free-form (additionalProperties): their keys are data, not shape. */
const freeForm = new Set(['metadata', 'filter', 'tags']);

/** Every field the adapter sends is a documented field of the same type (documented fields may be left out). */
function expectShapeWithin(sent: unknown, documented: unknown, path: string): void {
  if (Array.isArray(documented)) {
    expect(Array.isArray(sent), `${path} is an array`).toBe(true);
    (sent as unknown[]).forEach((item, i) => expectShapeWithin(item, documented[0], `${path}[${i}]`));
  } else if (typeof documented === 'object' && documented !== null) {
    expect(typeof sent === 'object' && sent !== null && !Array.isArray(sent), `${path} is an object`).toBe(true);
    if (freeForm.has(path.split('.').at(-1)!)) return;
    for (const [key, value] of Object.entries(sent as object)) {
      expect(Object.keys(documented), `${path}.${key} is documented`).toContain(key);
      expectShapeWithin(value, (documented as Record<string, unknown>)[key], `${path}.${key}`);
    }
  } else {
    expect(typeof sent, `type of ${path}`).toBe(typeof documented);
  }
}

/** The request path of a fixture as a pattern: any index name, backup id or restore job id. */
const pathPattern = (path: string) =>
  new RegExp(`^${path.split('?')[0]!.replace(/\/(indexes|backups|restore-jobs)\/[^/]+/g, '/$1/[^/?]+')}(\\?|$)`);

/** Query parameters the 2025-04 data-plane spec documents (the examples show only some). */
const documentedQuery: Record<string, string[]> = {
  '/vectors/list': ['prefix', 'limit', 'paginationToken', 'namespace'],
  '/vectors/fetch': ['ids', 'namespace'],
};

vectorStoreContract('pinecone (recorded exchanges, API 2025-04)', async () => {
  const emulator = await startPineconeEmulator();
  const open = () => pineconeStore(configFor(emulator));
  return { store: open(), reopen: async () => open(), metrics: ['cosine', 'euclidean', 'dot'], stop: () => emulator.stop() };
});

describe('pinecone emulator replays the documented 2025-04 exchanges', () => {
  let emulator: PineconeEmulator;
  beforeAll(async () => {
    emulator = await startPineconeEmulator();
  });
  afterAll(() => emulator?.stop());

  async function send(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { 'X-Pinecone-API-Version': '2025-04', 'Content-Type': 'application/json', ...headers, 'Api-Key': emulator.apiKey },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
  }
  const controlPlane = (method: string, path: string, body?: unknown) => send(emulator.controlPlaneUrl, method, path, body);

  /** Reads `path` until `done` holds for its body (the emulator advances a resource's state per read). */
  async function readUntil<T>(path: string, done: (body: T) => boolean): Promise<void> {
    for (;;) if (done((await controlPlane('GET', path)).body as T)) return;
  }
  async function ensureIndex(name: string, dimension: number): Promise<string> {
    await controlPlane('POST', '/indexes', {
      name,
      dimension,
      metric: 'euclidean',
      spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
    });
    await readUntil<{ status: { ready: boolean } }>(`/indexes/${name}`, (index) => index.status.ready);
    return emulator.dataPlaneUrl(name);
  }
  async function seed(name: string, namespace: string, vectors: { id: string; values: number[]; metadata?: object }[]) {
    const dataPlane = await ensureIndex(name, 8);
    expect((await send(dataPlane, 'POST', '/vectors/upsert', { vectors, namespace })).status).toBe(200);
    return dataPlane;
  }
  const eight = (x: number) => Array.from({ length: 8 }, () => x);
  async function readyBackup(index: string): Promise<string> {
    await ensureIndex(index, 8);
    const backup = (await controlPlane('POST', `/indexes/${index}/backups`, {})).body as { backup_id: string };
    await readUntil<{ status: string }>(`/backups/${backup.backup_id}`, (model) => model.status === 'Ready');
    return backup.backup_id;
  }

  /** How to bring the emulator into the state each documented exchange assumes: the base URL and path to replay at. */
  const onControlPlane = async (...indexes: [name: string, dimension: number][]) => {
    for (const [name, dimension] of indexes) await ensureIndex(name, dimension);
    return { base: emulator.controlPlaneUrl };
  };
  const replays: [name: string, prepare: () => Promise<{ base: string; path?: string }>][] = [
    ['create_index', () => onControlPlane()],
    ['create_index_409', () => onControlPlane(['docs-example1', 1536])],
    ['describe_index', () => onControlPlane(['movie-recommendations', 1536])],
    ['describe_index_404', () => onControlPlane()],
    ['upsert', async () => ({ base: await ensureIndex('example-index', 8) })],
    [
      'query',
      async () => ({
        base: await seed('example-index', 'example-namespace', [
          { id: 'vec2', values: eight(0.2), metadata: { genre: 'documentary' } },
          { id: 'vec3', values: eight(0.3), metadata: { genre: 'documentary' } },
          { id: 'vec4', values: eight(0.4), metadata: { genre: 'documentary' } },
        ]),
      }),
    ],
    [
      'fetch',
      async () => ({
        base: await seed('example-index', 'example-namespace', [
          { id: 'id-1', values: [0.568879, 0.632687092, 0.856837332, 0, 0, 0, 0, 0] },
          { id: 'id-2', values: [0.00891787093, 0.581895, 0.315718859, 0, 0, 0, 0, 0] },
        ]),
      }),
    ],
    [
      'list',
      async () => ({
        base: await seed(
          'example-index',
          'example-namespace',
          [1, 2, 3, 4].map((i) => ({ id: `doc1#chunk${i}`, values: eight(i) })),
        ),
      }),
    ],
    [
      'describe_index_stats',
      async () => {
        await seed('stats-example', '', [{ id: 'a', values: eight(1) }]);
        return { base: await seed('stats-example', 'example-namespace-2', [{ id: 'b', values: eight(2) }]) };
      },
    ],
    ['create_backup', () => onControlPlane(['docs-example', 8])],
    [
      'describe_backup',
      async () => {
        await ensureIndex('docs-example', 8);
        const backup = (await controlPlane('POST', '/indexes/docs-example/backups', { name: 'example-backup' })).body as {
          backup_id: string;
        };
        return { base: emulator.controlPlaneUrl, path: `/backups/${backup.backup_id}` };
      },
    ],
    [
      'create_index_from_backup',
      async () => ({ base: emulator.controlPlaneUrl, path: `/backups/${await readyBackup('docs-example')}/create-index` }),
    ],
    [
      'describe_restore_job',
      async () => {
        const started = await controlPlane('POST', `/backups/${await readyBackup('docs-example')}/create-index`, {
          name: 'restore-job-example',
        });
        const job = (started.body as { restore_job_id: string }).restore_job_id;
        await readUntil<{ status: string }>(`/restore-jobs/${job}`, (model) => model.status === 'Completed');
        return { base: emulator.controlPlaneUrl, path: `/restore-jobs/${job}` };
      },
    ],
    ['delete_index', () => onControlPlane(['docs-example', 8])],
  ];

  it('has a replay for every fixture, all of API version 2025-04', () => {
    expect(replays.map(([name]) => name).sort()).toEqual(Object.keys(fixtures).sort());
    for (const fixture of Object.values(fixtures)) {
      expect(fixture.apiVersion).toBe('2025-04');
      expect(fixture.request.headers['X-Pinecone-API-Version']).toBe('2025-04');
    }
  });

  for (const [name, prepare] of replays) {
    it(`answers ${name} with the documented status and shape`, async () => {
      const fixture = fixtures[name]!;
      const { base, path = fixture.request.path } = await prepare();
      const answer = await send(base, fixture.request.method, path, fixture.request.body, fixture.request.headers);
      expect(answer.status, JSON.stringify(answer.body)).toBe(fixture.response.status);
      if (fixture.response.body === null) expect(answer.body).toBeNull();
      else expectSameShape(answer.body, fixture.response.body, name);
    });
  }

  it('refuses requests without the API key or with another API version, in the documented error shape', async () => {
    const noKey = await fetch(`${emulator.controlPlaneUrl}/indexes/example-index`, { headers: { 'X-Pinecone-API-Version': '2025-04' } });
    expect(noKey.status).toBe(401);
    expectSameShape(await noKey.json(), fixtures.describe_index_404!.response.body, 'unauthorized');
    expect(
      (await send(emulator.controlPlaneUrl, 'GET', '/indexes/example-index', undefined, { 'X-Pinecone-API-Version': '2024-10' })).status,
    ).toBe(400);
  });
});

describe('pinecone adapter', () => {
  let emulator: PineconeEmulator;
  let store: VectorStore;
  beforeAll(async () => {
    emulator = await startPineconeEmulator();
    store = pineconeStore(configFor(emulator));
  });
  afterAll(async () => {
    await store?.close();
    await emulator?.stop();
  });

  const sent = (from: number, predicate: (e: RecordedExchange) => boolean = () => true) => emulator.exchanges.slice(from).filter(predicate);
  const upserts = (e: RecordedExchange) => e.method === 'POST' && e.path === '/vectors/upsert';

  it('sends only documented requests: method, path, query parameters, body shape and headers of the fixtures', async () => {
    const from = emulator.exchanges.length;
    const [source, restored] = [freshIndexName('requests'), freshIndexName('requests')];
    const records = sampleRecords(30, 8, 5);
    await store.createIndex(source, { dimensions: 8, metric: 'dot' });
    await store.write(source, records);
    await store.describe(source);
    expect(await scanAll(store, source, 20)).toHaveLength(30);
    await store.query(source, records[0]!.vector, 3);
    await store.native!.restore(restored, { ref: await store.native!.create(source) });
    await store.dropIndex(source);
    await store.dropIndex(restored);

    const exchanges = sent(from);
    const documented = Object.entries(fixtures).filter(([, f]) => f.response.status < 400);
    for (const [name, fixture] of documented) {
      const pattern = pathPattern(fixture.request.path);
      const matching = exchanges.filter((e) => e.method === fixture.request.method && pattern.test(e.path));
      expect(matching.length, `the adapter sends ${name}`).toBeGreaterThan(0);
      for (const exchange of matching) {
        expect(exchange.headers['x-pinecone-api-version']).toBe('2025-04');
        expect(exchange.headers['api-key']).toBe(emulator.apiKey);
        if (fixture.request.body === undefined) expect(exchange.body, name).toBeUndefined();
        else expectShapeWithin(exchange.body, fixture.request.body, name);
        const url = new URL(exchange.path, 'http://x');
        const allowed = documentedQuery[url.pathname] ?? [...new URL(fixture.request.path, 'http://x').searchParams.keys()];
        for (const key of url.searchParams.keys()) expect(allowed, `${name} query parameter ${key}`).toContain(key);
      }
    }
    for (const exchange of exchanges) {
      const known = documented.some(([, f]) => f.request.method === exchange.method && pathPattern(f.request.path).test(exchange.path));
      expect(known, `${exchange.method} ${exchange.path} is a documented exchange`).toBe(true);
    }
  });

  it('waits for a new index to become ready and for a dropped one to be gone', async () => {
    const index = freshIndexName('lifecycle');
    const states = (from: number) =>
      sent(from, (e) => e.method === 'GET' && e.path === `/indexes/${index}`).map((e) =>
        e.status === 404 ? 'gone' : (e.response as { status: { state: string } }).status.state,
      );
    let from = emulator.exchanges.length;
    await store.createIndex(index, { dimensions: 4, metric: 'cosine' });
    expect(states(from)).toEqual(['Initializing', 'Ready']);
    from = emulator.exchanges.length;
    await store.dropIndex(index);
    expect(states(from)).toEqual(['Terminating', 'gone']);
  });

  it('splits writes at 1000 vectors and at 2 MB per request, and reads them back bit for bit', async () => {
    const index = freshIndexName('split');
    await store.createIndex(index, { dimensions: 4, metric: 'euclidean' });
    let from = emulator.exchanges.length;
    const many = sampleRecords(2500, 4, 9);
    await store.write(index, many);
    expect(sent(from, upserts).map((e) => (e.body as { vectors: unknown[] }).vectors.length)).toEqual([1000, 1000, 500]);
    await store.dropIndex(index);

    await store.createIndex(index, { dimensions: 3000, metric: 'cosine' });
    from = emulator.exchanges.length;
    const wide = sampleRecords(120, 3000, 10);
    await store.write(index, wide);
    const requests = sent(from, upserts);
    expect(requests.length).toBeGreaterThan(3);
    for (const request of requests) {
      expect(request.status).toBe(200);
      expect(Buffer.byteLength(JSON.stringify(request.body))).toBeLessThanOrEqual(2 * 1024 * 1024);
    }
    expect(plain(await scanAll(store, index, 100))).toEqual(plain(wide));
    await store.dropIndex(index);
  });

  it('fetches a page of long ids in several requests', async () => {
    const index = freshIndexName('long-ids');
    await store.createIndex(index, { dimensions: 4, metric: 'cosine' });
    const records = sampleRecords(40, 4, 12).map((r) => ({ ...r, id: `${'x'.repeat(400)}-${r.id}` }));
    await store.write(index, records);
    const from = emulator.exchanges.length;
    const page = await store.scan(index, { limit: 40 });
    expect(plain(page.records)).toEqual(plain(records));
    const fetches = sent(from, (e) => e.path.startsWith('/vectors/fetch?'));
    expect(fetches.length).toBeGreaterThan(1);
    for (const fetch of fetches) expect(fetch.path.length).toBeLessThan(4200);
    await store.dropIndex(index);
  });

  it('keeps its records in the configured namespace', async () => {
    const index = freshIndexName('namespaces');
    await store.createIndex(index, { dimensions: 4, metric: 'cosine' });
    const tenant = pineconeStore(configFor(emulator, { namespace: 'tenant-a' }));
    const [mine, theirs] = [sampleRecords(7, 4, 13), sampleRecords(3, 4, 14)];
    await tenant.write(index, mine);
    await store.write(index, theirs);
    expect((await tenant.describe(index)).count).toBe(7);
    expect(plain(await scanAll(tenant, index, 5))).toEqual(plain(mine));
    expect(plain(await scanAll(store, index, 5))).toEqual(plain(theirs));
    expect((await tenant.query(index, mine[2]!.vector, 1))[0]!.id).toBe(mine[2]!.id);
    await tenant.close();
    await store.dropIndex(index);
  });

  it('maps a missing index to IndexNotFoundError for every operation', async () => {
    const index = freshIndexName('missing');
    await expect(store.write(index, sampleRecords(1, 4))).rejects.toBeInstanceOf(IndexNotFoundError);
    await expect(store.query(index, new Float32Array(4), 1)).rejects.toBeInstanceOf(IndexNotFoundError);
    await expect(store.native!.create(index)).rejects.toBeInstanceOf(IndexNotFoundError);
  });

  it('retries a 500 and a 429, then succeeds', async () => {
    const index = freshIndexName('retry');
    await store.createIndex(index, { dimensions: 4, metric: 'cosine' });
    emulator.faults.push({ plane: 'control', method: 'GET', path: new RegExp(`^/indexes/${index}$`), status: 500, times: 1 });
    emulator.faults.push({ plane: 'data', method: 'POST', path: /^\/vectors\/upsert$/, status: 429, times: 1 });
    const from = emulator.exchanges.length;
    const retrying = pineconeStore(configFor(emulator));
    await retrying.write(index, sampleRecords(5, 4, 15));
    expect((await retrying.describe(index)).count).toBe(5);
    expect(sent(from, (e) => e.path === `/indexes/${index}`).map((e) => e.status)).toEqual([500, 200, 200]);
    expect(sent(from, upserts).map((e) => e.status)).toEqual([429, 200]);
    await store.dropIndex(index);
  });

  it('gives up after its attempts with an EngineError naming the operation, the index and the status', async () => {
    const index = freshIndexName('failing');
    await store.createIndex(index, { dimensions: 4, metric: 'cosine' });
    emulator.faults.push({ plane: 'data', method: 'POST', path: /^\/vectors\/upsert$/, status: 503, times: 3 });
    const failure = store.write(index, sampleRecords(2, 4));
    await expect(failure).rejects.toBeInstanceOf(EngineError);
    await expect(failure).rejects.toThrow(
      new RegExp(`write of index "${index}" failed: POST http://127\\.0\\.0\\.1:\\d+/vectors/upsert answered HTTP 503`),
    );
    await store.dropIndex(index);
  });

  it('reports metadata Pinecone refuses (null) as an EngineError without retrying', async () => {
    const index = freshIndexName('metadata');
    await store.createIndex(index, { dimensions: 4, metric: 'cosine' });
    const from = emulator.exchanges.length;
    const [record] = sampleRecords(1, 4);
    await expect(store.write(index, [{ ...record!, metadata: { note: null } }])).rejects.toThrow(
      /write of index .* HTTP 400.*string, number, boolean or list of strings/,
    );
    expect(sent(from, upserts)).toHaveLength(1);
    await store.dropIndex(index);
  });

  it('fails with an EngineError naming the URL when Pinecone cannot be reached', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const down = pineconeStore({ apiKey: 'key', controlPlaneUrl: url, attempts: 2, backoffMs: 0 });
    const failure = down.describe('any-index');
    await expect(failure).rejects.toBeInstanceOf(EngineError);
    await expect(failure).rejects.not.toBeInstanceOf(IndexNotFoundError);
    await expect(failure).rejects.toThrow(`describe of index "any-index" failed: cannot reach GET ${url}/indexes/any-index`);
  });

  describe('native snapshots (serverless backups)', () => {
    it('backs an index up and restores the backup into a new index, as it was at backup time', async () => {
      const [source, target] = [freshIndexName('backup'), freshIndexName('restored')];
      const records = sampleRecords(40, 8, 21);
      await store.createIndex(source, { dimensions: 8, metric: 'euclidean' });
      await store.write(source, records);

      const from = emulator.exchanges.length;
      const ref = await store.native!.create(source);
      expect(ref).toMatchObject({ format: 'pinecone-backup', details: { index: source, recordCount: 40 } });
      const backupStates = sent(from, (e) => e.path === `/backups/${ref.id}`).map((e) => (e.response as { status: string }).status);
      expect(backupStates).toEqual(['Pending', 'Ready']);
      expect(sent(from, (e) => e.path === `/indexes/${source}/backups`)).toHaveLength(1);

      await store.write(source, sampleRecords(5, 8, 22));
      await store.native!.restore(target, { ref });
      const jobStates = sent(from, (e) => e.path.startsWith('/restore-jobs/')).map((e) => (e.response as { status: string }).status);
      expect(jobStates).toEqual(['Pending', 'Completed']);
      expect(await store.describe(target)).toEqual({ dimensions: 8, metric: 'euclidean', count: 40 });
      expect(plain(await scanAll(store, target, 15))).toEqual(plain(records));
      expect(store.native!.download).toBeUndefined();

      await expect(store.native!.restore(target, { ref })).rejects.toBeInstanceOf(IndexExistsError);
      await store.dropIndex(source);
      await store.dropIndex(target);
    });

    it("refuses a URL, another engine's snapshot and an unknown backup", async () => {
      const index = freshIndexName('refused');
      await expect(store.native!.restore(index, { url: 'https://bucket.example/snapshot' })).rejects.toThrow(
        /cannot restore index .* from a URL/,
      );
      const foreign = { format: 'qdrant-snapshot', id: 'x' };
      await expect(store.native!.restore(index, { ref: foreign })).rejects.toThrow(/expected "pinecone-backup"/);
      const unknown = store.native!.restore(index, { ref: { format: 'pinecone-backup', id: 'no-such-backup' } });
      await expect(unknown).rejects.toBeInstanceOf(EngineError);
      await expect(unknown).rejects.toThrow(/restore of index .* HTTP 404.*Backup no-such-backup not found/);
    });
  });
});
