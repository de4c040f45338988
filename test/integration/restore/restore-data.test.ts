import { DeleteObjectCommand, GetObjectCommand, ListObjectVersionsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoDocumentClient } from '../../../functions/shared/aws-clients.js';
import { parseDataRestore } from '../../../functions/restore/data-request.js';
import { dataPlanStore } from '../../../functions/restore/dynamo-plan-store.js';
import { planDataRestore, runDataRestore, type DataRestoreDeps } from '../../../functions/restore/restore-data.js';
import { createStores } from '../../../functions/storage/stores.js';
import { DynamoLedger } from '../../../functions/ledger/dynamo-ledger.js';
import { localContext } from '../../../scripts/local-aws/event-source-mapping.js';
import { loadEvent } from '../../support/fixtures.js';
import { startStack, type StackUnderTest } from '../../support/local-stack.js';

const dataPlans = () => dataPlanStore(dynamoDocumentClient(), t.stack.ledgerTable);

/**
 * restore-data on the local AWS with the real replicate handler: objects overwritten with garbage
 * and deleted after T1 come back byte for byte as of T1, in place or into another bucket, only
 * with the dry run's token; a long restore continues; bad payloads change nothing.
 */
let t: StackUnderTest;
let handler: (event: unknown, context: ReturnType<typeof localContext>) => Promise<any>;
let t1: string;
const MiB = 1024 * 1024;
const original = {
  'train/a.bin': Buffer.alloc(7 * MiB + 5, 'a'), // above the 6 MiB multipart threshold of the test policy
  'train/b.txt': Buffer.from('the original b'),
  'train/sub/c.json': Buffer.from('{"original":"c"}'),
};
const put = (key: string, body: Buffer | string, bucket = 'it-source') =>
  t.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
const read = async (bucket: string, key: string) =>
  Buffer.from(await (await t.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
const versionsIn = async (bucket: string, prefix = '') => {
  const page = await t.s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix }));
  return [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((v) => `${v.Key}@${v.VersionId}`).sort();
};
const invoke = (payload: unknown) => handler(payload, localContext('restore-data'));

beforeAll(async () => {
  t = await startStack();
  await t.createVersionedBucket('it-restore');
  for (const [key, body] of Object.entries(original)) await put(key, body);
  await t.drain();
  // T1: the time of the last original write (the damage below comes after the drain, later still).
  const listed = await t.s3.send(new ListObjectVersionsCommand({ Bucket: 'it-source', Prefix: 'train/' }));
  t1 = new Date(Math.max(...(listed.Versions ?? []).map((v) => v.LastModified!.getTime()))).toISOString();
  // After T1: garbage over two objects, one deleted, one new.
  await put('train/a.bin', Buffer.alloc(7 * MiB + 5, 'X'));
  await put('train/b.txt', 'garbage');
  await t.s3.send(new DeleteObjectCommand({ Bucket: 'it-source', Key: 'train/sub/c.json' }));
  await put('train/d-new.txt', 'written after T1');
  await t.drain();
  ({ handler } = (await import('../../../functions/restore-data.js')) as any);
}, 180_000);

afterAll(async () => {
  await t?.stop();
});

