import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseModelRestore } from '../../functions/lineage/model-restore-request.js';
import { restoreModel, type ModelRestoreStatus } from '../../functions/lineage/restore-model.js';
import { createModelRestorer } from '../../functions/lineage/runtime.js';
import { dynamoDocumentClient } from '../../functions/shared/aws-clients.js';
import { parseConfig } from '../../functions/shared/config.js';
import { localContext } from '../../scripts/local-aws/event-source-mapping.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { loadEvent } from '../support/fixtures.js';
import { mlflowFixture, replay, type Replay } from '../support/mlflow-replay.js';
import { startStack, TEST_POLICY, type StackUnderTest } from '../support/local-stack.js';

/**
 * restore-data by model (docs/lineage.md#restore-by-model) on the local AWS: a model registered over
 * two dataset versions of its training data and one of its eval set is restored, with every
 * primary-region endpoint failing, into a DR-region target: exactly the objects its record names,
 * as of each dataset version's time, byte for byte; across invocations when it does not fit one.
 */
let t: StackUnderTest;
let proxy: FaultProxy;
let dir: string;
const DR_TARGET = 'it-dr-restore';
const dr = new S3Client({ region: 'us-west-2', forcePathStyle: true });
type Handler = (event: unknown, context: unknown) => Promise<any>;
let restoreData: Handler;
let mlflow: Replay;
/** What the recorded answers name, and what this test names instead. */
const renames = new Map<string, string>();
let lineage: Handler;
const MiB = 1024 * 1024;
/** What evaluating models produced (scores, per-example outputs), replicated like the others. */
const RESULTS_ASSET = `  - name: results
    kind: eval-results
    source: { bucket: it-source, prefix: results/, region: us-east-1 }
    replica: { bucket: it-replica, region: us-west-2 }
    rpoTargetSeconds: 3600
    rtoTargetSeconds: 86400
    tier: standard
`;

/** What the model was trained and evaluated on (as of the dataset versions' time), by source key. */
const original: Record<string, Buffer> = {
  'train/m/a.jsonl': Buffer.from('{"a":1}\n'),
  'train/m/big.bin': Buffer.alloc(7 * MiB + 3, 'b'), // above the test policy's 6 MiB multipart threshold
  'train/n/c.jsonl': Buffer.from('{"c":1}\n'),
  'evals/golden/e1.jsonl': Buffer.from('{"q":"e1"}\n'),
};
/** Where each lands in the target: <prefix><asset>/<key inside the asset's prefix>. */
const landsAt = (prefix: string, key: string) =>
  key.startsWith('evals/') ? `${prefix}evals/${key.slice('evals/'.length)}` : `${prefix}training/${key.slice('train/'.length)}`;

const read = async (bucket: string, key: string) =>
  Buffer.from(await (await dr.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
const keysIn = async (bucket: string, prefix: string) =>
  ((await dr.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix }))).Versions ?? []).map((v) => v.Key!).sort();
