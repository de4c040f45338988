import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parsePolicy } from '../../../functions/policy/load.js';
import type { RestoreTestResult } from '../../../functions/restore/restore-test.js';
import { runRestoreTest, type RestoreTestDeps, type TestUnderWay } from '../../../functions/restore/restore-tests.js';
import type { VectorTestInParts, VectorTestStep } from '../../../functions/restore/verify-vectors.js';

const policy = parsePolicy(readFileSync('dr-policy.yml', 'utf8'));
const search = policy.assets.find((a) => a.name === 'product-search-index')!;
const under: VectorTestInParts = {
  restoreId: 'a'.repeat(32),
  startedAt: '2026-11-30T06:00:00.000Z',
  snapshotId: '2026-11-30T05-00-00Z',
  scratchIndex: 'product_embeddings-dr-verify-20261130t060000000z',
};
const passed: RestoreTestResult = {
  asset: search.name,
  kind: 'vectors',
  ok: true,
  startedAt: under.startedAt,
  finishedAt: '2026-11-30T06:20:00.000Z',
  restoreMs: 1_100_000,
  restored: 10,
  assetTotal: 10,
  rtoSeconds: 1100,
  checks: {},
};

function depsWith(step: VectorTestStep, recorded = true, pending?: TestUnderWay) {
  const continued: Record<string, unknown>[] = [];
  const records: RestoreTestResult[] = [];
  const published: unknown[] = [];
  const cleared: string[] = [];
  const tested: (VectorTestInParts | undefined)[] = [];
  const deps = {
    testData: async () => passed,
    testVectors: async (_asset: unknown, under?: VectorTestInParts) => (tested.push(under), structuredClone(step)),
    now: () => new Date('2026-11-30T07:00:00.000Z'),
    log: {
      record: async (result: RestoreTestResult) => (records.push(result), recorded),
      underWay: async () => pending,
      clearUnderWay: async (_asset: string, startedAt: string) => void cleared.push(startedAt),
    },
    alerts: {
      store: { get: async () => undefined, put: async () => undefined },
      publisher: { publish: async (event: unknown) => void published.push(event) },
    },
    continuation: { continueLater: async (payload: Record<string, unknown>) => void continued.push(payload) },
  } as unknown as RestoreTestDeps;
  return { deps, continued, records, published, cleared, tested };
}

describe('a restore test in parts, run by verify-restore', () => {
  it('continues in a new invocation while its restore works: nothing recorded, no alert', async () => {
    const { deps, continued, records, published } = depsWith({ continueWith: under });
    expect(await runRestoreTest(deps, search, under)).toEqual({ continued: under });
    expect(continued).toEqual([{ asset: 'product-search-index', continuation: under }]);
    expect(records).toEqual([]);
    expect(published).toEqual([]);
  });

  it('records its result once; a second invocation finishing the same test records nothing and raises nothing', async () => {
    const first = depsWith({ result: passed });
    expect(await runRestoreTest(first.deps, search, under)).toMatchObject({ result: passed, recorded: true });
    expect(first.records).toEqual([passed]);

    const late = depsWith({ result: { ...passed, ok: false, reason: 'scratch index gone' } }, false);
    expect(await runRestoreTest(late.deps, search, under)).toMatchObject({ recorded: false, events: [] });
    expect(late.published).toEqual([]);
    expect(late.continued).toEqual([]);
    // Either way the test is no longer under way.
    expect([...first.cleared, ...late.cleared]).toEqual([under.startedAt, under.startedAt]);
  });

  it('a scheduled test leaves a test seen under way within 20 minutes alone, and takes over one seen longer ago', async () => {
    const fresh = depsWith({ result: passed }, true, { test: under, seenAt: '2026-11-30T06:41:00.000Z' });
    expect(await runRestoreTest(fresh.deps, search)).toEqual({ underWay: { test: under, seenAt: '2026-11-30T06:41:00.000Z' } });
    expect(fresh.tested).toEqual([]);
    expect(fresh.records).toEqual([]);

    const stale = depsWith({ result: passed }, true, { test: under, seenAt: '2026-11-30T06:40:00.000Z' });
    const taken = await runRestoreTest(stale.deps, search);
    expect(stale.tested).toEqual([under]);
    expect(taken).toMatchObject({
      recorded: true,
      result: { checks: { continuationLost: { lastSeenAt: '2026-11-30T06:40:00.000Z', takenOverAt: '2026-11-30T07:00:00.000Z' } } },
    });
    expect(stale.cleared).toEqual([under.startedAt]);

    // A continuation carries its test: no look for one under way.
    const continued = depsWith({ result: passed }, true, { test: under, seenAt: '2026-11-30T06:59:00.000Z' });
    expect(await runRestoreTest(continued.deps, search, under)).toMatchObject({ recorded: true });
    expect(continued.tested).toEqual([under]);
  });
});
