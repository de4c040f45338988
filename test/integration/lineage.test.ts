import { DeleteObjectCommand, HeadObjectCommand, ListObjectVersionsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  awaitReplication,
  buildDatasetVersion,
  type BuildDeps,
  type DatasetRequest,
} from '../../functions/lineage/build-dataset-version.js';
import type { DatasetVersionEntry } from '../../functions/lineage/dataset-catalog.js';
import { datasetManifestSchema, manifestLineSchema, type ManifestLine } from '../../functions/lineage/dataset-manifest.js';
import { S3DatasetObjects } from '../../functions/lineage/dataset-objects.js';
import { DynamoDatasetCatalog } from '../../functions/lineage/dynamo-dataset-catalog.js';
import { lineagePrefix } from '../../functions/policy/assets.js';
import { dynamoDocumentClient } from '../../functions/shared/aws-clients.js';
import { S3VersionedStore } from '../../functions/storage/s3-versioned-store.js';
import { localContext } from '../../scripts/local-aws/event-source-mapping.js';
import { loadEvent } from '../support/fixtures.js';
import { startStack, type StackUnderTest } from '../support/local-stack.js';

/**
 * Dataset versions (docs/lineage.md) on the local stack: built from the replica and the ledger
 * alone (what the DR region holds), a part at a time across invocations, each key's version as of
 * the time, refused while a version of that time is not verified in the replica.
 */
let t: StackUnderTest;
const dr = new S3Client({ region: 'us-west-2', forcePathStyle: true });
const objects = new S3DatasetObjects(dr, 'it-replica');
let catalog: DynamoDatasetCatalog;

/** One invocation's deps: `calls` remainingMs() answers with time left, then the invocation "ends". */
function deps(calls = Infinity, partLines = 3): BuildDeps {
  let n = 0;
  return {
    ledger: t.ledger,
    replica: new S3VersionedStore(dr),
    objects,
    catalog,
    lineagePrefix: lineagePrefix(t.policy),
    now: () => new Date(),
    remainingMs: () => (++n <= calls ? 900_000 : 1_000),
    partLines,
    concurrency: 2,
  };
}

/** Invokes the build until it is no longer building (each invocation with `calls` of time). */
async function buildAll(request: DatasetRequest, calls: number) {
  const asset = t.asset(request.asset);
  const invocations: DatasetVersionEntry[] = [];
  for (let i = 0; i < 30; i++) {
    const { entry, continues } = await buildDatasetVersion(asset, request, deps(calls));
    invocations.push(entry);
    if (entry.state !== 'building') return invocations;
    expect(continues).toBe(true);
  }
  throw new Error('the build never finished');
}

/** The lines of a complete dataset version, read back from the replica bucket by pinned versions, each checked against its digest. */
async function linesOf(entry: DatasetVersionEntry): Promise<ManifestLine[]> {
  const body = await objects.get(entry.manifestKey!, entry.manifestVersionId!);
  expect(createHash('sha256').update(body).digest('hex')).toBe(entry.sha256);
  const manifest = datasetManifestSchema.parse(JSON.parse(body.toString('utf8')));
  const folder = entry.manifestKey!.replace(/manifest\.json$/, '');
  const lines: ManifestLine[] = [];
  for (const part of manifest.parts) {
    const bytes = await objects.get(`${folder}${part.key}`, part.versionId);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(part.sha256);
    const partLines = bytes.toString('utf8').trim().split('\n');
    expect(partLines.length).toBe(part.lines);
    lines.push(...partLines.map((l) => manifestLineSchema.parse(JSON.parse(l))));
  }
  expect(manifest).toMatchObject({ id: entry.id, asset: entry.asset, keys: lines.length, asOf: entry.asOf });
  return lines;
}

const sourceVersions = async (key: string) =>
  ((await t.s3.send(new ListObjectVersionsCommand({ Bucket: 'it-source', Prefix: key }))).Versions ?? []).filter((v) => v.Key === key);

beforeAll(async () => {
  t = await startStack();
  catalog = new DynamoDatasetCatalog(dynamoDocumentClient(), t.stack.ledgerTable);
}, 120_000);