const primary = {
  match: (req: { headers: Record<string, unknown> }) => String(req.headers.authorization ?? '').includes('/us-east-1/'),
  fault: 'internal' as const,
  times: Number.POSITIVE_INFINITY,
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lineage-restore-'));
  const policyFile = join(dir, 'policy.yml');
  const text = readFileSync(TEST_POLICY, 'utf8');
  const targets = '    - { bucket: it-restore, region: us-east-1 }\n';
  if (!text.includes(targets)) throw new Error(`${TEST_POLICY} no longer lists it-restore as a target in one line`);
  // MLflow's Model Registry, as recorded from a real server, naming this test's dataset versions (filled in below).
  mlflow = await replay(mlflowFixture.exchanges, (json) => [...renames].reduce((text, [from, to]) => text.replaceAll(from, to), json));
  writeFileSync(
    policyFile,
    `${text.replace(targets, `${targets}    - { bucket: ${DR_TARGET}, region: us-west-2 }\n`)}${RESULTS_ASSET}lineage:\n  mlflow: { trackingUri: "${mlflow.url}", pageSize: ${mlflowFixture.pageSize} }\n  requests: { bucket: it-source, prefix: requests/ }\n`,
  );
  t = await startStack(policyFile, {
    via: async (endpoint) => {
      proxy = await startFaultProxy(endpoint);
      return proxy.endpoint;
    },
  });
  await dr.send(new CreateBucketCommand({ Bucket: DR_TARGET, CreateBucketConfiguration: { LocationConstraint: 'us-west-2' } }));
  await dr.send(new PutBucketVersioningCommand({ Bucket: DR_TARGET, VersioningConfiguration: { Status: 'Enabled' } }));
  for (const [key, body] of Object.entries(original)) await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: body }));
  await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'train/other.jsonl', Body: 'in no dataset version' }));
  await t.drain();
  const asOf = new Date().toISOString();
  await new Promise((resolve) => setTimeout(resolve, 1100)); // later writes in a later second
  // After the time: the training data changes; the model's record still names the versions as of it.
  await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'train/m/a.jsonl', Body: '{"a":"changed"}\n' }));
  await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'train/n/c.jsonl', Body: 'garbage' }));
  await t.drain();

  ({ handler: restoreData } = (await import('../../functions/restore-data.js')) as { handler: Handler });
  ({ handler: lineage } = (await import('../../functions/lineage.js')) as { handler: Handler });
  const build = (dataset: Record<string, string>) => lineage({ dataset: { ...dataset, asOf } }, localContext('lineage'));
  const [m, n, evals] = [
    await build({ asset: 'training', prefix: 'train/m/' }),
    await build({ asset: 'training', prefix: 'train/n/' }),
    await build({ asset: 'evals', prefix: 'evals/golden/' }),
  ];
  expect([m.state, n.state, evals.state, m.keys + n.keys + evals.keys]).toEqual(['complete', 'complete', 'complete', 4]);
  // The recording's dataset versions and digests (the recorder's stand-in SHA-256s, cut to MLflow's 36 characters) are these.
  const recorded = (asset: string, id: string) => createHash('sha256').update(`manifest of ${asset}/${id}`).digest('hex').slice(0, 36);
  for (const [asset, id, ours] of [
    ['training-data', '20261126T120000Z-3f9a1c2e', m],
    ['training-data', '20261127T090000Z-77c0e5d1', n],
    ['eval-sets', '20261126T120000Z-9b0d44a1', evals],
  ] as const) {
    renames.set(`datasets/${asset}/${id}/`, `datasets/${ours.asset}/${ours.id}/`);
    renames.set(recorded(asset, id), ours.sha256.slice(0, 36));
  }
  renames.set('s3://acme-ml-dr-replica/', 's3://it-replica/');
  const registered = await lineage(
    {
      registerModel: {
        name: 'ranker',
        version: '1',
        trainedOn: [
          { asset: 'training', id: m.id },
          { asset: 'training', id: n.id },
        ],
        evaluatedOn: [{ asset: 'evals', id: evals.id }],
      },
    },
    localContext('lineage'),
  );
  expect(registered.registered).toBe(true);
}, 240_000);