describe('restore-data', () => {
  it('dry run: plans without writing, and leaves newer data alone unless told', async () => {
    const before = await versionsIn('it-source');
    const plan = await invoke({
      ...loadEvent<Record<string, unknown>>('restore-data/valid/dry-run-in-place.json'),
      asset: 'training',
      asOf: t1,
    });

    expect(plan).toMatchObject({
      state: 'planned',
      planToken: expect.stringMatching(/^[0-9a-f]{32}$/),
      plan: {
        keysExamined: 4,
        restore: { objects: 1, bytes: original['train/sub/c.json'].length },
        skipped: { 'newer-at-target': 2, 'absent-at-time': 1 },
        newerAtTargetExamples: expect.arrayContaining(['train/a.bin', 'train/b.txt']),
        leftAlone: { objects: 1, examples: ['train/d-new.txt'] },
      },
    });
    expect(await versionsIn('it-source')).toEqual(before);
  });

  it("refuses to run without the dry run's token, with another request's token, or twice; nothing is written", async () => {
    const before = await versionsIn('it-source');
    const request = { asset: 'training', asOf: t1, overwriteNewer: true };
    const { planToken } = await invoke({ ...request, dryRun: true });

    await expect(invoke(request)).rejects.toThrow('planToken: a restore runs only with the planToken of its dry run');
    await expect(invoke({ ...request, planToken: 'f'.repeat(32) })).rejects.toThrow(`no restore-data plan "${'f'.repeat(32)}"`);
    await expect(invoke({ ...request, overwriteNewer: false, planToken })).rejects.toThrow('was made for another request');
    expect(await versionsIn('it-source')).toEqual(before);

    const run = await invoke({ ...request, planToken });
    expect(run).toMatchObject({ state: 'done', result: { restored: { objects: 3 }, failed: 0 } });
    await expect(invoke({ ...request, planToken })).rejects.toThrow(`plan "${planToken}" is done; a plan runs once`);
  });

  it('restored the originals byte for byte in place (as of T1), new versions on top, the newer key untouched', async () => {
    for (const [key, body] of Object.entries(original)) expect((await read('it-source', key)).equals(body), key).toBe(true);
    expect((await read('it-source', 'train/d-new.txt')).toString()).toBe('written after T1');
    // Nothing was destroyed: the garbage is still there as an older version.
    expect((await versionsIn('it-source', 'train/b.txt')).length).toBe(3);
    // A second dry run finds nothing left to do.
    const again = await invoke({ asset: 'training', asOf: t1, overwriteNewer: true, dryRun: true });
    expect(again.plan).toMatchObject({ restore: { objects: 0 }, skipped: { unchanged: 3 } });
  });

  it('restores a prefix as of T1 into another bucket and prefix of the policy', async () => {
    const request = { asset: 'training', prefix: 'train/sub/', asOf: t1, target: { bucket: 'it-restore', prefix: 'restored/' } };
    const plan = await invoke({ ...request, dryRun: true });
    expect(plan.plan).toMatchObject({ keysExamined: 1, restore: { objects: 1 } });
    expect(await versionsIn('it-restore')).toEqual([]);
    const run = await invoke({ ...request, planToken: plan.planToken });
    expect(run).toMatchObject({ state: 'done', result: { restored: { objects: 1 } } });
    expect((await read('it-restore', 'restored/sub/c.json')).equals(original['train/sub/c.json'])).toBe(true);
    expect(await versionsIn('it-restore')).toHaveLength(1);
  });

  it('continues a restore that runs out of time, in the next invocation, to the same result', async () => {
    const call = parseDataRestore(
      { asset: 'training', asOf: t1, target: { bucket: 'it-restore', prefix: 'continued/' }, dryRun: true },
      t.policy,
      new Date(),
    );
    if (call.kind !== 'restore') throw new Error('unexpected');
    const continued: Record<string, unknown>[] = [];
    const stores = createStores(true);
    // The invocation "runs out of time" once the first object has been restored.
    let outOfTime = false;
    const target = stores.inRegion('us-east-1');
    const watched = Object.assign(Object.create(target), {
      completeUpload: async (...args: Parameters<typeof target.completeUpload>) => {
        const result = await target.completeUpload(...args);
        outOfTime = interrupt;
        return result;
      },
      copy: async (...args: Parameters<typeof target.copy>) => {
        const result = await target.copy(...args);
        outOfTime = interrupt;
        return result;
      },
    }) as typeof target;
    let interrupt = false;
    const deps = (): DataRestoreDeps => ({
      ledger: new DynamoLedger(dynamoDocumentClient(), t.stack.ledgerTable),
      replica: stores.replicaOf(call.asset),
      target: watched,
      plans: dataPlans(),
      continuation: { continueLater: async (payload) => void continued.push(payload) },
      now: () => new Date(),
      remainingMs: () => (outOfTime ? 0 : 900_000),
      multipart: { thresholdBytes: 6 * MiB, partSizeBytes: 5 * MiB, partConcurrency: 2 },
      concurrency: 1,
    });
    const plan = await planDataRestore(deps(), call.asset, call.request);
    const store = dataPlans();
    expect(await store.claim(plan.token, new Date())).toBe(true);

    interrupt = true;
    const first = await runDataRestore(deps(), call.asset, { ...plan, state: 'running' });
    expect(first.state).toBe('running');
    expect(continued).toEqual([{ restoreId: plan.token, continuation: true }]);
    const partial = (await versionsIn('it-restore', 'continued/')).length;
    expect(partial).toBe(1);

    interrupt = false;
    outOfTime = false;
    const second = await runDataRestore(deps(), call.asset, (await store.get(plan.token))!);
    expect(second).toMatchObject({ state: 'done', result: { failed: 0 } });
    for (const [key, body] of Object.entries(original)) {
      expect((await read('it-restore', key.replace('train/', 'continued/'))).equals(body), key).toBe(true);
    }
    // Each key restored exactly once (the one done before the interruption was not copied again);
    // d-new did not exist at T1.
    expect(await versionsIn('it-restore', 'continued/')).toHaveLength(3);
  });

  it('runs one plan in one invocation at a time: a concurrent continuation does nothing', async () => {
    const request = { asset: 'training', asOf: t1, target: { bucket: 'it-restore', prefix: 'leased/' } };
    const { planToken } = await invoke({ ...request, dryRun: true });
    const plans = dataPlans();
    expect(await plans.claim(planToken, new Date())).toBe(true);
    // Another invocation is running it (say the function's own continuation).
    expect(await plans.lease(planToken, 'other-invocation', new Date(Date.now() + 600_000), new Date())).toBe(true);
    const concurrent = await invoke({ restoreId: planToken, continuation: true });
    expect(concurrent).toMatchObject({ state: 'running' });
    expect(await versionsIn('it-restore', 'leased/')).toEqual([]);
    await plans.release(planToken, 'other-invocation');
    expect(await invoke({ restoreId: planToken, continuation: true })).toMatchObject({
      state: 'done',
      result: { restored: { objects: 3 } },
    });
  });

  it("verifies against the ledger's composite checksum when the object is now below the multipart threshold", async () => {
    const call = parseDataRestore(
      { asset: 'training', prefix: 'train/a', asOf: t1, target: { bucket: 'it-restore', prefix: 'threshold/' }, dryRun: true },
      t.policy,
      new Date(),
    );
    if (call.kind !== 'restore') throw new Error('unexpected');
    const stores = createStores(true);
    const plans = dataPlans();
    const deps: DataRestoreDeps = {
      ledger: new DynamoLedger(dynamoDocumentClient(), t.stack.ledgerTable),
      replica: stores.replicaOf(call.asset),
      target: stores.inRegion('us-east-1'),
      plans,
      continuation: { continueLater: async () => {} },
      now: () => new Date(),
      remainingMs: () => 900_000,
      // Replicated with 5 MiB parts (a composite in the ledger); restored now with one CopyObject.
      multipart: { thresholdBytes: 100 * MiB, partSizeBytes: 5 * MiB, partConcurrency: 2 },
    };
    const plan = await planDataRestore(deps, call.asset, call.request);
    expect(await plans.claim(plan.token, new Date())).toBe(true);
    const run = await runDataRestore(deps, call.asset, { ...plan, state: 'running' });
    expect(run).toMatchObject({ state: 'done', result: { restored: { objects: 1 }, failed: 0 } });
    expect((await read('it-restore', 'threshold/a.bin')).equals(original['train/a.bin'])).toBe(true);
  });

  it('rejects bad payloads with one clear error and writes nothing', async () => {
    const before = [...(await versionsIn('it-source')), ...(await versionsIn('it-restore'))];
    const anHourAhead = new Date(Date.now() + 3_600_000).toISOString();
    const cases: [string, string][] = [
      ['restore-data/invalid/bad-timestamp.json', 'asOf: must be an ISO 8601 time such as 2026-11-26T12:00:00Z'],
      ['restore-data/invalid/unknown-field.json', 'payload: unknown field "force"'],
      ['restore-data/invalid/target-outside-policy.json', 'target.bucket: "someone-elses-bucket" is outside the policy'],
      ['restore-data/invalid/no-plan-token.json', 'planToken: a restore runs only with the planToken of its dry run'],
      ['restore-data/invalid/prefix-outside-asset.json', 'prefix: "evals/" is outside asset training'],
      ['restore-data/invalid/not-an-object-asset.json', 'asset: "product-search-index" is not a replicated asset of the policy'],
      ['restore-data/invalid/as-of-in-future.json', `asOf: ${anHourAhead} is in the future (it is `],
    ];
    for (const [file, message] of cases) {
      const payload = loadEvent<Record<string, unknown>>(file);
      if (payload.asset === 'training-data') payload.asset = 'training';
      // The handler runs on the real clock: the sample's future time is made relative to it.
      if (file.endsWith('as-of-in-future.json')) payload.asOf = anHourAhead;
      await expect(invoke(payload), file).rejects.toThrow(message);
    }
    await expect(invoke({ asset: 'training', target: { bucket: 'it-replica' }, dryRun: true })).rejects.toThrow(
      'a restore never writes into the replica',
    );
    expect([...(await versionsIn('it-source')), ...(await versionsIn('it-restore'))]).toEqual(before);
  });

  it('reports the state of a restore by its id', async () => {
    const { planToken } = await invoke({ asset: 'training', asOf: t1, dryRun: true });
    expect(await invoke({ ...loadEvent<Record<string, unknown>>('restore-data/valid/status.json'), restoreId: planToken })).toMatchObject({
      restoreId: planToken,
      state: 'planned',
    });
    await expect(invoke(loadEvent('restore-data/valid/status.json'))).rejects.toThrow('restoreId: no restore-data plan');
  });
});
