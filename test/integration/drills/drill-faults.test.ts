import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillRun } from '../../../functions/drills/drill-run.js';
import { resumeDrills, runDrill } from '../../../functions/drills/run-drill.js';
import { createDrillRunner } from '../../../functions/drills/runtime.js';
import { parseDrillConfig } from '../../../functions/shared/config.js';
import { abortUploads, destroyVersionsWhile } from '../../../functions/storage/destroy-prefix.js';
import { localContext } from '../../../scripts/local-aws/event-source-mapping.js';
import { projectRoot } from '../../../scripts/local-aws/venv.js';
import { sampleRecords } from '../../contract/vector-store.contract.js';
import { onCallPages } from '../../support/on-call.js';
import { SAMPLE_OBJECTS, startDrillHarness, WORKSPACE, writeAndReplicate, type DrillHarness } from './drill-harness.js';

/**
 * Drills that go wrong, and the other scenarios: a drill whose restore fails pages on-call once
 * (DR Target Missed, target "drill", with its evidence) and Recovered when the next drill passes; an
 * invocation killed halfway is continued by the next one (same run, never from zero) and nothing is
 * left behind in any case; data-corruption and model-regression drills damage a scratch copy and
 * repair it by their runbooks' steps.
 */
let h: DrillHarness;
let handler: (event: unknown, context: ReturnType<typeof localContext>) => Promise<any>;
const objects = SAMPLE_OBJECTS;
const invoke = (payload: unknown): Promise<DrillRun & { busy: boolean; events: string[] }> => handler(payload, localContext('dr-drill'));
/** A restore's copy into the drill workspace of a key ending in `key` (a server-side CopyObject). */
const copyInto = (key: string) => (req: { method: string; url: string; headers: Record<string, unknown> }) =>
  req.method === 'PUT' &&
  req.url.startsWith(`/${WORKSPACE}/_dr-drills/`) &&
  req.url.split('?')[0]!.endsWith(key) &&
  'x-amz-copy-source' in req.headers;

async function expectNothingLeft(run: DrillRun) {
  expect(run.cleanup?.leftBehind).toEqual([]);
  expect(await h.workspaceLeft()).toEqual([]);
  for (const r of run.created) if (r.kind === 'index') expect(await h.indexExists(r.asset, r.index)).toBe(false);
}

beforeAll(async () => {
  h = await startDrillHarness(sampleRecords(60, 16, 9));
  await writeAndReplicate(h, objects);
  ({ handler } = await import('../../../functions/dr-drill.js'));
}, 240_000);

afterAll(async () => {
  await h?.stop();
});

describe('a drill that fails', () => {
  it('pages once with its evidence, cleans up, and is Recovered when a drill passes again', async () => {
    h.proxy.rules.push({ match: copyInto('/training/b.jsonl'), fault: 'internal', times: 1000 });
    const failed = await invoke({ drill: 'outage' });
    h.proxy.rules.length = 0;

    expect(failed.state).toBe('failed');
    const training = failed.assets.find((a) => a.asset === 'training')!;
    expect(training.ok).toBe(false);
    expect(training.reason).toMatch(/^run: restore [0-9a-f]{32} failed: 1 objects failed to restore; first: train\/b\.jsonl/);
    expect(failed.assets.filter((a) => a.asset !== 'training').every((a) => a.ok)).toBe(true);
    expect(failed.verdict!.ok).toBe(false);
    expect(failed.verdict!.targets.filter((t) => !t.ok).map((t) => `${t.target}:${t.asset ?? ''}`)).toEqual(['rto:training', 'drill:']);
    await expectNothingLeft(failed);

    const missed = await onCallPages(h.t);
    expect(missed.map((p) => p['detail-type'])).toEqual(['DR Target Missed']);
    expect(missed[0]!.detail).toMatchObject({
      asset: 'outage',
      kind: 'drill',
      tier: 'critical',
      target: 'drill',
      reason: 'drill-failed',
      targetSeconds: 3600,
      actualSeconds: null,
      evidence: { drillId: failed.drillId, scenario: 'region-outage', failures: [{ asset: 'training' }, { asset: 'outage' }] },
    });

    // Failing again is the same incident: no second page.
    h.proxy.rules.push({ match: copyInto('/training/b.jsonl'), fault: 'internal', times: 1000 });
    expect((await invoke({ drill: 'outage' })).state).toBe('failed');
    h.proxy.rules.length = 0;
    expect(await onCallPages(h.t)).toEqual([]);

    const passed = await invoke({ drill: 'outage' });
    expect(passed.state).toBe('passed');
    await expectNothingLeft(passed);
    const recovered = await onCallPages(h.t);
    expect(recovered.map((p) => p['detail-type'])).toEqual(['DR Target Recovered']);
    expect(recovered[0]!.detail.incidentId).toBe(missed[0]!.detail.incidentId);
  }, 240_000);
});

