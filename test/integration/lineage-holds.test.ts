import {
  DeleteBucketLifecycleCommand,
  DeleteObjectCommand,
  GetObjectLegalHoldCommand,
  ListObjectVersionsCommand,
  PutBucketLifecycleConfigurationCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDatasetVersion } from '../../functions/lineage/build-dataset-version.js';
import type { DatasetVersionEntry } from '../../functions/lineage/dataset-catalog.js';
import { S3DatasetObjects } from '../../functions/lineage/dataset-objects.js';
import { DynamoDatasetCatalog } from '../../functions/lineage/dynamo-dataset-catalog.js';
import { holdDatasetVersion, type HoldDeps } from '../../functions/lineage/legal-holds.js';
import { checkLineage } from '../../functions/lineage/lineage-check.js';
import { retireModel, type RetireDeps } from '../../functions/lineage/retire-model.js';
import type { ObjectAsset } from '../../functions/policy/schema.js';
import { createRestoreTester } from '../../functions/restore/verify-runtime.js';
import { manifestRefOf, readManifest, readPart } from '../../functions/lineage/read-dataset-version.js';
import { createLineage, createLineageChecker } from '../../functions/lineage/runtime.js';
import { lineagePrefix } from '../../functions/policy/assets.js';
import { dynamoDocumentClient } from '../../functions/shared/aws-clients.js';
import { parseConfig, parseVerifyConfig } from '../../functions/shared/config.js';
import { S3VersionedStore } from '../../functions/storage/s3-versioned-store.js';
import { localContext } from '../../scripts/local-aws/event-source-mapping.js';
import { lockedTestPolicy, startStack, type StackUnderTest } from '../support/local-stack.js';
import { onCallPages } from '../support/on-call.js';

/**
 * Legal holds on what registered models link (docs/lineage.md#legal-holds), on the local AWS with
 * Object Lock on the replica (the machine's clock): registering holds every replica version and
 * file of the linked dataset versions; a held version cannot be deleted even by a caller allowed
 * to bypass GOVERNANCE retention; retiring a model (dry run and token) releases what no other
 * model links, and leaves held what another held dataset version names too.
 */
let t: StackUnderTest;
let dir: string;
const dr = new S3Client({ region: 'us-west-2', forcePathStyle: true });
type Handler = (event: unknown, context: unknown) => Promise<any>;
let lineage: Handler;
const invoke = (payload: unknown) => lineage(payload, localContext('lineage'));

/** An asset under GOVERNANCE retention, so a delete that bypasses it shows what the legal hold adds. */
const GOVERNED = `  - name: governed
    kind: training-data
    source: { bucket: it-source, prefix: gov/, region: us-east-1 }
    replica: { bucket: it-replica, region: us-west-2, prefix: dr/gov/ }
    rpoTargetSeconds: 3600
    rtoTargetSeconds: 86400
    tier: standard
    objectLock: { mode: GOVERNANCE, days: 1 }
`;

const legalHold = async (key: string, versionId: string) =>
  (await dr.send(new GetObjectLegalHoldCommand({ Bucket: 'it-replica', Key: key, VersionId: versionId }))).LegalHold?.Status ?? 'OFF';
/** A delete of one replica version by a caller allowed to bypass GOVERNANCE retention (a compromised administrator). */
const destroy = (key: string, versionId: string) =>
  dr.send(new DeleteObjectCommand({ Bucket: 'it-replica', Key: key, VersionId: versionId, BypassGovernanceRetention: true }));

/** Every replica version a dataset version names and its own files, with their legal hold status. */
async function holdsOf(entry: { asset: string; id: string; manifestKey?: string; manifestVersionId?: string; sha256?: string }) {
  const objects = new S3DatasetObjects(dr, 'it-replica');
  const ref = manifestRefOf(entry);
  const manifest = await readManifest(objects, ref);
  const folder = ref.manifestKey.replace(/manifest\.json$/, '');
  const lines = (await Promise.all(manifest.parts.map((p) => readPart(objects, ref, p)))).flat();
  return {
    lines: await Promise.all(
      lines.map(async (l) => ({
        key: l.key,
        replicaKey: l.replicaKey,
        versionId: l.replicaVersionId,
        status: await legalHold(l.replicaKey, l.replicaVersionId),
      })),
    ),
    files: await Promise.all(
      [
        { key: ref.manifestKey, versionId: ref.manifestVersionId },
        ...manifest.parts.map((p) => ({ key: folder + p.key, versionId: p.versionId })),
      ].map(async (f) => legalHold(f.key, f.versionId)),
    ),
  };
}

