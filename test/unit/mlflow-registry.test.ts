import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import {
  digestMismatch,
  importModelVersions,
  mapModelVersion,
  MlflowError,
  MlflowRestRegistry,
  type MlflowRun,
} from '../../functions/lineage/mlflow-registry.js';
import {
  listen,
  mlflowFixture,
  replay as replayExchanges,
  requestKey,
  stopServer,
  type Exchange,
  type Replay,
} from '../support/mlflow-replay.js';

/**
 * The MLflow importer against exchanges recorded from a real MLflow server
 * (scripts/mlflow/record-exchanges.ts), replayed by test/support/mlflow-replay.ts.
 */
const fixture = mlflowFixture;
const { v1: RUN1, v2: RUN2, v3: RUN3 } = fixture.runs;
const API = '/api/2.0/mlflow';
const SEARCH_PAGE_1 = requestKey(
  'GET',
  `${API}/model-versions/search?filter=name%3D%27search-ranker%27&max_results=3&order_by=version_number+ASC`,
);
const runGet = (runId: string) => requestKey('GET', `${API}/runs/get?run_id=${runId}`);

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map(stopServer));
});
const served = async (server: Server) => {
  servers.push(server);
  return listen(server);
};
const stops: Replay[] = [];
afterEach(async () => {
  await Promise.all(stops.splice(0).map((r) => r.stop()));
});
const replay = async (exchanges?: Exchange[]) => {
  const r = await replayExchanges(exchanges);
  stops.push(r);
  return r;
};

const options = { lineagePrefix: '_dr-lineage/', replicaBuckets: new Set(['acme-ml-dr-replica']) };
/** The recorder's stand-in manifests: a dataset version's SHA-256 is that of its manifest.json. */
const sha256 = (asset: string, id: string) => createHash('sha256').update(`manifest of ${asset}/${id}`).digest('hex');
const IMAGENET = { asset: 'training-data', id: '20261126T120000Z-3f9a1c2e' };
const IMAGENET_AUG = { asset: 'training-data', id: '20261127T090000Z-77c0e5d1' };
const EVALS = { asset: 'eval-sets', id: '20261126T120000Z-9b0d44a1' };
const digestOf = (d: { asset: string; id: string }) => sha256(d.asset, d.id).slice(0, 36);