describe('a killed invocation', () => {
  it('is continued by the next one, from where it stood, and nothing is left behind', async () => {
    // The first invocation hangs on one copy into the workspace; it is killed there, as Lambda would.
    h.proxy.rules.push({ match: copyInto('/training/sub/c.parquet'), fault: 'hang', times: 1 });
    const hangsBefore = h.proxy.injected.hang;
    const child: ChildProcess = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(projectRoot, 'test/support/invoke-handler.ts'),
        'functions/dr-drill.js',
        JSON.stringify({ drill: 'outage' }),
      ],
      { cwd: projectRoot, env: process.env, stdio: 'ignore' },
    );
    const exited = new Promise((done) => child.once('exit', done));
    for (let i = 0; i < 600 && h.proxy.injected.hang === hangsBefore; i++) await new Promise((r) => setTimeout(r, 100));
    expect(h.proxy.injected.hang).toBe(hangsBefore + 1);
    child.kill('SIGKILL');
    await exited;
    h.proxy.rules.length = 0;

    const runner = createDrillRunner(parseDrillConfig(process.env), 'dr-drill', () => new Date(Date.now() + 20 * 60_000));
    const left = (await runner.store.active('outage'))!;
    expect(left).toMatchObject({ state: 'running', phase: 'recover', invocations: 1 });
    expect(left.lease).toBeDefined(); // the killed invocation never released it

    // What a multipart copy killed halfway leaves: an upload nobody completes.
    await h.s3West.send(
      new CreateMultipartUploadCommand({ Bucket: WORKSPACE, Key: `_dr-drills/${left.drillId}/training/half-copied.bin` }),
    );

    // Until its lease runs out, another invocation finds the run busy and does nothing.
    const meanwhile = createDrillRunner(parseDrillConfig(process.env), 'dr-drill');
    expect(
      await runDrill(
        meanwhile.depsFor(() => 300_000),
        left.definition,
      ),
    ).toMatchObject({
      busy: true,
      run: { drillId: left.drillId, invocations: 1 },
    });
    expect(await resumeDrills(meanwhile.depsFor(() => 300_000))).toMatchObject([{ busy: true, run: { drillId: left.drillId } }]);

    // Later (the lease has expired): the resume schedule continues the same run, not a new one.
    const [resumed] = await resumeDrills(runner.depsFor(() => 300_000));
    const run = resumed!.run;
    expect(run).toMatchObject({ drillId: left.drillId, startedAt: left.startedAt, state: 'passed', invocations: 2 });
    const training = run.assets.find((a) => a.asset === 'training')!;
    expect(training.restoreIds).toEqual(left.assets.find((a) => a.asset === 'training')!.restoreIds);
    expect(training.checks.verify).toMatchObject({ expected: 3, compared: 3, matched: 3 });
    expect(run.cleanup!.removedObjects).toBeGreaterThan(5); // the restored copies and the aborted upload
    await expectNothingLeft(run);
    expect(await runner.store.active('outage')).toBeUndefined();
  }, 240_000);
});