let t1: string;
let t2: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lineage-holds-'));
  t = await startStack(lockedTestPolicy(dir, GOVERNED));
  for (const key of ['gov/h/a.jsonl', 'gov/h/b.jsonl'])
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: `first ${key}` }));
  await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'evals/golden/e.jsonl', Body: 'eval' }));
  await t.drain();
  t1 = new Date().toISOString();
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'gov/h/b.jsonl', Body: 'second b' }));
  await t.drain();
  t2 = new Date().toISOString();
  ({ handler: lineage } = (await import('../../functions/lineage.js')) as { handler: Handler });
}, 240_000);

afterAll(async () => {
  await t?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('legal holds on what models link', () => {
  let d1: DatasetVersionEntry;
  let d2: DatasetVersionEntry;
  let evals: DatasetVersionEntry;

  it('registering a model holds every replica version and file of its dataset versions; a held version cannot be deleted, even bypassing GOVERNANCE', async () => {
    d1 = await invoke({ dataset: { asset: 'governed', prefix: 'gov/h/', asOf: t1 } });
    d2 = await invoke({ dataset: { asset: 'governed', prefix: 'gov/h/', asOf: t2 } });
    evals = await invoke({ dataset: { asset: 'evals', prefix: 'evals/golden/' } });
    expect([d1.state, d2.state, evals.state]).toEqual(['complete', 'complete', 'complete']);
    const before = await holdsOf({ ...d1, ...(await invoke({ datasetVersion: { asset: 'governed', id: d1.id } })) });
    expect(before.lines.map((l) => l.status)).toEqual(['OFF', 'OFF']);

    const one = await invoke({
      registerModel: {
        name: 'ranker',
        version: '1',
        trainedOn: [{ asset: 'governed', id: d1.id }],
        evaluatedOn: [{ asset: 'evals', id: evals.id }],
      },
    });
    expect(one.holds).toEqual([
      { asset: 'governed', id: d1.id, state: 'held', versions: 2 },
      { asset: 'evals', id: evals.id, state: 'held', versions: 1 },
    ]);
    const two = await invoke({
      registerModel: {
        name: 'ranker',
        version: '2',
        trainedOn: [{ asset: 'governed', id: d2.id }],
        evaluatedOn: [{ asset: 'evals', id: evals.id }],
      },
    });
    expect(two.holds.map((h: { state: string }) => h.state)).toEqual(['held', 'held']); // evals: held already, nothing done again

    for (const entry of [d1, d2, evals]) {
      const full = await invoke({ datasetVersion: { asset: entry.asset, id: entry.id } });
      expect(full.hold).toMatchObject({ state: 'held', files: 2 });
      const held = await holdsOf(full);
      expect(
        held.lines.every((l) => l.status === 'ON'),
        JSON.stringify(held.lines),
      ).toBe(true);
      expect(held.files).toEqual(['ON', 'ON']);
    }
    // b's first version (in d1 only): GOVERNANCE retention alone would let this delete through; the hold does not.
    const full1 = await invoke({ datasetVersion: { asset: 'governed', id: d1.id } });
    const firstB = (await holdsOf(full1)).lines.find((l) => l.key === 'gov/h/b.jsonl')!;
    await expect(destroy(firstB.replicaKey, firstB.versionId)).rejects.toThrow(/Access Denied|AccessDenied|locked/i);
  });

  it('retiring a model takes a dry run and its token, releases what no other model links, and keeps what another held dataset version names', async () => {
    const plan = await invoke({ retireModel: { model: 'ranker@1', dryRun: true } });
    expect(plan).toMatchObject({
      state: 'planned',
      planToken: expect.stringMatching(/^[0-9a-f]{32}$/),
      plan: {
        model: 'ranker@1',
        release: [{ asset: 'governed', id: d1.id, keys: 2 }],
        keep: [{ asset: 'evals', id: evals.id, usedBy: ['ranker@2'] }],
      },
    });
    await expect(invoke({ retireModel: { model: 'ranker@1' } })).rejects.toThrow(
      'planToken: a restore runs only with the planToken of its dry run',
    );
    const done = await invoke({ retireModel: { model: 'ranker@1', planToken: plan.planToken } });
    expect(done).toMatchObject({
      state: 'done',
      result: { releases: [{ asset: 'governed', id: d1.id, state: 'released', versions: 1, kept: 1 }] },
    });
    await expect(invoke({ retireModel: { model: 'ranker@1', planToken: plan.planToken } })).rejects.toThrow('a plan runs once');
    await expect(invoke({ retireModel: { model: 'ranker@1', dryRun: true } })).rejects.toThrow(
      /^retireModel\.model: ranker@1 was retired at /,
    );

    const released = await holdsOf(await invoke({ datasetVersion: { asset: 'governed', id: d1.id } }));
    const status = Object.fromEntries(released.lines.map((l) => [l.key, l.status]));
    expect(status).toEqual({ 'gov/h/a.jsonl': 'ON', 'gov/h/b.jsonl': 'OFF' }); // a's version is d2's too
    expect(released.files).toEqual(['OFF', 'OFF']);
    expect((await holdsOf(await invoke({ datasetVersion: { asset: 'evals', id: evals.id } }))).lines.map((l) => l.status)).toEqual(['ON']);
    expect(await invoke({ modelsUsing: { asset: 'evals', id: evals.id } })).toEqual({
      asset: 'evals',
      id: evals.id,
      models: ['ranker@1', 'ranker@2'],
      retired: ['ranker@1'],
    });
    expect((await invoke({ model: 'ranker@1' })).retiredAt).toEqual(done.result.retiredAt);

    // Released: now only GOVERNANCE retention protects b's first version, and bypassing it deletes it.
    const firstB = released.lines.find((l) => l.key === 'gov/h/b.jsonl')!;
    await destroy(firstB.replicaKey, firstB.versionId);
    const a = released.lines.find((l) => l.key === 'gov/h/a.jsonl')!;
    await expect(destroy(a.replicaKey, a.versionId)).rejects.toThrow(/Access Denied|AccessDenied|locked/i);
  });

  it('a hold too large for one invocation continues from its checkpoint; two invocations of one step never both commit it', async () => {
    for (const key of ['gov/big/k1', 'gov/big/k2', 'gov/big/k3', 'gov/big/k4', 'gov/big/k5'])
      await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: key }));
    await t.drain();
    const catalog = new DynamoDatasetCatalog(dynamoDocumentClient(), t.stack.ledgerTable);
    const { entry } = await buildDatasetVersion(
      t.asset('governed'),
      { asset: 'governed', prefix: 'gov/big/', asOf: new Date().toISOString() },
      {
        ledger: t.ledger,
        replica: new S3VersionedStore(dr),
        objects: new S3DatasetObjects(dr, 'it-replica'),
        catalog,
        lineagePrefix: lineagePrefix(t.policy),
        now: () => new Date(),
        remainingMs: () => 900_000,
        partLines: 2,
      },
    );
    expect(entry).toMatchObject({ state: 'complete', keys: 5 });
    const lineageRuntime = createLineage(parseConfig(process.env), 'lineage');
    const deps = (calls: number) => {
      let n = 0;
      return { ...lineageRuntime.holdsFor(() => (++n <= calls ? 900_000 : 1_000)), concurrency: 1 };
    };
    const steps = [];
    for (let i = 0; i < 20; i++) {
      const pair = await Promise.all([holdDatasetVersion(entry, true, deps(2)), holdDatasetVersion(entry, true, deps(2))]);
      steps.push(pair);
      if (pair.some((s) => s.hold.state === 'held')) break;
    }
    expect(steps.length).toBeGreaterThan(2);
    for (const pair of steps) expect(pair.filter((s) => s.continues).length).toBeLessThanOrEqual(1);
    const held = await lineageRuntime.holdsFor(() => 900_000).holds.get('governed', entry.id);
    expect(held).toMatchObject({ state: 'held', versions: 5, files: 4 }); // manifest.json and three parts
    const lines = (await holdsOf(entry)).lines;
    expect(lines.map((l) => l.status)).toEqual(['ON', 'ON', 'ON', 'ON', 'ON']);
  });

  it('a replica bucket without Object Lock cannot hold: the hold says so, and nothing is set', async () => {
    const lineageRuntime = createLineage(parseConfig(process.env), 'lineage');
    const deps = lineageRuntime.holdsFor(() => 900_000);
    const unlocked = {
      ...deps,
      policy: {
        ...deps.policy,
        objectLock: { critical: 'none', high: 'none', standard: 'none' } as const,
        assets: deps.policy.assets.map((a) => ({ ...a, objectLock: undefined })),
      },
    };
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'gov/unlocked/u1', Body: 'u1' }));
    await t.drain();
    const built = await invoke({ dataset: { asset: 'governed', prefix: 'gov/unlocked/' } });
    const entry = (await lineageRuntime.catalog.get('governed', built.id))!;
    const { hold } = await holdDatasetVersion(entry, true, unlocked);
    expect(hold).toMatchObject({ state: 'unprotected', versions: 0 });
    expect(hold.reason).toMatch(/^the replica bucket it-replica has no Object Lock/);
    const off = { lines: (await holdsOf(entry)).lines.map((l) => l.status), files: (await holdsOf(entry)).files };
    expect(off).toEqual({ lines: ['OFF'], files: ['OFF', 'OFF'] });
    // Asked again with the bucket still unlocked: unchanged. Once Object Lock is on (the policy says so): held.
    expect((await holdDatasetVersion(entry, true, unlocked)).hold).toEqual(hold);
    expect((await holdDatasetVersion(entry, true, deps)).hold).toMatchObject({ state: 'held', versions: 1, files: 2 });
    expect((await holdsOf(entry)).lines.map((l) => l.status)).toEqual(['ON']);
  });

  it('the lineage check finds a lifecycle rule that would expire what registered models need, pages on-call, restores a model’s training set in a test, and recovers once the rule is gone', async () => {
    const { handler } = (await import('../../functions/verify-restore.js')) as { handler: Handler };
    const check = () => handler({ lineage: 'check' }, localContext('verify-restore'));
    await onCallPages(t); // nothing from before
    const clean = await check();
    expect(clean).toMatchObject({ risks: [], unread: [], restoreTest: { ok: true, kind: 'lineage' } });

    // A rule on the source that deletes old versions under gov/ (the training data of ranker@2), one on an unrelated prefix.
    await t.s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: 'it-source',
        LifecycleConfiguration: {
          Rules: [
            { ID: 'tidy-gov', Status: 'Enabled', Filter: { Prefix: 'gov/' }, NoncurrentVersionExpiration: { NoncurrentDays: 30 } },
            { ID: 'tidy-tmp', Status: 'Enabled', Filter: { Prefix: 'tmp/' }, Expiration: { Days: 1 } },
          ],
        },
      }),
    );
    const atRisk = await check();
    expect(atRisk.risks).toEqual([
      expect.objectContaining({
        asset: 'governed',
        bucket: 'it-source',
        where: 'source',
        rule: 'tidy-gov',
        rulePrefix: 'gov/',
        does: ['deletes noncurrent versions'],
        held: false,
      }),
    ]);
    expect(atRisk.risks[0].datasetVersions).toContain(d2.id);
    expect(atRisk.events).toContain('DR Target Missed');
    const pages = await onCallPages(t);
    expect(pages).toEqual([
      expect.objectContaining({
        'detail-type': 'DR Target Missed',
        detail: expect.objectContaining({
          asset: 'governed',
          target: 'lineage',
          reason: 'lineage-at-risk',
          description: expect.stringContaining('"tidy-gov"'),
        }),
      }),
    ]);
    // The same again: no second page for the same incident.
    await check();
    expect(await onCallPages(t)).toEqual([]);
    // status shows it.
    const { handler: status } = (await import('../../functions/status.js')) as { handler: Handler };
    expect((await status({}, localContext('status'))).lineage.risks).toHaveLength(1);
    expect((await status({ format: 'table' }, localContext('status'))).table).toContain(
      'AT RISK governed: rule "tidy-gov" of source bucket it-source',
    );

    // The restore test: the training set of a registered model restored from the replica into scratch, verified, and removed again.
    expect(atRisk.restoreTest).toMatchObject({
      ok: true,
      model: expect.stringMatching(/^ranker@/),
      checks: { sampled: expect.any(Number) },
    });
    expect(atRisk.restoreTest.checks.verified).toBe(atRisk.restoreTest.checks.sampled);
    expect(atRisk.restoreTest.checks.sampled).toBeGreaterThan(0);
    const scratch = await dr.send(new ListObjectVersionsCommand({ Bucket: t.stack.scratchBucket, Prefix: '_dr-restore-tests/lineage/' }));
    expect([...(scratch.Versions ?? []), ...(scratch.DeleteMarkers ?? [])]).toEqual([]);

    await t.s3.send(new DeleteBucketLifecycleCommand({ Bucket: 'it-source' }));
    const recovered = await check();
    expect(recovered.risks).toEqual([]);
    expect((await onCallPages(t)).map((p) => [p['detail-type'], p.detail.asset])).toEqual([['DR Target Recovered', 'governed']]);
  });

  /** Two dataset versions of gov/race/ (no other dataset version covers it) as of now: they name the same three replica versions. */
  let raceA: DatasetVersionEntry;
  let raceB: DatasetVersionEntry;
  const holdDeps = () => createLineage(parseConfig(process.env), 'lineage').holdsFor(() => 900_000);
  /** The same, with `before(on)` run once ahead of the first set of a legal hold to `on`. */
  const racing = (on: boolean, before: () => Promise<unknown>): HoldDeps => {
    const deps = holdDeps();
    let raced = false;
    return {
      ...deps,
      objectHolds: (asset) => {
        const real = deps.objectHolds(asset);
        return {
          set: async (key, versionId, value) => {
            if (value === on && !raced) {
              raced = true;
              await before();
            }
            await real.set(key, versionId, value);
          },
        };
      },
    };
  };
  const statuses = async (entry: DatasetVersionEntry) => {
    const held = await holdsOf(entry);
    return { lines: [...new Set(held.lines.map((l) => l.status))], files: [...new Set(held.files)] };
  };

  it('a release never takes a hold from another dataset version: one held while the release runs gets back what it names, a release taken over by a new hold of its own puts back all it took, and one overtaken by a duplicate of itself puts back nothing', async () => {
    const runtime = createLineage(parseConfig(process.env), 'lineage');
    for (const key of ['gov/race/r1', 'gov/race/r2', 'gov/race/r3'])
      await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: key }));
    await t.drain();
    for (const name of ['race-a', 'race-b']) await invoke({ dataset: { asset: 'governed', prefix: 'gov/race/', name } });
    const ids = (await runtime.catalog.list('governed')).filter((e) => e.name?.startsWith('race-'));
    raceA = ids.find((e) => e.name === 'race-a')!;
    raceB = ids.find((e) => e.name === 'race-b')!;
    expect([raceA.keys, raceB.keys]).toEqual([3, 3]);
    expect((await holdDatasetVersion(raceA, true, holdDeps())).hold.state).toBe('held');

    // B's hold starts and finishes after A's release listed the holds, before A's first release lands.
    const released = await holdDatasetVersion(
      raceA,
      false,
      racing(false, () => holdDatasetVersion(raceB, true, holdDeps())),
    );
    expect(released.hold).toMatchObject({ state: 'released', versions: 0, kept: 3 });
    expect(await statuses(raceB)).toEqual({ lines: ['ON'], files: ['ON'] });
    expect((await statuses(raceA)).files).toEqual(['OFF']);

    // B's release is taken over by a new hold of B (a model linked it meanwhile): everything stays held.
    const takenOver = await holdDatasetVersion(
      raceB,
      false,
      racing(false, () => holdDatasetVersion(raceB, true, holdDeps())),
    );
    expect(takenOver).toMatchObject({ continues: false, hold: { state: 'held', versions: 3 } });
    expect(await statuses(raceB)).toEqual({ lines: ['ON'], files: ['ON'] });

    // A release left part way (its invocation out of time), continued once a model links B again: B is held again.
    const short = { ...holdDeps(), remainingMs: () => 1_000 };
    expect(await holdDatasetVersion(raceB, false, short)).toMatchObject({ continues: true, hold: { state: 'releasing' } });
    const linked = { ...holdDeps(), activeUsers: async () => ['someone@1'] };
    expect((await holdDatasetVersion(raceB, false, linked)).hold).toMatchObject({ state: 'held', versions: 3 });
    expect(await statuses(raceB)).toEqual({ lines: ['ON'], files: ['ON'] });

    // A model registered between the release's first look at B's users and its commit (its hold found B
    // still held and did nothing): the release, looking again after its commit, holds B instead.
    let looks = 0;
    const lateLink = { ...holdDeps(), activeUsers: async () => (looks++ === 0 ? [] : ['late@1']) };
    expect((await holdDatasetVersion(raceB, false, lateLink)).hold).toMatchObject({ state: 'held', versions: 3 });
    expect(looks).toBe(2);
    expect(await statuses(raceB)).toEqual({ lines: ['ON'], files: ['ON'] });

    // A release overtaken by a duplicate of itself (which committed the step first and finished it):
    // what it released stays released, nothing is held again that nobody needs.
    const duplicated = await holdDatasetVersion(
      raceB,
      false,
      racing(false, () => holdDatasetVersion(raceB, false, holdDeps())),
    );
    expect(duplicated).toMatchObject({ continues: false, hold: { state: 'released', versions: 3 } });
    expect(await statuses(raceB)).toEqual({ lines: ['OFF'], files: ['OFF'] });
    expect((await holdDatasetVersion(raceB, true, holdDeps())).hold).toMatchObject({ state: 'held', versions: 3 }); // for the tests below
  });

  it('retiring a model whose release fails still retires it and ends its plan, saying which release failed and that it is retried; registering the retired model again holds nothing again', async () => {
    const registered = await invoke({ registerModel: { name: 'flaky', version: '1', trainedOn: [{ asset: 'governed', id: raceA.id }] } });
    expect(registered.holds).toEqual([{ asset: 'governed', id: raceA.id, state: 'held', versions: 3 }]);
    expect(await statuses(raceA)).toEqual({ lines: ['ON'], files: ['ON'] });

    const retried: unknown[] = [];
    const deps = holdDeps();
    const failing: RetireDeps = {
      ...deps,
      objectHolds: () => ({
        set: async () => {
          throw new Error('S3 answered 503 SlowDown');
        },
      }),
      continueRelease: async (asset, id) => void retried.push({ asset, id }),
    };
    const plan = await retireModel({ model: 'flaky@1', dryRun: true }, failing);
    const done = await retireModel({ model: 'flaky@1', dryRun: false, planToken: plan.restoreId }, failing);
    expect(done).toMatchObject({
      state: 'failed',
      result: { failed: [expect.stringContaining(`governed/${raceA.id}: S3 answered 503 SlowDown`)] },
    });
    expect(done.reason).toMatch(/^flaky@1 is retired; 1 release\(s\) failed: .*retried in an invocation of its own$/);
    expect(retried).toEqual([{ asset: 'governed', id: raceA.id }]);
    expect((await invoke({ model: 'flaky@1' })).retiredAt).toEqual(expect.any(String));
    // The retried release (what the function sends itself) finishes it: A's own files released, its versions kept for B.
    expect((await invoke({ release: { asset: 'governed', id: raceA.id }, continuation: true })).state).toBe('released');
    expect(await statuses(raceA)).toEqual({ lines: ['ON'], files: ['OFF'] });

    // Registering the retired version again is a no-op that holds nothing.
    const again = await invoke({ registerModel: { name: 'flaky', version: '1', trainedOn: [{ asset: 'governed', id: raceA.id }] } });
    expect(again).toMatchObject({ registered: false, retiredAt: expect.any(String), holds: [] });
    expect((await statuses(raceA)).files).toEqual(['OFF']);
  });

  it('a lineage restore test that fails pages for its model once, is tried again at every other check (the rotation going on between) until it passes, and closes once the model is retired', async () => {
    const config = parseVerifyConfig(process.env);
    const checker = createLineageChecker(config, createRestoreTester(config));
    await invoke({ registerModel: { name: 'probe', version: '1', trainedOn: [{ asset: 'governed', id: raceB.id }] } });
    /** A check whose manifest parts read back other bytes than their digests (a fault the local AWS cannot make). */
    const corrupted = () => {
      const deps = checker(() => 900_000);
      return {
        ...deps,
        objects: (asset: ObjectAsset) => {
          const real = deps.objects(asset);
          return {
            bucket: real.bucket,
            put: real.put.bind(real),
            get: async (key: string, versionId: string) =>
              key.endsWith('manifest.json') ? real.get(key, versionId) : Buffer.concat([await real.get(key, versionId), Buffer.from('\n')]),
          };
        },
      };
    };
    const pages = async () => (await onCallPages(t)).map((p) => [p['detail-type'], p.detail.asset, p.detail.reason]);
    await pages();
    const failed = (await checkLineage(corrupted())).check;
    expect(failed.restoreTest).toMatchObject({ ok: false, reason: expect.stringMatching(/has SHA-256 [0-9a-f]{64}, not [0-9a-f]{64}$/) });
    const first = failed.restoreTest!.model;
    expect(failed.missedModels).toEqual([first]);
    expect(await pages()).toEqual([['DR Target Missed', first, 'restore-test-failed']]);

    const passed = (await checkLineage(checker(() => 900_000))).check;
    expect(passed).toMatchObject({ restoreTest: { ok: true, model: first }, retested: true });
    expect(passed.missedModels).toBeUndefined();
    expect(await pages()).toEqual([['DR Target Recovered', first, 'back-under-target']]);

    // Failing again on the next model of the rotation: paged once; a lasting failure is tested again
    // at every other check, the rotation moving on in between.
    const again = (await checkLineage(corrupted())).check;
    const second = again.restoreTest!.model;
    expect(second).not.toBe(first);
    expect(await pages()).toEqual([['DR Target Missed', second, 'restore-test-failed']]);
    // Its retest's invocation ends before the test does: saved first, the next check moves the rotation on.
    const dying = {
      ...corrupted(),
      log: {
        record: async () => {
          throw new Error('the invocation ran out of time');
        },
      },
    };
    await expect(checkLineage(dying)).rejects.toThrow('the invocation ran out of time');
    expect(await checker(() => 900_000).checks.latest()).toMatchObject({
      retested: true,
      missedModels: [second],
      lastTested: again.lastTested,
    });
    const rotated = (await checkLineage(corrupted())).check;
    const third = rotated.restoreTest!.model;
    expect(third).not.toBe(second);
    expect(rotated.lastTested).not.toBe(again.lastTested);
    expect(rotated.missedModels).toEqual([second, third]);
    expect(await pages()).toEqual([['DR Target Missed', third, 'restore-test-failed']]);
    const retried = (await checkLineage(corrupted())).check;
    expect(retried).toMatchObject({ restoreTest: { ok: false, model: second }, retested: true, missedModels: [third, second] });
    expect(retried.lastTested).toBe(rotated.lastTested);
    expect(await pages()).toEqual([]);

    // The model failing longest is retired: its alert closes; the other one recovers when it passes.
    const plan = await invoke({ retireModel: { model: second, dryRun: true } });
    await invoke({ retireModel: { model: second, planToken: plan.planToken } });
    const closing = [];
    for (let i = 0; i < 3; i++) {
      const closed = (await checkLineage(checker(() => 900_000))).check;
      closing.push(...(await pages()));
      if (closed.missedModels === undefined) break;
    }
    expect(closing).toEqual([
      ['DR Target Recovered', second, 'back-under-target'],
      ['DR Target Recovered', third, 'back-under-target'],
    ]);
  });
});
