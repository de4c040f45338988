import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { targetEvent } from '../../../functions/alerts/target-events.js';
import type { DrillAssetRun, DrillRun } from '../../../functions/drills/drill-run.js';
import { parseDrillCall } from '../../../functions/drills/drill-request.js';
import { drillCheck, drillIdAt, verdictOf } from '../../../functions/drills/run-drill.js';
import type { DrillDeps } from '../../../functions/drills/drill-deps.js';
import { isCheck, runbookStepsOf } from '../../../functions/drills/runbook-steps.js';
import { advanceVectorAsset, REFERENCE_CHECKPOINT_BYTES, scratchIndexOf } from '../../../functions/drills/vector-steps.js';
import type { VectorRestoreStatus } from '../../../functions/restore/restore-vectors.js';
import { parsePolicy } from '../../../functions/policy/load.js';
import { drillScenarios } from '../../../functions/policy/schema.js';
import { PayloadError } from '../../../functions/shared/payload.js';
import { targetEventErrors } from '../../support/event-schema.js';
import { loadEvent } from '../../support/fixtures.js';
import { stepsOf } from '../../support/runbook-steps.js';
import { sampleRecords } from '../../contract/vector-store.contract.js';
import { memorySnapshot } from '../../support/memory-snapshot.js';
import { MemoryVectorStore } from '../../support/memory-vector-store.js';

const policy = parsePolicy(readFileSync('dr-policy.yml', 'utf8'));
const drill = policy.drills[0]!;
const START = '2026-11-30T06:00:00.000Z';
const at = (seconds: number) => new Date(Date.parse(START) + seconds * 1000).toISOString();

const asset = (name: string, rtoSeconds: number | undefined, overrides: Partial<DrillAssetRun> = {}): DrillAssetRun => ({
  asset: name,
  kind: 'training-data',
  tier: 'critical',
  step: 'done',
  restoreIds: [],
  checks: {},
  rtoTargetSeconds: 3600,
  ok: rtoSeconds !== undefined,
  ...(rtoSeconds !== undefined && { verifiedAt: at(rtoSeconds), rtoSeconds }),
  ...overrides,
});
const runOf = (assets: DrillAssetRun[], overrides: Partial<DrillRun> = {}): DrillRun => ({
  drill: drill.name,
  drillId: drillIdAt(new Date(START)),
  scenario: 'region-outage',
  state: 'running',
  phase: 'finished',
  startedAt: START,
  finishedAt: at(900),
  definition: drill,
  rpoAtStart: assets.map((a) => ({ asset: a.asset, rpoSeconds: 12, rpoTargetSeconds: 900, status: 'ok', pendingObjects: 1 })),
  assets,
  created: [],
  cleanup: { removedObjects: 4, droppedIndexes: 1, leftBehind: [] },
  invocations: 1,
  ...overrides,
});

describe('drills follow their runbooks', () => {
  it.each(drillScenarios)('%s: the runbook has the drill’s steps, in order, with the same function and payload fields', (scenario) => {
    const runbook = stepsOf(`${scenario}.md`);
    const steps = runbookStepsOf(scenario);
    expect(runbook.map((s) => s.name)).toEqual(steps.map((s) => s.name));
    runbook.forEach((written, i) => {
      const step = steps[i]!;
      if (isCheck(step)) {
        // A read the drill makes itself: the runbook's command is that read.
        expect(written.kind === 'shell' && written.script.trim().startsWith(step.command), written.name).toBe(true);
        return;
      }
      if (written.kind !== 'invoke') throw new Error(`${scenario}.md: step ${written.name} is a shell step, which a drill cannot follow`);
      expect(written.functionName, written.name).toBe(`ai-data-dr-prod-${step.function}`);
      const built = step.payload({
        asset: 'training-data',
        target: { bucket: 'acme-ml-dr-workspace', prefix: '_dr-drills/x/training-data/' },
        asOf: START,
        vectorTarget: { asset: 'support-kb-index', index: 'kb-drill-x' },
        planToken: '0'.repeat(32),
        service: 'chat',
        endpoint: 'gateway',
        by: 'oncall',
      });
      const parsed = JSON.parse(written.payload) as Record<string, unknown>;
      const fields = Object.keys(parsed).sort();
      // A pin names the same fields in the runbook and in the drill.
      if (typeof parsed.pin === 'object')
        expect(Object.keys(built.pin as object).sort(), written.name).toEqual(Object.keys(parsed.pin!).sort());
      // A drill restores the whole asset (a runbook may narrow it with "prefix"), into its workspace
      // ("target"), as of its own start or last good point ("asOf", which an outage runbook leaves to "now").
      expect(
        fields.filter((f) => f !== 'prefix').every((f) => f in built),
        `${written.name}: ${fields.join(', ')}`,
      ).toBe(true);
      expect(
        Object.keys(built).filter((f) => !fields.includes(f) && f !== 'target' && f !== 'asOf'),
        written.name,
      ).toEqual([]);
    });
  });
});