describe('the recorded exchanges', () => {
  it('are from a real MLflow, which keeps at most 36 characters of a dataset digest', () => {
    expect(fixture.mlflowVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(fixture.refusedWrite.response).toMatchObject({
      status: 400,
      body: { error_code: 'INVALID_PARAMETER_VALUE', message: "'digest' exceeds the maximum length of 36 characters" },
    });
  });
});

describe('importModelVersions with MlflowRestRegistry, replayed', () => {
  it('imports the two versions whose runs name dataset versions of the replica, refuses the foreign-input one and the run-less one', async () => {
    const server = await replay();
    const registry = new MlflowRestRegistry({ trackingUri: `${server.url}/`, pageSize: fixture.pageSize });
    const results = await importModelVersions(registry, 'search-ranker', options);

    expect(results.map((r) => r.kind)).toEqual(['registration', 'registration', 'refused', 'refused']);
    const [one, two, three, four] = results;
    expect(one).toEqual({
      kind: 'registration',
      registration: {
        name: 'search-ranker',
        version: '1',
        trainedOn: [IMAGENET],
        evaluatedOn: [EVALS],
        artifacts: [],
        evalResults: [],
        metadata: {
          'mlflow.run_id': RUN1,
          'mlflow.source': `runs:/${RUN1}/model`,
          registry: `${server.url}/#/models/search-ranker/versions/1`,
          commit: '4f16511c0ffee0ddba11ad5eed5ca1ab1ec0ffee',
        },
      },
      expectedDigests: new Map([
        ['training-data/20261126T120000Z-3f9a1c2e', digestOf(IMAGENET)],
        ['eval-sets/20261126T120000Z-9b0d44a1', digestOf(EVALS)],
      ]),
      ignored: [],
    });
    // Version 2: an input without a context is training data; "validation" is evaluation; no commit tag, no commit.
    expect(two).toEqual({
      kind: 'registration',
      registration: {
        name: 'search-ranker',
        version: '2',
        trainedOn: [IMAGENET, IMAGENET_AUG],
        evaluatedOn: [EVALS],
        artifacts: [],
        evalResults: [],
        metadata: {
          'mlflow.run_id': RUN2,
          'mlflow.source': `runs:/${RUN2}/model`,
          registry: `${server.url}/#/models/search-ranker/versions/2`,
        },
      },
      expectedDigests: new Map([
        ['training-data/20261126T120000Z-3f9a1c2e', digestOf(IMAGENET)],
        ['training-data/20261127T090000Z-77c0e5d1', digestOf(IMAGENET_AUG)],
        ['eval-sets/20261126T120000Z-9b0d44a1', digestOf(EVALS)],
      ]),
      ignored: [],
    });
    expect(three).toEqual({
      kind: 'refused',
      name: 'search-ranker',
      version: '3',
      reason: `search-ranker@3: run ${RUN3} has inputs that are not dataset versions of the DR replica: "click-logs" (s3://other/x.parquet, training); make them dataset versions, or import with ignoreForeignInputs`,
    });
    expect(four).toEqual({
      kind: 'refused',
      name: 'search-ranker',
      version: '4',
      reason:
        'search-ranker@4: it has no run (its source is "s3://acme-ml-prod-models/search-ranker/4/"): nothing links it to dataset versions',
    });

    // Both search pages, each run once, nothing else.
    expect(server.unexpected).toEqual([]);
    expect(Object.fromEntries(server.hits)).toEqual({
      [SEARCH_PAGE_1]: 1,
      [requestKey('GET', fixture.exchanges[1]!.request.path)]: 1,
      [runGet(RUN1)]: 1,
      [runGet(RUN2)]: 1,
      [runGet(RUN3)]: 1,
    });
  });

  it('follows model-versions/search to its last page: version 4 is only on the second', async () => {
    const server = await replay();
    const pageTwo = requestKey('GET', fixture.exchanges[1]!.request.path);
    expect(pageTwo).toContain('page_token=');
    const versions = await new MlflowRestRegistry({ trackingUri: server.url, pageSize: fixture.pageSize }).modelVersions('search-ranker');
    expect(versions).toEqual([
      { name: 'search-ranker', version: '1', source: `runs:/${RUN1}/model`, runId: RUN1, status: 'READY' },
      { name: 'search-ranker', version: '2', source: `runs:/${RUN2}/model`, runId: RUN2, status: 'READY' },
      { name: 'search-ranker', version: '3', source: `runs:/${RUN3}/model`, runId: RUN3, status: 'READY' },
      // MLflow answers run_id "" for a version without a run.
      { name: 'search-ranker', version: '4', source: 's3://acme-ml-prod-models/search-ranker/4/', status: 'READY' },
    ]);
    expect(server.hits.get(SEARCH_PAGE_1)).toBe(1);
    expect(server.hits.get(pageTwo)).toBe(1);
    expect(server.unexpected).toEqual([]);
  });

  it('a request the recording does not hold is answered with an error, and seen: the replay is strict', async () => {
    const server = await replay();
    const registry = new MlflowRestRegistry({ trackingUri: server.url, pageSize: 2 });
    await expect(registry.modelVersions('search-ranker')).rejects.toThrow(/HTTP 500 NOT_IN_FIXTURE/);
    expect(server.unexpected).toEqual([
      requestKey('GET', `${API}/model-versions/search?filter=name%3D%27search-ranker%27&max_results=2&order_by=version_number+ASC`),
    ]);
  });

  it('with ignoreForeignInputs, links the dataset versions of a run that has other inputs too, and says which it left out', async () => {
    const server = await replay();
    const registry = new MlflowRestRegistry({ trackingUri: server.url, pageSize: fixture.pageSize });
    const results = await importModelVersions(registry, 'search-ranker', { ...options, ignoreForeignInputs: true });
    const three = results[2]!;
    expect(three.kind).toBe('registration');
    if (three.kind !== 'registration') return;
    expect(three.registration).toMatchObject({ version: '3', trainedOn: [IMAGENET], evaluatedOn: [] });
    expect(three.ignored).toEqual([{ name: 'click-logs', source: 's3://other/x.parquet', context: 'training' }]);
    expect(results[3]!.kind).toBe('refused');
  });

  it('imports one version with model-versions/get and its run', async () => {
    const server = await replay();
    const registry = new MlflowRestRegistry({ trackingUri: server.url });
    const [one] = await importModelVersions(registry, 'search-ranker', { ...options, version: '1' });
    expect(one).toMatchObject({ kind: 'registration', registration: { version: '1', trainedOn: [IMAGENET], evaluatedOn: [EVALS] } });
    const [four] = await importModelVersions(registry, 'search-ranker', { ...options, version: '4' });
    expect(four).toMatchObject({ kind: 'refused', reason: expect.stringContaining('it has no run') });
    expect(Object.fromEntries(server.hits)).toEqual({
      [requestKey('GET', `${API}/model-versions/get?name=search-ranker&version=1`)]: 1,
      [requestKey('GET', `${API}/model-versions/get?name=search-ranker&version=4`)]: 1,
      [runGet(RUN1)]: 1,
    });
  });

  it('a version MLflow does not have: an MlflowError naming the call and what MLflow answered', async () => {
    const server = await replay();
    const registry = new MlflowRestRegistry({ trackingUri: server.url });
    const error = await registry.modelVersion('search-ranker', '99').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MlflowError);
    expect((error as MlflowError).message).toBe(
      `MLflow model-versions/get of "search-ranker@99" (GET ${server.url}/api/2.0/mlflow/model-versions/get?name=search-ranker&version=99): ` +
        'HTTP 404 RESOURCE_DOES_NOT_EXIST: Model Version (name=search-ranker, version=99) not found',
    );
    expect(error).toMatchObject({ call: 'model-versions/get', status: 404, errorCode: 'RESOURCE_DOES_NOT_EXIST' });
    expect(server.unexpected).toEqual([]);
  });

  it('the digests MLflow recorded are the start of the dataset versions’ SHA-256; another is a mismatch', async () => {
    const server = await replay();
    const [one] = await importModelVersions(
      new MlflowRestRegistry({ trackingUri: server.url, pageSize: fixture.pageSize }),
      'search-ranker',
      options,
    );
    if (one?.kind !== 'registration') throw new Error('version 1 was not imported');
    for (const [key, digest] of one.expectedDigests) {
      const [asset, id] = key.split('/') as [string, string];
      expect(digest).toHaveLength(36);
      expect(digestMismatch(digest, sha256(asset, id))).toBeUndefined();
    }
    const other = sha256('training-data', 'another');
    expect(digestMismatch(digestOf(IMAGENET), other)).toBe(
      `MLflow recorded digest "${digestOf(IMAGENET)}", but the dataset version's SHA-256 is "${other}"`,
    );
    expect(digestMismatch(digestOf(IMAGENET).slice(0, 8), sha256(IMAGENET.asset, IMAGENET.id))).toBeDefined();
  });
});

