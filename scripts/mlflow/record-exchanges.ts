import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Records the exchanges the MLflow importer (functions/lineage/mlflow-registry.ts) has with a real
 * MLflow tracking server, for test/unit/mlflow-registry.test.ts to replay.
 *
 *   npx tsx scripts/mlflow/record-exchanges.ts http://127.0.0.1:5000 [out.json]
 *
 * The server must be fresh (no registered model "search-ranker"): start one with, for example,
 *   mlflow server --host 127.0.0.1 --port 5000 --workers 1 \
 *     --backend-store-uri sqlite:////tmp/mlflow-x/db.sqlite --default-artifact-root /tmp/mlflow-x/art
 *
 * Only MLflow's documented REST API (REST_DOCS) is used. First it writes: an experiment; three runs
 * whose dataset inputs name dataset versions of the DR replica (their manifest.json in the replica
 * bucket) and, in one, a file that is not one; the registered model "search-ranker" with a version
 * from each run and one with no run. Then it makes the reads the importer makes and records each
 * request and MLflow's answer as they were (method, path with query, status, JSON body), plus one
 * read of a version that does not exist (MLflow's 404), and the write MLflow refuses: a dataset
 * digest of 64 hex digits (MLflow keeps at most 36 characters).
 */
const REST_DOCS = 'https://mlflow.org/docs/latest/rest-api.html';
const API = '/api/2.0/mlflow';
const MODEL = 'search-ranker';
const BUCKET = 'acme-ml-dr-replica';
const LINEAGE_PREFIX = '_dr-lineage/';
/** Versions per page of model-versions/search: four versions make two pages. */
const PAGE_SIZE = 3;

interface Exchange {
  request: { method: 'GET' | 'POST'; path: string; body?: unknown };
  response: { status: number; body: unknown };
}

/**
 * The fixture's dataset versions. A dataset version's digest is the SHA-256 of its manifest.json
 * (docs/lineage.md); these stand-in manifests are the text below, so a test can recompute it.
 */
const fixtureDataset = (asset: string, id: string) => {
  const sha256 = createHash('sha256').update(`manifest of ${asset}/${id}`).digest('hex');
  return { asset, id, sha256, uri: `s3://${BUCKET}/${LINEAGE_PREFIX}datasets/${asset}/${id}/manifest.json` };
};
const IMAGENET = fixtureDataset('training-data', '20261126T120000Z-3f9a1c2e');
const IMAGENET_AUG = fixtureDataset('training-data', '20261127T090000Z-77c0e5d1');
const EVALS = fixtureDataset('eval-sets', '20261126T120000Z-9b0d44a1');
const COMMIT = '4f16511c0ffee0ddba11ad5eed5ca1ab1ec0ffee';

async function main(): Promise<void> {
  const [base, outArg] = process.argv.slice(2);
  if (!base || !/^https?:\/\//.test(base))
    throw new Error('usage: npx tsx scripts/mlflow/record-exchanges.ts <tracking server URL> [out.json]');
  const server = base.replace(/\/+$/, '');
  const out = resolve(outArg ?? 'test/fixtures/mlflow/exchanges.json');

  const call = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<Exchange> => {
    const res = await fetch(`${server}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`${method} ${path}: HTTP ${res.status}, not JSON: ${text.slice(0, 300)}`);
    }
    return { request: { method, path, ...(body === undefined ? {} : { body }) }, response: { status: res.status, body: json } };
  };
  /** A write that must succeed; its answer. */
  const write = async <T>(endpoint: string, body: unknown): Promise<T> => {
    const { response } = await call('POST', `${API}/${endpoint}`, body);
    if (response.status !== 200) throw new Error(`POST ${endpoint}: HTTP ${response.status} ${JSON.stringify(response.body)}`);
    return response.body as T;
  };

  const versionRes = await fetch(`${server}/version`, { signal: AbortSignal.timeout(30_000) });
  const mlflowVersion = (await versionRes.text()).trim();
  if (!versionRes.ok || !/^\d+\.\d+/.test(mlflowVersion))
    throw new Error(`GET /version: HTTP ${versionRes.status} ${mlflowVersion.slice(0, 100)}`);

  const existing = await call('GET', `${API}/registered-models/get?name=${MODEL}`);
  if (existing.response.status !== 404) throw new Error(`registered model ${MODEL} exists already: record against a fresh server`);

  // Writes.
  const { experiment_id: experimentId } = await write<{ experiment_id: string }>('experiments/create', {
    name: `${MODEL}-training-${Date.now()}`,
  });
  /**
   * A dataset input. MLflow keeps its source as JSON text; the Python client (mlflow.log_input of a
   * dataset whose source is an S3 URI) writes it with Python's json.dumps, `{"uri": "s3://…"}`: `python`
   * spells it so, else as JSON.stringify does.
   */
  const input = (d: { name: string; digest: string; source: string }, context?: string, python = false) => ({
    ...(context ? { tags: [{ key: 'mlflow.data.context', value: context }] } : {}),
    dataset: {
      name: d.name,
      digest: d.digest,
      source_type: 's3',
      source: python ? `{"uri": ${JSON.stringify(d.source)}}` : JSON.stringify({ uri: d.source }),
    },
  });
  /** MLflow's digest is at most 36 characters: the first 36 hex digits of the manifest's SHA-256. */
  const ours = (d: ReturnType<typeof fixtureDataset>, name: string) => ({ name, digest: d.sha256.slice(0, 36), source: d.uri });
  const newRun = async (runName: string, params: Record<string, string>, tags: Record<string, string>, datasets: unknown[]) => {
    const { run } = await write<{ run: { info: { run_id: string } } }>('runs/create', {
      experiment_id: experimentId,
      run_name: runName,
      start_time: Date.now(),
      tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
    });
    const runId = run.info.run_id;
    for (const [key, value] of Object.entries(params)) await write('runs/log-parameter', { run_id: runId, key, value });
    await write('runs/log-inputs', { run_id: runId, datasets });
    await write('runs/update', { run_id: runId, status: 'FINISHED', end_time: Date.now() });
    return runId;
  };

  // The write MLflow refuses: the whole 64-hex SHA-256 as the digest.
  const probeRun = await newRun('digest-probe', {}, {}, []);
  const refusedWrite = await call('POST', `${API}/runs/log-inputs`, {
    run_id: probeRun,
    datasets: [input({ name: 'imagenet-v3', digest: IMAGENET.sha256, source: IMAGENET.uri }, 'training')],
  });
  if (refusedWrite.response.status === 200) throw new Error('MLflow accepted a 64-character digest: the fixture expects it refused');

  const run1 = await newRun(
    'ranker-v1',
    { learning_rate: '0.01', epochs: '12' },
    { 'mlflow.source.git.commit': COMMIT, 'mlflow.source.type': 'JOB' },
    [input(ours(IMAGENET, 'imagenet-v3'), 'training'), input(ours(EVALS, 'ranker-evals'), 'eval')],
  );
  const run2 = await newRun('ranker-v2', { learning_rate: '0.005' }, {}, [
    input(ours(IMAGENET, 'imagenet-v3'), 'training', true),
    input(ours(IMAGENET_AUG, 'imagenet-v3-augmented'), undefined, true), // no context: training
    input(ours(EVALS, 'ranker-evals'), 'validation', true),
  ]);
  const run3 = await newRun('ranker-v3-clicks', {}, {}, [
    input(ours(IMAGENET, 'imagenet-v3'), 'training'),
    input({ name: 'click-logs', digest: 'a1b2c3d4', source: 's3://other/x.parquet' }, 'training'),
  ]);
  await write('registered-models/create', { name: MODEL, description: 'ranks search results' });
  const version = async (body: Record<string, string>) =>
    (await write<{ model_version: { version: string } }>('model-versions/create', { name: MODEL, ...body })).model_version;
  const versions = [
    await version({ source: `runs:/${run1}/model`, run_id: run1 }),
    await version({ source: `runs:/${run2}/model`, run_id: run2 }),
    await version({ source: `runs:/${run3}/model`, run_id: run3 }),
    await version({ source: `s3://acme-ml-prod-models/${MODEL}/4/`, description: 'uploaded by hand' }),
  ];
  if (versions.map((v) => v.version).join() !== '1,2,3,4') throw new Error(`unexpected versions ${versions.map((v) => v.version).join()}`);

  // Reads, recorded.
  const exchanges: Exchange[] = [];
  const read = async (path: string) => {
    const exchange = await call('GET', path);
    exchanges.push(exchange);
    return exchange.response;
  };
  const search = (pageToken?: string) =>
    read(
      `${API}/model-versions/search?${new URLSearchParams({
        filter: `name='${MODEL}'`,
        max_results: String(PAGE_SIZE),
        order_by: 'version_number ASC',
        ...(pageToken ? { page_token: pageToken } : {}),
      })}`,
    );
  let page = await search();
  let pages = 1;
  while ((page.body as { next_page_token?: string }).next_page_token) {
    page = await search((page.body as { next_page_token: string }).next_page_token);
    pages++;
  }
  if (pages !== 2) throw new Error(`expected two pages of ${PAGE_SIZE}, got ${pages}`);
  for (const v of ['1', '4']) await read(`${API}/model-versions/get?${new URLSearchParams({ name: MODEL, version: v })}`);
  for (const runId of [run1, run2, run3]) await read(`${API}/runs/get?${new URLSearchParams({ run_id: runId })}`);
  const missing = await read(`${API}/model-versions/get?${new URLSearchParams({ name: MODEL, version: '99' })}`);
  if (missing.status !== 404) throw new Error(`model-versions/get of version 99: expected 404, got ${missing.status}`);

  const fixture = {
    about:
      'Exchanges with a real MLflow tracking server, recorded by scripts/mlflow/record-exchanges.ts; replayed by test/unit/mlflow-registry.test.ts',
    mlflowVersion,
    restApi: REST_DOCS,
    recordedAt: new Date().toISOString(),
    recordedFrom: server,
    model: MODEL,
    pageSize: PAGE_SIZE,
    runs: { v1: run1, v2: run2, v3: run3 },
    refusedWrite,
    exchanges,
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(fixture, null, 2)}\n`);
  console.log(`MLflow ${mlflowVersion}: ${exchanges.length} exchanges recorded in ${out}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