describe('a drill’s verdict', () => {
  it('passes when every asset was verified within its RTO, the whole drill within its target, and nothing is left', () => {
    const run = runOf([asset('training-data', 300), asset('eval-sets', 1200)]);
    const verdict = verdictOf(run);
    expect(verdict).toMatchObject({ ok: true, rtoSeconds: 1200, targetSeconds: 240 * 60, reasons: [] });
    expect(verdict.targets.map((t) => `${t.target}:${t.asset ?? ''}:${t.ok}`)).toEqual([
      'rpo:training-data:true',
      'rpo:eval-sets:true',
      'rto:training-data:true',
      'rto:eval-sets:true',
      'drill::true',
    ]);
    expect(drillCheck({ ...run, verdict }, policy)).toMatchObject({ status: 'ok', target: 'drill', kind: 'drill', actualSeconds: 1200 });
  });

  it('misses the drill target alone: drill-over-target; an asset over its RTO or a failed asset: drill-failed, with evidence', () => {
    const slow = runOf([asset('training-data', 240 * 60 + 1, { rtoTargetSeconds: 86_400 })]);
    expect(drillCheck(slow, policy)).toMatchObject({ status: 'missed', reason: 'drill-over-target', actualSeconds: 14_401 });

    const failed = runOf([
      asset('training-data', undefined, { reason: 'run: restore x failed: 1 objects failed to restore' }),
      asset('eval-sets', 4000),
    ]);
    const check = drillCheck(failed, policy);
    expect(check).toMatchObject({
      status: 'missed',
      reason: 'drill-failed',
      actualSeconds: null,
      tier: 'critical',
      evidence: {
        drillId: failed.drillId,
        scenario: 'region-outage',
        failures: [
          { asset: 'training-data', reason: 'rto: run: restore x failed: 1 objects failed to restore' },
          { asset: 'eval-sets', reason: 'rto: verified after 4000 s' },
          { asset: drill.name, reason: 'drill: not every asset was recovered and verified' },
        ],
      },
    });
    expect(check.description).toContain(failed.drillId);
    // The event on-call gets is valid against the published schema.
    const event = {
      version: '0',
      id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
      'detail-type': 'DR Target Missed',
      source: 'ai-data-dr',
      account: '123456789012',
      time: check.measuredAt,
      region: 'us-west-2',
      resources: [],
      detail: targetEvent('DR Target Missed', check, check.measuredAt).detail,
    };
    expect(targetEventErrors(event)).toEqual([]);
  });

  it('fails on what a region outage at the start would have lost, and on anything left behind', () => {
    const lossy = runOf([asset('training-data', 60)]);
    lossy.rpoAtStart[0] = { asset: 'training-data', rpoSeconds: 5000, rpoTargetSeconds: 900, status: 'missed', pendingObjects: 40 };
    expect(verdictOf(lossy).reasons).toEqual(['rpo training-data: would lose 5000 s of changes']);
    const messy = runOf([asset('training-data', 60)], {
      cleanup: { removedObjects: 1, droppedIndexes: 0, leftBehind: ['s3://b/_dr-drills/x/k'] },
    });
    expect(verdictOf(messy).reasons).toEqual(['cleanup: left behind: s3://b/_dr-drills/x/k']);
  });
});