describe('MlflowRestRegistry when MLflow does not answer as it should', () => {
  it('gives up after the timeout on a server that never answers', async () => {
    const url = await served(createServer(() => {}));
    const registry = new MlflowRestRegistry({ trackingUri: url, timeoutMs: 200 });
    const started = Date.now();
    await expect(registry.run(RUN1)).rejects.toThrow(
      `MLflow runs/get of run "${RUN1}" (GET ${url}/api/2.0/mlflow/runs/get?run_id=${RUN1}): no answer within 200 ms`,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('a malformed answer: the field that is wrong', async () => {
    const tampered = structuredClone(fixture.exchanges);
    const run = tampered.find((e) => requestKey(e.request.method, e.request.path) === runGet(RUN1))!;
    (run.response.body as any).run.inputs.dataset_inputs[0].dataset.source = { uri: 's3://acme-ml-dr-replica/x' };
    const server = await replay(tampered);
    await expect(new MlflowRestRegistry({ trackingUri: server.url }).run(RUN1)).rejects.toThrow(
      /runs\/get of run ".*" \(GET .*\): the answer is not what MLflow's API describes: run\.inputs\.dataset_inputs\[0\]\.dataset\.source: Invalid input: expected string, received object$/,
    );
  });

  it('an answer that is not JSON (a proxy in front of MLflow): its status and text', async () => {
    const url = await served(
      createServer((_req, res) => {
        res.writeHead(502, { 'content-type': 'text/html' });
        res.end('<html>Bad Gateway</html>');
      }),
    );
    await expect(new MlflowRestRegistry({ trackingUri: url }).modelVersions('search-ranker')).rejects.toThrow(
      /model-versions\/search of "search-ranker" .*: HTTP 502, and the answer is not JSON: "<html>Bad Gateway<\/html>"$/,
    );
  });

  it('sends a token as Bearer and a username and password as basic auth; refuses both at once', async () => {
    const server = await replay();
    await new MlflowRestRegistry({ trackingUri: server.url, token: 'dapi-123' }).modelVersion('search-ranker', '1');
    await new MlflowRestRegistry({ trackingUri: server.url, username: 'admin', password: 'p:w' }).modelVersion('search-ranker', '1');
    await new MlflowRestRegistry({ trackingUri: server.url }).modelVersion('search-ranker', '1');
    expect(server.headers.map((h) => h.authorization)).toEqual([
      'Bearer dapi-123',
      `Basic ${Buffer.from('admin:p:w').toString('base64')}`,
      undefined,
    ]);
    expect(() => new MlflowRestRegistry({ trackingUri: server.url, token: 't', username: 'u', password: 'p' })).toThrow(/not both/);
    expect(() => new MlflowRestRegistry({ trackingUri: server.url, username: 'u' })).toThrow(/both username and password/);
    expect(() => new MlflowRestRegistry({ trackingUri: 'mlflow.example.com' })).toThrow(/is not a URL/);
  });
});

describe('mapModelVersion: what it refuses to link', () => {
  const version = { name: 'm', version: '7', source: 'runs:/r/model', runId: 'r', status: 'READY' };
  const manifest = (asset: string, id: string) => `{"uri": "s3://acme-ml-dr-replica/_dr-lineage/datasets/${asset}/${id}/manifest.json"}`;
  const runWith = (...inputs: Partial<MlflowRun['datasetInputs'][number]>[]): MlflowRun => ({
    runId: 'r',
    tags: {},
    params: {},
    datasetInputs: inputs.map((i) => ({
      name: 'd',
      digest: 'a'.repeat(36),
      sourceType: 's3',
      source: manifest('training-data', 'v1'),
      ...i,
    })),
  });
  const map = (run: MlflowRun, extra: object = {}) =>
    mapModelVersion(version, run, { ...options, trackingUri: 'https://mlflow.example.com', ...extra });
  const reasonOf = (run: MlflowRun, extra: object = {}) => {
    const result = map(run, extra);
    return result.kind === 'refused' ? result.reason : `linked ${JSON.stringify(result.registration)}`;
  };

  it('links a manifest of the replica by context, a bare URI source too', () => {
    const result = map(
      runWith(
        { context: 'Training' },
        { source: 's3://acme-ml-dr-replica/_dr-lineage/datasets/eval-sets/e1/manifest.json', context: 'test' },
        { source: manifest('eval-sets', 'e2'), context: 'evaluation' },
      ),
    );
    expect(result).toMatchObject({
      kind: 'registration',
      registration: {
        trainedOn: [{ asset: 'training-data', id: 'v1' }],
        evaluatedOn: [
          { asset: 'eval-sets', id: 'e1' },
          { asset: 'eval-sets', id: 'e2' },
        ],
      },
    });
  });

  it('refuses what would link wrongly, naming the input', () => {
    expect(reasonOf(runWith({ context: 'inference' }))).toBe(
      'm@7: run r: input "d" ("s3://acme-ml-dr-replica/_dr-lineage/datasets/training-data/v1/manifest.json") has context "inference", neither training nor evaluation (eval, evaluation, test, validation)',
    );
    expect(
      reasonOf(runWith({ source: '{"uri": "s3://acme-ml-dr-replica/_dr-lineage/datasets/training-data/v1/part-000000.ndjson"}' })),
    ).toMatch(/is under the lineage prefix but is not a dataset version's manifest\.json$/);
    expect(reasonOf(runWith({ digest: '500a9955' }))).toMatch(
      /has digest "500a9955": record the dataset version's SHA-256 \(its first 36 hex digits or more\)$/,
    );
    expect(reasonOf(runWith({ digest: 'a'.repeat(36) }, { digest: 'b'.repeat(36) }))).toMatch(
      /names dataset version training-data\/v1 with digest b+, another input with a+$/,
    );
    expect(reasonOf(runWith({ context: 'eval' }))).toBe('m@7: run r names no training dataset version of the DR replica');
  });

  it('a manifest in a bucket that is not a replica, or under another prefix, is not ours', () => {
    const elsewhere = runWith(
      {},
      { name: 'x', source: '{"uri": "s3://someone-else/_dr-lineage/datasets/training-data/v1/manifest.json"}' },
    );
    expect(reasonOf(elsewhere)).toMatch(/inputs that are not dataset versions of the DR replica: "x" \(s3:\/\/someone-else\/_dr-lineage\//);
    expect(reasonOf(runWith({}), { lineagePrefix: 'lineage/' })).toMatch(/not dataset versions of the DR replica: "d"/);
    expect(reasonOf(runWith({ name: 'y', source: 'not a uri' }))).toMatch(/not dataset versions of the DR replica: "y" \(not a uri\)/);
  });

  it('refuses a version that is not READY, and one whose run was not read', () => {
    expect(mapModelVersion({ ...version, status: 'FAILED_REGISTRATION' }, runWith({}), { ...options, trackingUri: 'x' })).toMatchObject({
      kind: 'refused',
      reason: 'm@7: its status is FAILED_REGISTRATION; only READY versions are imported',
    });
    expect(mapModelVersion(version, undefined, { ...options, trackingUri: 'x' })).toMatchObject({
      kind: 'refused',
      reason: 'm@7: run "r" was not read',
    });
  });
});