afterAll(async () => {
  await t?.stop();
  await proxy?.stop();
  await mlflow?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const invoke = (payload: unknown) => restoreData(payload, localContext('restore-data'));

describe('restore-data by model', () => {
  it('with every primary-region endpoint failing, restores exactly what the record names into a DR-region target, byte for byte', async () => {
    proxy.rules.unshift(primary);
    try {
      // The primary really is down: a read of the source answers 500.
      await expect(t.s3.send(new GetObjectCommand({ Bucket: 'it-source', Key: 'train/m/a.jsonl' }))).rejects.toThrow();
      const refusedBefore = proxy.injected.internal;
      expect(refusedBefore).toBeGreaterThan(0);
      const sample = loadEvent<Record<string, unknown>>('restore-data/valid/model-dry-run.json');
      const request: Record<string, unknown> = { ...sample, model: 'ranker@1', target: { bucket: DR_TARGET, prefix: 'retrain/' } };
      const plan: ModelRestoreStatus = await invoke(request);
      const bytes = Object.values(original).reduce((sum, b) => sum + b.length, 0);
      expect(plan).toMatchObject({
        state: 'planned',
        planToken: expect.stringMatching(/^[0-9a-f]{32}$/),
        plan: { model: 'ranker@1', keysExamined: 4, restore: { objects: 4, bytes }, skipped: { unchanged: 0, 'differs-at-target': 0 } },
      });
      expect(plan.plan.datasets.map((d) => [d.role, d.asset, d.prefix, d.keys, d.target.prefix])).toEqual([
        ['training', 'training', 'train/m/', 2, 'retrain/training/'],
        ['training', 'training', 'train/n/', 1, 'retrain/training/'],
        ['eval', 'evals', 'evals/golden/', 1, 'retrain/evals/'],
      ]);
      expect(await keysIn(DR_TARGET, 'retrain/')).toEqual([]); // a dry run writes nothing

      const { dryRun: _dryRun, ...run } = request;
      await expect(invoke(run)).rejects.toThrow('planToken: a restore runs only with the planToken of its dry run');
      const done: ModelRestoreStatus = await invoke({ ...run, planToken: plan.planToken });
      expect(done).toMatchObject({ state: 'done', result: { restored: { objects: 4, bytes }, failed: 0 } });
      // Exactly the record's objects, as of the dataset versions' time (not the later writes, not train/other.jsonl).
      expect(await keysIn(DR_TARGET, 'retrain/')).toEqual(
        Object.keys(original)
          .map((k) => landsAt('retrain/', k))
          .sort(),
      );
      for (const [key, body] of Object.entries(original))
        expect((await read(DR_TARGET, landsAt('retrain/', key))).equals(body), key).toBe(true);
      // Nothing the restore sent went to the primary region.
      expect(proxy.injected.internal - refusedBefore).toBe(0);

      // Asked again: nothing left to do.
      const again: ModelRestoreStatus = await invoke(request);
      expect(again.plan).toMatchObject({ restore: { objects: 0 }, skipped: { unchanged: 4 } });
    } finally {
      proxy.rules.splice(proxy.rules.indexOf(primary), 1);
    }
  });

  it('continues across invocations, planning and running, from its checkpoint, to the same bytes', async () => {
    const restorer = createModelRestorer(parseConfig(process.env), 'restore-data');
    const continued: unknown[] = [];
    /** One invocation that has time for `calls` checks of its time left. */
    const deps = (calls: number) => {
      let n = 0;
      return {
        ...restorer.depsFor(() => (++n <= calls ? 900_000 : 1_000)),
        continuation: { continueLater: async (payload: Record<string, unknown>) => void continued.push(payload) },
        concurrency: 1,
      };
    };
    const payload = { model: 'ranker@1', target: { bucket: DR_TARGET, prefix: 'resumed/' }, dryRun: true };
    let status = await restoreModel(parseModelRestore(payload, t.policy), deps(3));
    let invocations = 1;
    while (status.state === 'planning' && invocations < 30) {
      status = await restoreModel({ kind: 'status', restoreId: status.restoreId, continuation: true }, deps(3));
      invocations++;
    }
    expect(invocations).toBeGreaterThan(2);
    expect(status).toMatchObject({ state: 'planned', plan: { keysExamined: 4, restore: { objects: 4 } } });

    const { dryRun: _dryRun, ...run } = payload;
    // Running: time for the large object's multipart copy (a part check each, copied and verified) in one invocation.
    status = await restoreModel(parseModelRestore({ ...run, planToken: status.planToken }, t.policy), deps(8));
    invocations = 1;
    while (status.state === 'running' && invocations < 30) {
      status = await restoreModel({ kind: 'status', restoreId: status.restoreId, continuation: true }, deps(8));
      invocations++;
    }
    expect(invocations).toBeGreaterThanOrEqual(2);
    expect(status).toMatchObject({ state: 'done', result: { restored: { objects: 4 }, failed: 0 } });
    expect(continued.length).toBeGreaterThan(2);
    for (const [key, body] of Object.entries(original))
      expect((await read(DR_TARGET, landsAt('resumed/', key))).equals(body), key).toBe(true);
  });

  it('ends its plan failed, naming the part, when a manifest part no longer matches its digest; nothing is restored and the plan does not stay running', async () => {
    const restorer = createModelRestorer(parseConfig(process.env), 'restore-data');
    const plain = { ...restorer.depsFor(() => 900_000), continuation: { continueLater: async () => {} } };
    /** Reads the dataset versions' parts with a byte more than their digests cover (a fault the local AWS cannot make). */
    const corrupted: typeof plain = {
      ...plain,
      forAsset: (asset, region) => {
        const real = plain.forAsset(asset, region);
        return {
          ...real,
          objects: {
            bucket: real.objects.bucket,
            put: real.objects.put.bind(real.objects),
            get: async (key, versionId) =>
              key.endsWith('manifest.json')
                ? real.objects.get(key, versionId)
                : Buffer.concat([await real.objects.get(key, versionId), Buffer.from('\n')]),
          },
        };
      },
    };
    const payload = { model: 'ranker@1', target: { bucket: DR_TARGET, prefix: 'corrupt/' } };
    const plan = await restoreModel(parseModelRestore({ ...payload, dryRun: true }, t.policy), plain);
    expect(plan.state).toBe('planned');
    const failed = await restoreModel(parseModelRestore({ ...payload, planToken: plan.planToken }, t.policy), corrupted);
    expect(failed).toMatchObject({
      state: 'failed',
      reason: expect.stringMatching(
        /: part s3:\/\/it-replica\/\S+\/part-\d+\.ndjson version \S+ has SHA-256 [0-9a-f]{64}, not [0-9a-f]{64}$/,
      ),
    });
    expect(await invoke({ restoreId: plan.restoreId })).toMatchObject({ state: 'failed', reason: failed.reason });
    expect(await keysIn(DR_TARGET, 'corrupt/')).toEqual([]);
  });

  it('leaves a target object with other bytes alone unless told to overwrite it, and then only adds a version', async () => {
    const key = landsAt('retrain/', 'evals/golden/e1.jsonl');
    await dr.send(new PutObjectCommand({ Bucket: DR_TARGET, Key: key, Body: 'edited by someone' }));
    const request = { model: 'ranker@1', target: { bucket: DR_TARGET, prefix: 'retrain/' } };
    const left = await invoke({ ...request, dryRun: true });
    expect(left.plan).toMatchObject({
      restore: { objects: 0 },
      skipped: { unchanged: 3, 'differs-at-target': 1 },
      differsAtTargetExamples: [key],
    });
    const told = await invoke({ ...request, overwrite: true, dryRun: true });
    expect(told.plan).toMatchObject({ restore: { objects: 1 }, overwrite: { objects: 1, examples: [key] } });
    expect(await invoke({ ...request, overwrite: true, planToken: told.planToken })).toMatchObject({
      state: 'done',
      result: { restored: { objects: 1 } },
    });
    expect((await read(DR_TARGET, key)).equals(original['evals/golden/e1.jsonl']!)).toBe(true);
    expect((await dr.send(new ListObjectVersionsCommand({ Bucket: DR_TARGET, Prefix: key }))).Versions).toHaveLength(3);
  });

  it('refuses, with one clear error and nothing written: an unknown model, a bad reference, a target outside the policy, a catalog that disagrees with the record', async () => {
    const before = await keysIn(DR_TARGET, '');
    await expect(invoke({ model: 'ranker@9', target: { bucket: DR_TARGET }, dryRun: true })).rejects.toThrow(
      'model: no model "ranker@9" is registered',
    );
    await expect(invoke(loadEvent('restore-data/invalid/model-without-version.json'))).rejects.toThrow('model: must be "<name>@<version>"');
    await expect(invoke({ model: 'ranker@1', target: { bucket: 'it-replica' }, dryRun: true })).rejects.toThrow(
      'target.bucket: "it-replica" is a replica bucket; a restore never writes into the replica',
    );
    await expect(invoke({ model: 'ranker@1', target: { bucket: 'elsewhere' }, dryRun: true })).rejects.toThrow(
      'target.bucket: "elsewhere" is outside the policy',
    );
    // The catalog entry of a linked dataset version no longer has the digest the record pinned.
    const record = await lineage({ model: 'ranker@1' }, localContext('lineage'));
    const link = record.evaluatedOn[0];
    const db = dynamoDocumentClient();
    const key = { pk: `DATASET#${link.asset}`, sk: link.id };
    await db.send(
      new UpdateCommand({
        TableName: t.stack.ledgerTable,
        Key: key,
        UpdateExpression: 'SET sha256 = :x',
        ExpressionAttributeValues: { ':x': '0'.repeat(64) },
      }),
    );
    try {
      await expect(invoke({ model: 'ranker@1', target: { bucket: DR_TARGET }, dryRun: true })).rejects.toThrow(
        `model: ranker@1 links dataset version evals/${link.id} (SHA-256 ${link.sha256}), which the catalog holds with SHA-256 ${'0'.repeat(64)} (complete)`,
      );
    } finally {
      await db.send(
        new UpdateCommand({
          TableName: t.stack.ledgerTable,
          Key: key,
          UpdateExpression: 'SET sha256 = :x',
          ExpressionAttributeValues: { ':x': link.sha256 },
        }),
      );
    }
    expect(await keysIn(DR_TARGET, '')).toEqual(before);
  });

  it('imports model records from MLflow (exchanges recorded from a real server): each version linked to the dataset versions its run names, then restorable by model', async () => {
    const sample = loadEvent<{ importMlflow: Record<string, unknown> }>('lineage/valid/import-mlflow.json');
    const result = await lineage(sample, localContext('lineage'));
    expect(result.imported).toEqual([
      expect.objectContaining({ model: 'search-ranker@1', registered: true, trainedOn: 1, evaluatedOn: 1, ignoredInputs: 0 }),
      expect.objectContaining({ model: 'search-ranker@2', registered: true, trainedOn: 2, evaluatedOn: 1, ignoredInputs: 0 }),
    ]);
    expect(result.refused.map((r: { model: string }) => r.model)).toEqual(['search-ranker@3', 'search-ranker@4']);
    expect(result.refused[0].reason).toMatch(/inputs that are not dataset versions of the DR replica/);
    expect(result.refused[1].reason).toMatch(/it has no run/);
    expect(mlflow.unexpected).toEqual([]);

    const record = await lineage({ model: 'search-ranker@1' }, localContext('lineage'));
    expect(record.metadata).toMatchObject({
      'mlflow.run_id': mlflowFixture.runs.v1,
      registry: `${mlflow.url}/#/models/search-ranker/versions/1`,
    });
    // Imported again: nothing changes.
    const again = await lineage(sample, localContext('lineage'));
    expect(again.imported.map((i: { registered: boolean }) => i.registered)).toEqual([false, false]);

    const plan = await invoke({ model: 'search-ranker@1', target: { bucket: DR_TARGET, prefix: 'retrain/' }, dryRun: true });
    expect(plan.plan).toMatchObject({ keysExamined: 3 });
    expect(plan.plan.datasets.map((d: { asset: string; prefix: string }) => `${d.asset}:${d.prefix}`)).toEqual([
      'training:train/m/',
      'evals:evals/golden/',
    ]);
  });

  it('links eval results to a model version, answers the eval results history across versions, and restores them with the model when asked', async () => {
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'results/ranker-3/scores.json', Body: '{"ndcg@10":0.71}' }));
    await t.drain();
    const results = await lineage(
      { dataset: { asset: 'results', prefix: 'results/ranker-3/', name: 'ranker-3-scores' } },
      localContext('lineage'),
    );
    expect(results).toMatchObject({ state: 'complete', keys: 1 });
    const one = await lineage({ model: 'ranker@1' }, localContext('lineage'));
    const registration = {
      name: 'ranker',
      version: '3',
      trainedOn: one.trainedOn.map(({ asset, id }: { asset: string; id: string }) => ({ asset, id })),
    };
    // Eval results link only eval-results assets.
    await expect(
      lineage(
        { registerModel: { ...registration, evalResults: [{ asset: 'evals', id: one.evaluatedOn[0].id }] } },
        localContext('lineage'),
      ),
    ).rejects.toThrow('registerModel.evalResults[0].asset: "evals" is an eval-set asset; evalResults links eval-results assets');
    const three = await lineage(
      {
        registerModel: {
          ...registration,
          evaluatedOn: [{ asset: 'evals', id: one.evaluatedOn[0].id }],
          evalResults: [{ asset: 'results', id: results.id }],
        },
      },
      localContext('lineage'),
    );
    expect(three.evalResults).toEqual([{ asset: 'results', id: results.id, sha256: results.sha256 }]);

    const history = await lineage({ evalHistory: 'ranker' }, localContext('lineage'));
    expect(history.versions.map((v: { version: string; evalResults: unknown[] }) => [v.version, v.evalResults.length])).toEqual([
      ['1', 0],
      ['3', 1],
    ]);
    expect(history.versions[1].evalResults[0]).toMatchObject({ asset: 'results', id: results.id, keys: 1, name: 'ranker-3-scores' });

    const plan = await invoke({
      model: 'ranker@3',
      evalResults: true,
      target: { bucket: DR_TARGET, prefix: 'with-results/' },
      dryRun: true,
    });
    expect(plan.plan.datasets.map((d: { role: string; asset: string }) => `${d.role}:${d.asset}`)).toEqual([
      'training:training',
      'training:training',
      'eval:evals',
      'eval-results:results',
    ]);
    const run = await invoke({
      model: 'ranker@3',
      evalResults: true,
      target: { bucket: DR_TARGET, prefix: 'with-results/' },
      planToken: plan.planToken,
    });
    expect(run).toMatchObject({ state: 'done', result: { restored: { objects: 5 }, failed: 0 } });
    expect((await read(DR_TARGET, 'with-results/results/ranker-3/scores.json')).toString()).toBe('{"ndcg@10":0.71}');
  });

  it('a training pipeline drops a request file: its S3 event builds the dataset version, and the result (or one clear error) is written beside it', async () => {
    const put = (key: string, body: string) => t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: body }));
    await put('requests/job-42.json', JSON.stringify({ dataset: { asset: 'training', prefix: 'train/m/', name: 'job-42' } }));
    await put('requests/bad.json', JSON.stringify({ dataset: { asset: 'imagenet' } }));
    await put('requests/not-json.json', '{"dataset": ');
    /** The request files' events, as EventBridge delivers them to the lineage function, each handled. */
    const deliver = async () => {
      const answers = [];
      for (const body of await t.takeMessages(t.stack.lineageRequestsQueueUrl!))
        answers.push(await lineage(JSON.parse(body), localContext('lineage')));
      return answers;
    };
    const answers = await deliver();
    expect(answers).toHaveLength(3);
    const result = async (key: string) =>
      JSON.parse(await (await t.s3.send(new GetObjectCommand({ Bucket: 'it-source', Key: key }))).Body!.transformToString());
    const built = await result('requests/job-42.result.json');
    expect(built).toMatchObject({
      asset: 'training',
      name: 'job-42',
      state: 'complete',
      keys: 2,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(await lineage({ datasetVersion: { asset: 'training', id: built.id } }, localContext('lineage'))).toMatchObject({
      sha256: built.sha256,
    });
    expect(await result('requests/bad.json'.replace('.json', '.result.json'))).toEqual({
      request: 's3://it-source/requests/bad.json',
      error: expect.stringMatching(/^dataset\.asset: "imagenet" is not a replicated asset of the policy/),
    });
    expect((await result('requests/not-json.result.json')).error).toMatch(/^not JSON: /);
    // The result files' own events reach the function too, and are ignored.
    const again = await deliver();
    expect(again.map((a: { ignored?: string }) => a.ignored).sort()).toEqual([
      'requests/bad.result.json is a result file',
      'requests/job-42.result.json is a result file',
      'requests/not-json.result.json is a result file',
    ]);
  });
});