describe('the dr-drill payload', () => {
  it.each([
    [{ drill: 'nope' }, 'drill: "nope" is not a drill of the policy (quarterly-region-outage, annual-model-regression)'],
    [{ drill: drill.name, drillId: 'x', history: true }, 'payload: give drillId or history, not both'],
    [{ drill: drill.name, continuation: true }, 'continuation: a continuation names its drillId'],
    [{ resume: true, drill: drill.name }, 'payload: unknown field "drill"'],
    [{ drill: drill.name, limit: 3 }, 'limit: limit goes with "history": true'],
    [{ drill: drill.name, force: true }, 'payload: unknown field "force"'],
    [{}, 'drill: '],
  ])('refuses %j with one clear error', (payload, message) => {
    let error: unknown;
    try {
      parseDrillCall(payload, policy);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PayloadError);
    expect((error as Error).message).toContain(message);
  });

  it.each(readdirSync('events/dr-drill/valid'))('accepts the sample %s', (file) => {
    expect(() => parseDrillCall(loadEvent(`dr-drill/valid/${file}`), policy)).not.toThrow();
  });

  it.each(readdirSync('events/dr-drill/invalid'))('refuses the sample %s', (file) => {
    expect(() => parseDrillCall(loadEvent(`dr-drill/invalid/${file}`), policy)).toThrow(PayloadError);
  });

  it('runs, reads one run, or lists runs', () => {
    expect(parseDrillCall({ drill: drill.name }, policy)).toMatchObject({ kind: 'run', drill: { name: drill.name } });
    expect(parseDrillCall({ drill: drill.name, drillId: 'abc-1', continuation: true }, policy)).toMatchObject({
      kind: 'continue',
      drillId: 'abc-1',
    });
    expect(parseDrillCall({ resume: true }, policy)).toEqual({ kind: 'resume' });
    expect(parseDrillCall({ drill: drill.name, drillId: 'abc-1' }, policy)).toMatchObject({ kind: 'get', drillId: 'abc-1' });
    expect(parseDrillCall({ drill: drill.name, history: true }, policy)).toMatchObject({ kind: 'history', limit: 10 });
  });

  it('gives drill ids that sort by start time', () => {
    const ids = ['2026-01-02T00:00:00Z', '2026-11-30T06:00:00Z', '2027-03-01T00:00:00.5Z'].map((t) => drillIdAt(new Date(t)));
    expect([...ids].sort()).toEqual(ids);
    expect(ids[1]).toMatch(/^20261130t060000000z-[0-9a-f]{6}$/);
  });
});

describe('a drill’s vector restore in parts', () => {
  const search = policy.assets.find((a) => a.name === 'product-search-index')!;
  const outage = policy.drills.find((d) => d.scenario === 'region-outage')!;
  const plan = { prefix: 'vectors/product-search/snapshots/s/', snapshotId: 's', fanOut: { parts: 8, write: [], verify: 'in parts' } };
  const token = 'a'.repeat(32);
  const status = (state: string, parts?: { done: boolean }[], result?: object) =>
    ({
      restoreId: token,
      state,
      plan,
      ...(parts && { parts: parts.map((p, i) => ({ part: `write-000${i}`, records: 10, lastError: null, ...p })) }),
      ...(result && { result }),
    }) as unknown as VectorRestoreStatus;

  /** One pass of the vectors-run step at `seconds` after the start, the restore answering `answers` in turn. */
  async function pass(entry: DrillAssetRun, seconds: number, answers: VectorRestoreStatus[]) {
    const calls: { payload: Record<string, unknown>; inParts?: boolean }[] = [];
    const deps = {
      policy,
      now: () => new Date(at(seconds)),
      remainingMs: () => 600_000,
      restoreVectors: async (payload: Record<string, unknown>, options?: { inParts: boolean }) => {
        calls.push({ payload, inParts: options?.inParts });
        return answers.shift()!;
      },
    } as unknown as DrillDeps;
    const outcome = await advanceVectorAsset(deps, runOf([entry], { definition: outage, phase: 'recover' }), entry, search as never);
    return { outcome, calls };
  }

  it('starts it with the runbook’s "parts", then watches it, continuing it only when its parts are done or every five minutes', async () => {
    const entry = asset('product-search-index', undefined, {
      kind: 'vector-index',
      step: 'vectors-run',
      restoreIds: [token],
      checks: { 'vectors-dry-run': { restoreId: token, state: 'planned', plan } },
    });
    // Planned: the run, with the runbook's payload (parts 8), its parts and continuations sent to restore-vectors.
    const started = await pass(entry, 10, [status('planned'), status('running', [{ done: false }, { done: false }])]);
    expect(started.outcome).toBe('waiting');
    expect(started.calls.map((c) => [c.payload, c.inParts])).toEqual([
      [{ restoreId: token }, true],
      [
        { asset: 'product-search-index', target: { asset: 'support-kb-index', index: expect.any(String) }, parts: 8, planToken: token },
        true,
      ],
    ]);
    expect(entry.checks['vectors-run']).toMatchObject({ state: 'running', continuedAt: at(10), parts: { done: 0, of: 2, records: 20 } });

    // Parts at work, continued a minute ago: the status only.
    const watched = await pass(entry, 70, [status('running', [{ done: true }, { done: false }])]);
    expect(watched.calls.map((c) => c.payload)).toEqual([{ restoreId: token }]);
    expect(entry.checks['vectors-run']).toMatchObject({ continuedAt: at(10), parts: { done: 1, of: 2 } });

    // Five minutes on: continued (a part whose invocation died is sent again).
    const due = await pass(entry, 10 + 300, [status('running', [{ done: true }, { done: false }]), status('running')]);
    expect(due.calls.map((c) => c.payload)).toEqual([{ restoreId: token }, { restoreId: token, continuation: true }]);
    expect(entry.checks['vectors-run']).toMatchObject({ continuedAt: at(310) });

    // Every part done but the restore not moved on: continued at once.
    const stalled = await pass(entry, 320, [status('running', [{ done: true }, { done: true }]), status('running')]);
    expect(stalled.calls.map((c) => c.payload)).toEqual([{ restoreId: token }, { restoreId: token, continuation: true }]);

    // Done: the step moves on, and the asset keeps the fan-out of the result.
    const result = { ok: true, restoreMs: 4000, fanOut: { writeParts: 8, verifyParts: 8 } };
    const done = await pass(entry, 330, [status('done', undefined, result)]);
    expect(done.outcome).toBe('moved');
    expect(entry).toMatchObject({ step: 'verify', fanOut: { writeParts: 8, verifyParts: 8 } });
    expect(entry.checks['vectors-run']).toEqual({ restoreId: token, state: 'done', result });
  });

  it('restores in one chain, continued by the drill itself, where the plan did not fan out', async () => {
    const entry = asset('product-search-index', undefined, {
      kind: 'vector-index',
      step: 'vectors-run',
      restoreIds: [token],
      checks: { 'vectors-dry-run': { restoreId: token, state: 'planned', plan: { prefix: plan.prefix, snapshotId: plan.snapshotId } } },
    });
    const { outcome, calls } = await pass(entry, 10, [status('running'), status('running')]);
    expect(outcome).toBe('paused');
    expect(calls).toEqual([
      { payload: { restoreId: token }, inParts: undefined },
      { payload: { restoreId: token, continuation: true }, inParts: undefined },
    ]);
  });
});