afterAll(async () => {
  await t?.stop();
});

describe('dataset versions', () => {
  const keys = Array.from({ length: 10 }, (_, i) => `train/ds/k${String(i).padStart(2, '0')}.jsonl`);
  let asOf: string;

  beforeAll(async () => {
    for (const key of keys) await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: `first ${key}` }));
    await t.s3.send(new DeleteObjectCommand({ Bucket: 'it-source', Key: keys[9] }));
    await t.drain();
    asOf = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 1100)); // later writes in a later second
    for (const key of keys.slice(0, 3)) await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: `later ${key}` }));
    await t.drain();
  });

  it('a prefix too large for one invocation is built part by part across invocations, each key’s version as of the time, verified in the replica', async () => {
    const invocations = await buildAll({ asset: 'training', prefix: 'train/ds/', asOf }, 2);
    expect(invocations.length).toBeGreaterThan(2);
    const entry = invocations.at(-1)!;
    expect(entry).toMatchObject({ state: 'complete', keys: 9, bucket: 'it-replica', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(entry.parts.length).toBeGreaterThanOrEqual(3); // at most 3 lines a part

    const lines = await linesOf(entry);
    expect(lines.map((l) => l.key)).toEqual(keys.slice(0, 9)); // the key deleted before the time is not in it
    for (const line of lines) {
      // The version as of the time: the first write, not the later one.
      const [first] = (await sourceVersions(line.key)).reverse();
      expect(line.sourceVersionId, line.key).toBe(first!.VersionId);
      // The replica version the line names holds those bytes: S3's own SHA-256 of it.
      const head = await dr.send(
        new HeadObjectCommand({ Bucket: 'it-replica', Key: line.replicaKey, VersionId: line.replicaVersionId, ChecksumMode: 'ENABLED' }),
      );
      expect(Buffer.from(head.ChecksumSHA256!, 'base64').toString('hex'), line.key).toBe(line.sha256);
      expect(line.sha256).toBe(createHash('sha256').update(`first ${line.key}`).digest('hex'));
    }

    // Built in one invocation (another name, so another version): the same lines.
    const [oneShot] = await buildAll({ asset: 'training', prefix: 'train/ds/', asOf, name: 'one-shot' }, Infinity);
    expect(oneShot!.id).not.toBe(entry.id);
    expect(await linesOf(oneShot!)).toEqual(lines);

    // Asked again: the same version, nothing written.
    const before = (await dr.send(new ListObjectVersionsCommand({ Bucket: 'it-replica', Prefix: lineagePrefix(t.policy) }))).Versions
      ?.length;
    expect(await buildDatasetVersion(t.asset('training'), { asset: 'training', prefix: 'train/ds/', asOf }, deps())).toEqual({
      entry,
      continues: false,
    });
    expect((await dr.send(new ListObjectVersionsCommand({ Bucket: 'it-replica', Prefix: lineagePrefix(t.policy) }))).Versions?.length).toBe(
      before,
    );
  });

  it('two invocations of one build (a request repeated while it builds): each step is committed by one, the other leaves the build to it', async () => {
    const request = { asset: 'training', prefix: 'train/ds/', asOf, name: 'raced' };
    const steps = [];
    for (let i = 0; i < 30; i++) {
      const pair = await Promise.all([
        buildDatasetVersion(t.asset('training'), request, deps(2)),
        buildDatasetVersion(t.asset('training'), request, deps(2)),
      ]);
      steps.push(pair);
      if (pair.some((step) => step.entry.state === 'complete')) break;
    }
    // Never both carry on: at most one continuation per step, so duplicate chains die out.
    for (const pair of steps) expect(pair.filter((step) => step.continues).length).toBeLessThanOrEqual(1);
    expect(steps.some((pair) => pair.some((step) => step.entry.state === 'building' && !step.continues))).toBe(true); // a race was lost
    const entry = (await catalog.get('training', steps[0]![0].entry.id))!;
    expect(entry.state).toBe('complete');
    expect((await linesOf(entry)).map((l) => l.key)).toEqual(keys.slice(0, 9));
  });

  it('is refused while a version of the time is not verified in the replica, with the reason, and built once replication has caught up', async () => {
    const key = 'train/pending/weights.bin';
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: 'not replicated yet' }));
    const [version] = await sourceVersions(key);
    // What reconcile or an event's claim records before the copy.
    await t.ledger.markPending(
      [
        {
          asset: 'training',
          key,
          sourceVersionId: version!.VersionId!,
          entryType: 'object',
          sourceLastModified: version!.LastModified!.toISOString(),
          size: 18,
        },
      ],
      new Date(),
    );
    const request = { asset: 'training', prefix: 'train/pending/', asOf: new Date().toISOString() };
    // A dry run says so first, and writes nothing.
    const { handler } = (await import('../../functions/lineage.js')) as { handler: (e: unknown, c: unknown) => Promise<any> };
    const preview = await handler({ dataset: { ...request, dryRun: true } }, localContext('lineage'));
    expect(preview).toMatchObject({ wouldBe: 'refused', keys: 0, unverified: { pending: 1, examples: [key] }, walkedAll: true });
    expect(await catalog.get('training', preview.id)).toBeUndefined();
    const { entry: refused } = await buildDatasetVersion(t.asset('training'), request, deps());
    expect(refused.id).toBe(preview.id);
    expect(refused).toMatchObject({ state: 'refused', unverified: { pending: 1, withoutDigest: 0, examples: [key] } });
    expect(refused.reason).toMatch(
      /^1 version\(s\) written by .* are not in the replica yet: ask again once replication has caught up .*\(train\/pending\/weights\.bin\)$/,
    );

    await t.drain();
    expect(await handler({ dataset: { ...request, dryRun: true } }, localContext('lineage'))).toMatchObject({
      wouldBe: 'complete',
      keys: 1,
      bytes: 18,
      unverified: { pending: 0, withoutDigest: 0 },
    });
    const { entry: built } = await buildDatasetVersion(t.asset('training'), request, deps());
    expect(built).toMatchObject({ id: refused.id, state: 'complete', keys: 1 });
    expect((await linesOf(built)).map((l) => l.key)).toEqual([key]);
  });

  it('asked to wait (waitMinutes), waits for versions pending replication instead of refusing, across invocations, then builds; the wait ends at its time', async () => {
    const key = 'train/waiting/w.bin';
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: 'replicated soon' }));
    const [version] = await sourceVersions(key);
    const pendingEntry = {
      asset: 'training',
      key,
      sourceVersionId: version!.VersionId!,
      entryType: 'object' as const,
      sourceLastModified: version!.LastModified!.toISOString(),
      size: 15,
    };
    await t.ledger.markPending([pendingEntry], new Date());
    const asOf = new Date().toISOString();
    const { handler } = (await import('../../functions/lineage.js')) as { handler: (e: unknown, c: unknown) => Promise<any> };
    // An invocation with too little time left to wait in answers "waiting" and continues in the next.
    const short = { ...localContext('lineage'), getRemainingTimeInMillis: () => 61_000 };
    // The local AWS cannot run our functions: the continuation it sends itself is caught here, and sent on by the test.
    const lambda = mockClient(LambdaClient);
    let waiting;
    let continuation: unknown;
    try {
      lambda.on(InvokeCommand).callsFake((input: { Payload: string }) => {
        continuation = JSON.parse(input.Payload);
        return { StatusCode: 202 };
      });
      const { waitMinutes } = loadEvent<{ dataset: { waitMinutes: number } }>('lineage/valid/create-waiting.json').dataset;
      expect(waitMinutes).toBe(30);
      waiting = await handler({ dataset: { asset: 'training', prefix: 'train/waiting/', asOf, waitMinutes } }, short);
      expect(waiting).toMatchObject({ state: 'waiting', pending: 1, examples: [key], asOf });
      expect(Date.parse(waiting.waitUntil) - Date.now()).toBeGreaterThan(29 * 60_000);
      expect(continuation).toEqual({
        dataset: { asset: 'training', prefix: 'train/waiting/', asOf, waitUntil: waiting.waitUntil },
        continuation: true,
      });
      expect(await catalog.get('training', waiting.id)).toBeUndefined(); // nothing written while it waits
      // The continuation waits on (its deadline as the first request set it).
      expect(await handler(continuation, short)).toEqual(waiting);
    } finally {
      lambda.restore();
    }
    const fromCaller = loadEvent<{ dataset: object }>('lineage/invalid/wait-until-from-a-caller.json');
    await expect(handler({ dataset: { ...fromCaller.dataset, asset: 'training', prefix: 'train/waiting/' } }, short)).rejects.toThrow(
      'dataset.waitUntil: is sent by the function to itself; ask with "waitMinutes"',
    );

    // A wait whose time is over goes on to the build, which refuses as it would have.
    const over: DatasetRequest = { asset: 'training', prefix: 'train/waiting/', asOf, name: 'over', waitUntil: asOf };
    expect(
      await awaitReplication(t.asset('training'), over, { ...deps(), sleep: async () => expect.fail('no pause after the wait') }),
    ).toBeUndefined();
    expect((await buildDatasetVersion(t.asset('training'), over, deps())).entry).toMatchObject({
      state: 'refused',
      unverified: { pending: 1 },
    });

    // The continuation (what the function sent itself) waits on; replication catches up during its pause, and it builds.
    let pauses = 0;
    const request: DatasetRequest = { asset: 'training', prefix: 'train/waiting/', asOf, waitUntil: waiting.waitUntil };
    const waitDeps = {
      ...deps(),
      sleep: async (ms: number) => {
        expect(ms).toBe(30_000);
        pauses++;
        await t.drain();
      },
    };
    expect(await awaitReplication(t.asset('training'), request, waitDeps)).toBeUndefined();
    expect(pauses).toBe(1);
    const { entry: built } = await buildDatasetVersion(t.asset('training'), request, waitDeps);
    expect(built).toMatchObject({ id: waiting.id, state: 'complete', keys: 1 });
    // The function's own continuation now answers the dataset version.
    expect(await handler(continuation, localContext('lineage'))).toMatchObject({ id: waiting.id, state: 'complete', keys: 1 });
  });

  it('the lineage function creates, reads and lists dataset versions; a bad payload gets one clear error', async () => {
    const { handler } = (await import('../../functions/lineage.js')) as { handler: (e: unknown, c: unknown) => Promise<any> };
    const invoke = (payload: unknown) => handler(payload, localContext('lineage'));
    const sample = loadEvent<{ dataset: Record<string, unknown> }>('lineage/valid/create.json');
    const created = await invoke({ dataset: { ...sample.dataset, asset: 'training', prefix: 'train/ds/', asOf } });
    expect(created).toMatchObject({ asset: 'training', state: 'complete', keys: 9, name: sample.dataset.name, parts: 1 });
    expect(await invoke({ datasetVersion: { asset: 'training', id: created.id } })).toEqual(created);
    const { datasetVersions } = await invoke({
      datasetVersions: { ...loadEvent<any>('lineage/valid/list.json').datasetVersions, asset: 'training' },
    });
    expect(datasetVersions.map((v: { id: string }) => v.id)).toContain(created.id);

    const outside = loadEvent<any>('lineage/invalid/prefix-outside-the-asset.json');
    await expect(invoke({ dataset: { ...outside.dataset, asset: 'training' } })).rejects.toThrow(
      'dataset.prefix: "models/" is outside asset training, whose keys start with "train/"',
    );
    await expect(invoke(loadEvent('lineage/invalid/unknown-asset.json'))).rejects.toThrow(
      /^dataset\.asset: "imagenet" is not a replicated asset of the policy/,
    );
    await expect(invoke({ datasetVersion: { asset: 'training', id: 'nope' } })).rejects.toThrow(
      'datasetVersion.id: asset training has no dataset version "nope"',
    );
  });

  it('a model version links its training and eval dataset versions, pinned by their digests; it does not change, and is found from each dataset version', async () => {
    const { handler } = (await import('../../functions/lineage.js')) as { handler: (e: unknown, c: unknown) => Promise<any> };
    const invoke = (payload: unknown) => handler(payload, localContext('lineage'));
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'evals/golden/q1.jsonl', Body: '{"q":"a"}' }));
    await t.drain();
    const train = await invoke({ dataset: { asset: 'training', prefix: 'train/ds/', asOf } });
    const evals = await invoke({ dataset: { asset: 'evals', prefix: 'evals/golden/' } });
    expect([train.state, evals.state]).toEqual(['complete', 'complete']);

    const sample = loadEvent<any>('lineage/valid/register-model.json').registerModel;
    const registration = {
      ...sample,
      trainedOn: [{ asset: 'training', id: train.id }],
      evaluatedOn: [{ asset: 'evals', id: evals.id }],
    };
    const registered = await invoke({ registerModel: registration });
    expect(registered).toMatchObject({
      name: 'search-ranker',
      version: '7',
      registered: true,
      trainedOn: [{ asset: 'training', id: train.id, sha256: train.sha256 }],
      evaluatedOn: [{ asset: 'evals', id: evals.id, sha256: evals.sha256 }],
      artifacts: [],
      metadata: sample.metadata,
    });
    // The same again: nothing changes. Other links: refused, the record stays.
    expect(await invoke({ registerModel: registration })).toMatchObject({ registered: false, registeredAt: registered.registeredAt });
    await expect(invoke({ registerModel: { ...registration, evaluatedOn: [] } })).rejects.toThrow(
      /^registerModel: search-ranker@7 is registered already .* with other links; a model version's record does not change/,
    );
    // This policy turns Object Lock off: the holds say they cannot be placed, and why.
    expect(registered.holds.map((h: { state: string }) => h.state)).toEqual(['unprotected', 'unprotected']);
    expect(registered.holds[0].reason).toMatch(/^the replica bucket it-replica has no Object Lock/);
    const { registered: _r, holds: _h, ...record } = registered;
    expect(await invoke(loadEvent('lineage/valid/model.json'))).toEqual(record);
    expect(await invoke(loadEvent('lineage/valid/model-versions.json'))).toEqual({ name: 'search-ranker', versions: [record] });
    expect(await invoke({ modelsUsing: { asset: 'training', id: train.id } })).toEqual({
      asset: 'training',
      id: train.id,
      models: ['search-ranker@7'],
      retired: [],
    });
    expect(await invoke({ modelsUsing: { asset: 'evals', id: evals.id } })).toMatchObject({ models: ['search-ranker@7'] });

    // A dataset version of the wrong kind, an unknown one, or one not complete: one clear error, nothing written.
    const wrongKind = loadEvent<any>('lineage/invalid/register-model-wrong-kind.json').registerModel;
    await expect(invoke({ registerModel: { ...wrongKind, version: '8', trainedOn: [{ asset: 'evals', id: evals.id }] } })).rejects.toThrow(
      'registerModel.trainedOn[0].asset: "evals" is an eval-set asset; trainedOn links training-data assets',
    );
    await expect(
      invoke({ registerModel: { ...registration, version: '8', trainedOn: [{ asset: 'training', id: 'nope' }] } }),
    ).rejects.toThrow('registerModel.trainedOn[0].id: asset training has no dataset version "nope"');
    const pendingKey = 'train/held/a.bin';
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: pendingKey, Body: 'not yet' }));
    const [held] = await sourceVersions(pendingKey);
    await t.ledger.markPending(
      [
        {
          asset: 'training',
          key: pendingKey,
          sourceVersionId: held!.VersionId!,
          entryType: 'object',
          sourceLastModified: held!.LastModified!.toISOString(),
          size: 7,
        },
      ],
      new Date(),
    );
    const refused = await invoke({ dataset: { asset: 'training', prefix: 'train/held/' } });
    expect(refused.state).toBe('refused');
    await expect(
      invoke({ registerModel: { ...registration, version: '8', trainedOn: [{ asset: 'training', id: refused.id }] } }),
    ).rejects.toThrow(
      `registerModel.trainedOn[0].id: dataset version "${refused.id}" of training is refused; a model links only complete ones`,
    );
    expect((await invoke({ modelVersions: 'search-ranker' })).versions).toHaveLength(1);
  });
});
