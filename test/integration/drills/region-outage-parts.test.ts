import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillRun } from '../../../functions/drills/drill-run.js';
import { runDrill } from '../../../functions/drills/run-drill.js';
import { createDrillRunner } from '../../../functions/drills/runtime.js';
import { parseDrillConfig } from '../../../functions/shared/config.js';
import { Fingerprint } from '../../../functions/vectors/snapshot-format.js';
import { localContext } from '../../../scripts/local-aws/event-source-mapping.js';
import { sampleRecords } from '../../contract/vector-store.contract.js';
import { SAMPLE_OBJECTS, startDrillHarness, writeAndReplicate, type DrillHarness } from './drill-harness.js';

/**
 * A region-outage drill whose vector asset restores in parts (restoreParts 3): the drill runs the
 * runbook's dry run and run with "parts", the run sends each part to the restore-vectors function,
 * and the drill watches the restore until its last part has checked the scratch index. Lambda's
 * asynchronous invocations are the one thing the local AWS cannot run: each one sent to
 * restore-vectors runs the real restore-vectors handler at once, beside the drill, as Lambda would.
 */
const RESTORE_VECTORS = 'restore-vectors';
let h: DrillHarness;
let restoreVectorsHandler: (event: unknown, context: ReturnType<typeof localContext>) => Promise<any>;
const lambda = mockClient(LambdaClient);
/** What each invocation sent to restore-vectors asked for, and the invocations themselves. */
const sent: Record<string, unknown>[] = [];
const running: Promise<unknown>[] = [];
const drillContinuations: Record<string, unknown>[] = [];
const records = sampleRecords(400, 16, 11);
const fingerprint = new Fingerprint();
records.forEach((r) => fingerprint.add(r));

beforeAll(async () => {
  process.env.DR_RESTORE_VECTORS_FUNCTION = RESTORE_VECTORS;
  h = await startDrillHarness(records, { kbRestoreParts: 3 });
  await writeAndReplicate(h, SAMPLE_OBJECTS);
  ({ handler: restoreVectorsHandler } = await import('../../../functions/restore-vectors.js'));
  lambda.on(InvokeCommand).callsFake((input: { FunctionName: string; Payload: string }) => {
    const payload = JSON.parse(input.Payload) as Record<string, unknown>;
    if (input.FunctionName === RESTORE_VECTORS) {
      sent.push(payload);
      running.push(restoreVectorsHandler(payload, localContext(RESTORE_VECTORS)));
    } else drillContinuations.push(payload);
    return { StatusCode: 202 };
  });
}, 240_000);

afterAll(async () => {
  lambda.restore();
  delete process.env.DR_RESTORE_VECTORS_FUNCTION;
  await h?.stop();
});

describe('region-outage drill, vectors restored in parts', () => {
  it('fans the restore out to restore-vectors, waits for its parts, verifies, records the fan-out, and leaves nothing', async () => {
    h.primaryDown();
    const runner = createDrillRunner(parseDrillConfig(process.env), 'dr-drill');
    const polls: number[] = [];
    const sleep = (ms: number) => (polls.push(ms), new Promise<void>((resolve) => setTimeout(resolve, ms)));
    const deps = { ...runner.depsFor(() => 300_000), pollMs: 50, sleep };
    const { run } = await runDrill(
      deps,
      runner.policy.drills.find((d) => d.name === 'outage')!,
    );
    h.primaryBack();
    const outcomes = await Promise.allSettled(running);
    expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);

    expect(run.state, JSON.stringify(run.verdict)).toBe('passed');
    expect(drillContinuations).toEqual([]); // one invocation of the drill: it waited, it did not end
    const kb = run.assets.find((a) => a.asset === 'kb')!;
    const dryRun = kb.checks['vectors-dry-run'] as { plan: { chunks: number; fanOut: { parts: number; verify: string } } };
    expect(dryRun.plan.chunks).toBeGreaterThanOrEqual(3);
    expect(dryRun.plan.fanOut).toMatchObject({ parts: 3, verify: 'in parts' });
    expect(kb).toMatchObject({
      ok: true,
      fanOut: { writeParts: 3, verifyParts: 3 },
      checks: {
        'vectors-run': {
          state: 'done',
          result: {
            ok: true,
            count: { expected: 400, actual: 400 },
            fingerprint: { expected: fingerprint.hex, actual: fingerprint.hex },
            fanOut: { writeParts: 3, verifyParts: 3 },
          },
        },
        recall: { k: 10, queries: 8, mean: 1 },
      },
    });
    expect((kb.checks['vectors-run'] as { result: { restoreMs: number } }).result.restoreMs).toBeGreaterThan(0);
    // The parts ran in restore-vectors' invocations, each part of each stage at least once.
    const parts = new Set(sent.flatMap((p) => (typeof p.part === 'string' ? [p.part] : [])));
    expect([...parts].sort()).toEqual(['verify-0000', 'verify-0001', 'verify-0002', 'write-0000', 'write-0001', 'write-0002']);
    // The drill looked again while they worked, by its poll.
    expect(polls.length).toBeGreaterThan(0);
    expect(new Set(polls)).toEqual(new Set([50]));

    expect(run.cleanup).toMatchObject({ leftBehind: [], droppedIndexes: 1 });
    expect(await h.workspaceLeft()).toEqual([]);
    const index = run.created.find((r): r is Extract<DrillRun['created'][number], { kind: 'index' }> => r.kind === 'index')!;
    expect(await h.indexExists('dr-lance', index.index)).toBe(false);
  }, 240_000);
});