describe('a drill’s recall check on a snapshot too large for one invocation', () => {
  const kb = policy.assets.find((a) => a.name === 'support-kb-index')!;
  const outage = policy.drills.find((d) => d.scenario === 'region-outage')!;
  const records = sampleRecords(300, 8, 3);
  const prefix = 'vectors/support-kb/snapshots/s1/';
  const snapshot = memorySnapshot(prefix, records, 25); // euclidean, as MemoryVectorStore searches
  /** The vector asset at its verify step, its restore planned from snapshot s1, in a run of the outage drill, and an empty engine. */
  const atVerify = () => {
    const entry = asset('support-kb-index', undefined, {
      kind: 'vector-index',
      step: 'verify',
      checks: { 'vectors-dry-run': { restoreId: 'a'.repeat(32), state: 'planned', plan: { prefix, snapshotId: 's1' } } },
    });
    return { entry, run: runOf([entry], { definition: outage, phase: 'recover' }), store: new MemoryVectorStore() };
  };

  it('computes the reference neighbours over invocations from its checkpoint, and leaves their time out of the RTO', async () => {
    const { entry, run, store } = atVerify();
    const scratch = scratchIndexOf(run, kb as never, kb as never);
    await store.createIndex(scratch, { dimensions: 8, metric: 'euclidean' });
    await store.write(scratch, records);
    /** One invocation at `seconds`, with time for `chunks` chunks (each look at the time costs one). */
    const invocation = async (seconds: number, chunks: number) => {
      let looks = 0;
      const deps = {
        policy,
        now: () => new Date(at(seconds + looks)),
        remainingMs: () => (looks++ < chunks ? 600_000 : 1_000),
        snapshotObjects: () => snapshot.objects,
        openStore: async () => store,
      } as unknown as DrillDeps;
      const outcome = await advanceVectorAsset(deps, run, entry, kb as never);
      // The run is saved between invocations: the next one reads it back.
      entry.checks = JSON.parse(JSON.stringify(entry.checks));
      return outcome;
    };

    // Twelve chunks: five in the first invocation, five in the second, the rest and the queries in the third.
    expect(await invocation(100, 5)).toBe('paused');
    expect(entry.checks.reference).toMatchObject({ nextChunk: 5, chunks: 12, scanned: 125, startedAt: at(100) });
    expect(entry.checks.recall).toBeUndefined();
    expect(await invocation(700, 5)).toBe('paused');
    expect(entry.checks.reference).toMatchObject({ nextChunk: 10, scanned: 250, startedAt: at(100) });
    expect(await invocation(1300, 5)).toBe('moved');

    expect(entry).toMatchObject({ ok: true, step: 'done', checks: { recall: { k: 10, queries: 20, mean: 1, min: 1, required: 1 } } });
    // The reference ran from the first invocation to the third: left out of the RTO, and only its summary kept.
    expect(entry.checks.reference).toEqual({
      snapshotId: 's1',
      nextChunk: 12,
      chunks: 12,
      scanned: 300,
      startedAt: at(100),
      finishedAt: at(1302),
      seconds: 1202,
    });
    expect(entry.excludedSeconds).toBe(1202);
    expect(entry.verifiedAt).toBe(at(1302));
  });

  it('measures recall again without scanning again when the engine failed after the reference was done', async () => {
    const { entry, run, store } = atVerify();
    await store.createIndex(scratchIndexOf(run, kb as never, kb as never), { dimensions: 8, metric: 'euclidean' });
    await store.write(scratchIndexOf(run, kb as never, kb as never), records);
    const deps = (openStore: () => Promise<MemoryVectorStore>) =>
      ({
        policy,
        now: () => new Date(at(100)),
        remainingMs: () => 600_000,
        snapshotObjects: () => snapshot.objects,
        openStore,
      }) as unknown as DrillDeps;

    await expect(
      advanceVectorAsset(
        deps(() => Promise.reject(new Error('engine unreachable'))),
        run,
        entry,
        kb as never,
      ),
    ).rejects.toThrow('engine unreachable');
    entry.checks = JSON.parse(JSON.stringify(entry.checks)); // saved between tries
    expect(entry.checks.reference).toMatchObject({ nextChunk: 12, finishedAt: at(100), nearest: expect.any(Array) });
    snapshot.reads.length = 0;
    expect(
      await advanceVectorAsset(
        deps(async () => store),
        run,
        entry,
        kb as never,
      ),
    ).toBe('moved');
    expect(entry).toMatchObject({ ok: true, checks: { recall: { mean: 1 }, reference: { scanned: 300, seconds: 0 } } });
    expect(entry.checks.reference).not.toHaveProperty('nearest');
    // The chunks of the golden queries were read (20 queries spread over all 12), and no scan again (another 12).
    expect(snapshot.reads.filter((k) => k.startsWith('chunks/'))).toHaveLength(12);
  });

  it('fails at its first pause, with what to change, when its checkpoint would not fit the run record', async () => {
    // Ids of 1,000 characters: 20 queries × 10 neighbours are about 200 KiB of ids alone.
    const long = records.map((r) => ({ ...r, id: `${r.id}-${'x'.repeat(1000)}` }));
    const many = memorySnapshot(prefix, long, 25);
    const entry = asset('support-kb-index', undefined, {
      kind: 'vector-index',
      step: 'verify',
      checks: { 'vectors-dry-run': { restoreId: 'a'.repeat(32), state: 'planned', plan: { prefix, snapshotId: 's1' } } },
    });
    let looks = 0;
    const deps = {
      policy,
      now: () => new Date(at(100)),
      remainingMs: () => (looks++ < 2 ? 600_000 : 1_000),
      snapshotObjects: () => many.objects,
      openStore: async () => new MemoryVectorStore(),
    } as unknown as DrillDeps;
    expect(await advanceVectorAsset(deps, runOf([entry], { definition: outage, phase: 'recover' }), entry, kb as never)).toBe('moved');
    expect(entry).toMatchObject({ ok: false, step: 'done' });
    expect(entry.reason).toMatch(
      /^verify: the reference neighbours of 20 golden queries take \d+ KiB, more than the 150 KiB the drill's run record keeps for them between invocations; lower restoreTest.goldenQueries of asset support-kb-index$/,
    );
    expect(Buffer.byteLength(JSON.stringify(entry))).toBeLessThan(REFERENCE_CHECKPOINT_BYTES);
  });
});