describe('a drill longer than an invocation', () => {
  it('saves where it stands, continues itself with its drillId, and a stale continuation does nothing', async () => {
    const runner = createDrillRunner(parseDrillConfig(process.env), 'dr-drill');
    const continued: Record<string, unknown>[] = [];
    const told: string[] = [];
    /** Each invocation finds time left for its first `calls` checks of the clock, then 1 s. */
    const invocation = (calls: number) => {
      let n = 0;
      return {
        ...runner.depsFor(() => (++n <= calls ? 300_000 : 1_000)),
        continuation: { continueLater: async (p: Record<string, unknown>) => void continued.push(p) },
        finished: async (drill: string, drillId: string) => void told.push(`${drill}/${drillId}`),
      };
    };
    const definition = runner.policy.drills.find((d) => d.name === 'outage')!;
    let { run } = await runDrill(invocation(6), definition);
    expect(run.state).toBe('running');
    expect(continued).toEqual([{ drill: 'outage', drillId: run.drillId, continuation: true }]);
    // Later invocations have time for a few steps each (the assets share it), never for the whole drill.
    for (let i = 0; i < 40 && run.state === 'running'; i++) ({ run } = await runDrill(invocation(25), definition, run.drillId));
    expect(run.state, JSON.stringify(run.assets.map((a) => [a.asset, a.step, a.checks]))).toBe('passed');
    expect(run.invocations).toBeGreaterThan(2);
    expect(continued).toHaveLength(run.invocations - 1);
    expect(told).toEqual([`outage/${run.drillId}`]); // the report is told once, when the run has finished
    await expectNothingLeft(run);

    // A continuation delivered twice, after the run finished: nothing runs, no new drill starts.
    const again = await runDrill(invocation(100), definition, run.drillId);
    expect(again).toMatchObject({ busy: false, run: { drillId: run.drillId, state: 'passed', invocations: run.invocations } });
    expect(await runner.store.active('outage')).toBeUndefined();
  }, 240_000);

  it('removes a workspace too large for one invocation’s cleanup over several, counting every version', async () => {
    const runner = createDrillRunner(parseDrillConfig(process.env), 'dr-drill');
    const definition = runner.policy.drills.find((d) => d.name === 'outage')!;
    // Pages of two versions, and time for one page of cleanup an invocation: a workspace of several pages takes several.
    const invocation = () => {
      const deps = runner.depsFor(() => 300_000);
      return {
        ...deps,
        continuation: { continueLater: async () => undefined },
        destroy: async (bucket: string, _region: string, prefix: string, more: () => boolean) => {
          const aborted = await abortUploads(h.t.s3, bucket, prefix);
          const { removed, done } = await destroyVersionsWhile(h.t.s3, bucket, prefix, () => more() && false, 2);
          return { removed: aborted + removed, done };
        },
      };
    };
    const runs: DrillRun[] = [];
    let { run } = await runDrill(invocation(), definition);
    runs.push(run);
    for (let i = 0; i < 20 && run.state === 'running'; i++)
      runs.push(({ run } = await runDrill(invocation(), definition, run.drillId)).run);
    expect(run.state, JSON.stringify(run.cleanup)).toBe('passed');
    const partial = runs.filter((r) => r.phase === 'cleanup');
    expect(partial.length).toBeGreaterThanOrEqual(2);
    // Each stopped at the workspace prefix, with what it had removed so far, and each removed more.
    for (const r of partial) expect(r.cleanup).toMatchObject({ next: run.created.findIndex((c) => c.kind === 's3-prefix') });
    const removed = partial.map((r) => r.cleanup!.removedObjects);
    expect(removed).toEqual([...removed].sort((a, b) => a - b));
    expect(new Set(removed).size).toBe(removed.length);
    expect(run.cleanup).toEqual({ removedObjects: expect.any(Number), droppedIndexes: 1, leftBehind: [] });
    expect(run.cleanup!.removedObjects).toBeGreaterThan(removed.at(-1)!);
    await expectNothingLeft(run);
  }, 240_000);
});

describe('data-corruption and model-regression drills', () => {
  it('corrupt objects of a scratch copy, restore it as of the last good point, and compare bytes', async () => {
    const run = await invoke({ drill: 'corruption' });
    expect(run.state, JSON.stringify(run.verdict)).toBe('passed');
    const training = run.assets[0]!;
    expect(training.checks.damage).toMatchObject({ scenario: 'data-corruption', objects: 2 });
    // The last good point, from the ledger: the newest write time of the versions the copy held.
    const written = (
      await Promise.all(
        Object.keys(objects)
          .filter((k) => k.startsWith('train/'))
          .map((k) => h.t.ledger.entriesFor('training', k)),
      )
    )
      .flat()
      .map((e) => Date.parse(e.sourceLastModified));
    expect((training.checks.damage as { lastGoodPoint: string }).lastGoodPoint).toBe(new Date(Math.max(...written)).toISOString());
    expect(training.rtoFrom).toBe((training.checks.damage as { at: string }).at);
    expect(training.rtoSeconds).toBe((Date.parse(training.verifiedAt!) - Date.parse(training.rtoFrom!)) / 1000);
    expect(training.checks['dry-run']).toMatchObject({ state: 'planned', plan: { restore: { objects: 2 }, overwrite: { newer: 2 } } });
    expect(training.checks.run).toMatchObject({
      state: 'done',
      result: { restored: { objects: 2 }, failed: 0, skipped: { unchanged: 1 } },
    });
    expect(training.checks.status).toMatchObject({ state: 'done' });
    expect(training.checks.verify).toMatchObject({ expected: 3, compared: 3, matched: 3, problems: [] });
    await expectNothingLeft(run);
  }, 120_000);

  it('publish a bad model over a scratch copy and roll it back', async () => {
    const run = await invoke({ drill: 'rollback' });
    expect(run.state, JSON.stringify(run.verdict)).toBe('passed');
    expect(run.assets.map((a) => a.asset)).toEqual(['models']);
    const models = run.assets[0]!;
    expect(models.checks.damage).toMatchObject({ scenario: 'model-regression', objects: 2 });
    expect(models.checks.run).toMatchObject({ state: 'done', result: { restored: { objects: 2 } } });
    expect(models.checks.verify).toMatchObject({ compared: 2, matched: 2 });
    await expectNothingLeft(run);
  }, 120_000);
});
