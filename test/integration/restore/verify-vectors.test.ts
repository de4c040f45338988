import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VectorAsset } from '../../../functions/policy/schema.js';
import { measuredRto } from '../../../functions/restore/restore-test.js';
import { parseVectorRestore } from '../../../functions/restore/restore-vectors-request.js';
import { restoreVectors, type VectorRestoreStatus } from '../../../functions/restore/restore-vectors.js';
import {
  verifyVectorRestore,
  verifyVectorRestoreInParts,
  type VectorTestInParts,
  type VerifyVectorsDeps,
} from '../../../functions/restore/verify-vectors.js';
import { DynamoRestoreTestLog } from '../../../functions/restore/dynamo-restore-test-log.js';
import { runRestoreTest, type RestoreTestDeps } from '../../../functions/restore/restore-tests.js';
import { dynamoDocumentClient } from '../../../functions/shared/aws-clients.js';
import { readManifest } from '../../../functions/vectors/read-snapshot.js';
import { newestVerified, type SnapshotEntry } from '../../../functions/vectors/snapshot-catalog.js';
import { EngineError, type VectorStore } from '../../../functions/vectors/vector-store.js';
import {
  docs,
  fingerprintOf,
  indexExists,
  PAYLOAD_NOW,
  REPLICA,
  startRestoreHarness,
  type RestoreHarness,
} from './restore-vectors-harness.js';

/**
 * The vector restore test of verify-restore: the newest verified snapshot restored into a scratch
 * index on the asset's own engine, checked by count, fingerprint and recall@10 of golden queries
 * against the live source; the scratch index is gone afterwards whatever happened.
 */
let h: RestoreHarness;
const records = docs(260, 11);
let tick = 0;
/** Each call a second later: the restore's duration is a count of calls, not of real time. */
const clock = () => new Date(Date.parse('2026-11-27T03:00:00Z') + 1000 * tick++);
const depsFor = (overrides: Partial<VerifyVectorsDeps> = {}): VerifyVectorsDeps => ({
  catalog: h.catalog,
  objects: h.objects,
  openStore: (asset: VectorAsset) => h.open(asset.name),
  now: clock,
  batchSize: 40,
  pageSize: 50,
  ...overrides,
});

/**
 * restore-vectors as Lambda runs it: each call here, what it asks for (parts, continuations) sent to
 * invocations of their own at once, after it returned; `running` holds those invocations.
 */
function restoreVectorsAsLambda() {
  const sent: Record<string, unknown>[] = [];
  const running: Promise<unknown>[] = [];
  const call = async (payload: Record<string, unknown>): Promise<VectorRestoreStatus> => {
    const { deps, continued } = h.restoreDeps();
    const status = await restoreVectors(parseVectorRestore(payload, h.policy, PAYLOAD_NOW), deps);
    for (const next of continued) {
      sent.push(next);
      running.push(call(next));
    }
    return status;
  };
  return { call, sent, running };
}

/** The scratch index must not exist after the test, whatever the outcome. */
async function expectScratchGone(asset: string, scratch: unknown) {
  expect(scratch).toMatch(new RegExp(`^${h.asset(asset).source.index}-dr-verify-\\d{8}t\\d{9}z$`));
  const store = await h.open(asset);
  try {
    expect(await indexExists(store, scratch as string)).toBe(false);
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  h = await startRestoreHarness();
  await h.seed('docs', records);
  await h.seed('pg-docs', records);
  await h.seed('drift', records);
  await h.snapshot('docs', new Date('2026-11-26T10:00:00Z'));
  await h.snapshot('pg-docs', new Date('2026-11-26T10:00:00Z'));
  await h.snapshot('drift', new Date('2026-11-26T10:00:00Z'));
}, 180_000);

afterAll(async () => {
  await h?.stop();
});

describe('verifyVectorRestore', () => {
  it.each(['docs', 'pg-docs'])(
    'passes on a good snapshot (%s): count, fingerprint and recall 1.0 of an exact engine, RTO measured',
    async (name) => {
      const snapshot = (await newestVerified(h.catalog, name))!;
      const result = await verifyVectorRestore(h.asset(name), depsFor());

      expect(result).toMatchObject({
        asset: name,
        kind: 'vectors',
        ok: true,
        restored: records.length,
        assetTotal: records.length,
        checks: {
          snapshotId: snapshot.snapshotId,
          count: { expected: records.length, actual: records.length },
          fingerprint: { expected: fingerprintOf(records), actual: fingerprintOf(records) },
          recall: { k: 10, queries: h.asset(name).restoreTest.goldenQueries, mean: 1, min: 1, required: 1, exactSearch: true },
          scratchDropped: true,
        },
      });
      expect(result.reason).toBeUndefined();
      expect(result.restoreMs).toBeGreaterThan(0);
      expect(result.rtoSeconds).toBe(measuredRto(result.restoreMs, records.length, records.length));
      await expectScratchGone(name, result.checks.scratchIndex);
    },
  );

  it('fails with the reason when a chunk is corrupted, marks the snapshot corrupt, and drops the scratch index', async () => {
    const snapshot: SnapshotEntry = (await newestVerified(h.catalog, 'docs'))!;
    await h.s3.send(new PutObjectCommand({ Bucket: REPLICA, Key: `${snapshot.prefix}chunks/000002.ndjson.zst`, Body: 'not the chunk' }));

    const result = await verifyVectorRestore(h.asset('docs'), depsFor());

    expect(result.ok).toBe(false);
    expect(result.reason).toMatch(
      new RegExp(
        `^snapshot ${snapshot.snapshotId} does not restore: .*chunks/000002\\.ndjson\\.zst: SHA-256 [0-9a-f]{64} does not match the manifest's [0-9a-f]{64}; it is marked corrupt in the catalog$`,
      ),
    );
    expect(result.rtoSeconds).toBeNull();
    expect(result.checks).toMatchObject({ snapshotMarkedCorrupt: true, scratchDropped: true });
    await expectScratchGone('docs', result.checks.scratchIndex);
    expect(await h.catalog.get('docs', snapshot.snapshotId)).toMatchObject({ state: 'corrupt' });
    // No longer a recovery point; with no other snapshot, the next test says so.
    expect(await newestVerified(h.catalog, 'docs')).toBeUndefined();
    expect(await verifyVectorRestore(h.asset('docs'), depsFor())).toMatchObject({
      ok: false,
      reason: 'no verified snapshot of "docs" to restore',
      restored: 0,
      rtoSeconds: null,
    });
  });

  it('fails recall when the source index changed since the snapshot (exact engine: 1.0 required), and drops the scratch index', async () => {
    const source = await h.open('drift');
    try {
      // The same ids with other vectors: the snapshot restores fine, but the live neighbours moved.
      await source.write(
        'drift',
        docs(records.length, 12).map((r, i) => ({ ...r, id: records[i]!.id })),
      );
    } finally {
      await source.close();
    }

    const result = await verifyVectorRestore(h.asset('drift'), depsFor());

    expect(result.ok).toBe(false);
    expect(result.checks).toMatchObject({
      count: { actual: records.length },
      fingerprint: { actual: fingerprintOf(records) },
      scratchDropped: true,
    });
    expect(result.checks.recall).toMatchObject({ queries: 12, required: 1, exactSearch: true });
    expect((result.checks.recall as { mean: number }).mean).toBeLessThan(1);
    expect(result.reason).toMatch(
      /^recall@10 0\.\d{3} over 12 golden queries \(source index "drift" against the restore\) is below the required 1 \(exact search\)/,
    );
    await expectScratchGone('drift', result.checks.scratchIndex);
  });

  it('drops the scratch index when the engine fails halfway through the restore', async () => {
    let writes = 0;
    const failing = async (asset: VectorAsset): Promise<VectorStore> => {
      const real = await h.open(asset.name);
      return Object.assign(Object.create(real) as VectorStore, {
        write: async (index: string, batch: Parameters<VectorStore['write']>[1]) => {
          if (++writes > 3) throw new EngineError('pgvector', 'write of index failed: connection reset');
          return real.write(index, batch);
        },
      });
    };

    const result = await verifyVectorRestore(h.asset('pg-docs'), depsFor({ openStore: failing }));

    expect(result).toMatchObject({ ok: false, rtoSeconds: null, checks: { scratchDropped: true } });
    expect(result.reason).toMatch(
      /^restore of snapshot \S+ into scratch index "pg_docs-dr-verify-\w+" failed: EngineError: pgvector: write of index failed: connection reset$/,
    );
    await expectScratchGone('pg-docs', result.checks.scratchIndex);
  });
});

describe('verifyVectorRestoreInParts (an asset with restoreParts > 1)', () => {
  it('restores through restore-vectors in parts, continues in a new invocation while they work, checks recall, drops the scratch index', async () => {
    const asset = { ...h.asset('pg-docs'), restoreParts: 3 };
    const snapshot = (await newestVerified(h.catalog, 'pg-docs'))!;
    const { call, sent, running } = restoreVectorsAsLambda();
    const polls: number[] = [];
    const noted: VectorTestInParts[] = [];
    const deps = (remainingMs: () => number) => ({
      ...depsFor({ now: () => new Date() }),
      restoreVectors: call,
      remainingMs,
      noteUnderWay: async (test: VectorTestInParts) => void noted.push(test),
      pollMs: 20,
      sleep: (ms: number) => (polls.push(ms), new Promise<void>((resolve) => setTimeout(resolve, ms))),
    });

    // The first invocation plans and starts the restore, then has no time left to wait: it hands over.
    const first = await verifyVectorRestoreInParts(
      asset,
      deps(() => 1_000),
    );
    expect(first).toEqual({
      continueWith: {
        restoreId: expect.stringMatching(/^[0-9a-f]{32}$/),
        startedAt: expect.any(String),
        snapshotId: snapshot.snapshotId,
        scratchIndex: expect.stringMatching(/^pg_docs-dr-verify-\d{8}t\d{9}z$/),
        continuedAt: expect.any(String),
      },
    });
    const under = (first as { continueWith: VectorTestInParts }).continueWith;
    // Noted as under way before the restore could create anything, and again as it handed over.
    const { continuedAt: _continued, ...planned } = under;
    expect(noted).toEqual([planned, under]);

    // The next one (its continuation) waits for the parts, then measures recall and drops the scratch index.
    const second = await verifyVectorRestoreInParts(
      asset,
      deps(() => 900_000),
      under,
    );
    await Promise.all(running);
    if (!('result' in second)) throw new Error(`still waiting: ${JSON.stringify(second)}`);
    const { result } = second;
    expect(result).toMatchObject({
      asset: 'pg-docs',
      kind: 'vectors',
      ok: true,
      startedAt: under.startedAt,
      restored: records.length,
      assetTotal: records.length,
      checks: {
        snapshotId: snapshot.snapshotId,
        scratchIndex: under.scratchIndex,
        restoreId: under.restoreId,
        count: { expected: records.length, actual: records.length },
        fingerprint: { expected: fingerprintOf(records), actual: fingerprintOf(records) },
        fanOut: { writeParts: 3, verifyParts: 3 },
        recall: { k: 10, queries: asset.restoreTest.goldenQueries, mean: 1, min: 1, required: 1, exactSearch: true },
        scratchDropped: true,
      },
    });
    expect(result.reason).toBeUndefined();
    // The RTO is the restore's own: the plan's claim to the end of its check, across the parts.
    const restore = await call({ restoreId: under.restoreId });
    expect(result.restoreMs).toBe(restore.result!.restoreMs);
    expect(result.rtoSeconds).toBe(restore.result!.restoreMs / 1000);
    expect([...new Set(sent.flatMap((p) => (typeof p.part === 'string' ? [p.part] : [])))].sort()).toEqual([
      'verify-0000',
      'verify-0001',
      'verify-0002',
      'write-0000',
      'write-0001',
      'write-0002',
    ]);
    expect(polls.length).toBeGreaterThan(0);
    await expectScratchGone('pg-docs', result.checks.scratchIndex);
  });

  it('fails with restore-vectors’ reason when the dry run is refused, and creates nothing', async () => {
    const asset = { ...h.asset('pg-docs'), restoreParts: 3 };
    const calls: Record<string, unknown>[] = [];
    const refusing = async (payload: Record<string, unknown>): Promise<VectorRestoreStatus> => {
      calls.push(payload);
      throw new Error('target.index: pgvector index "x" exists');
    };
    const step = await verifyVectorRestoreInParts(asset, {
      ...depsFor({ now: () => new Date() }),
      restoreVectors: refusing,
      remainingMs: () => 900_000,
      noteUnderWay: async () => undefined,
    });
    expect(step).toMatchObject({
      result: {
        ok: false,
        rtoSeconds: null,
        reason: 'restore-vectors refused the restore test’s dry run: Error: target.index: pgvector index "x" exists',
      },
    });
    // Only the dry run was asked for, and no scratch index is on the engine.
    expect(calls).toEqual([expect.objectContaining({ dryRun: true, parts: 3 })]);
    if (!('result' in step)) throw new Error('the test handed over instead of failing');
    expect(step.result.checks).not.toHaveProperty('restoreId');
    await expectScratchGone('pg-docs', step.result.checks.scratchIndex);
  });
  it('is taken over by the asset’s next scheduled test when its continuation is lost: finished, recorded, the scratch index dropped', async () => {
    const asset = { ...h.asset('pg-docs'), restoreParts: 3 };
    const log = new DynamoRestoreTestLog(dynamoDocumentClient(), process.env.LEDGER_TABLE!);
    const { call, running } = restoreVectorsAsLambda();
    let now = Date.parse('2026-11-27T04:00:00Z');
    const lost: Record<string, unknown>[] = [];
    const calls: Record<string, unknown>[] = [];
    const dryRuns = () => calls.filter((p) => p.dryRun).length;
    /** verify-restore's deps in an invocation with `remainingMs` left; continuations are sent, and never arrive. */
    const deps = (remainingMs: number): RestoreTestDeps => ({
      testData: () => Promise.reject(new Error('not a data asset')),
      testVectors: (a, under) =>
        verifyVectorRestoreInParts(
          a as VectorAsset,
          {
            ...depsFor({ now: () => new Date(now) }),
            restoreVectors: (payload) => (calls.push(payload), call(payload)),
            remainingMs: () => remainingMs,
            noteUnderWay: (test) => log.noteUnderWay(a.name, test, new Date(now)),
            pollMs: 20,
            sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
          },
          under,
        ),
      log,
      alerts: {
        store: { get: async () => undefined, put: async () => undefined },
        publisher: { publish: async () => undefined },
      } as unknown as RestoreTestDeps['alerts'],
      continuation: { continueLater: async (payload) => void lost.push(payload) },
      now: () => new Date(now),
    });

    // The scheduled test plans and starts the restore, hands over, and its continuation is lost.
    const first = await runRestoreTest(deps(1_000), asset);
    if (!('continued' in first)) throw new Error(`did not hand over: ${JSON.stringify(first)}`);
    expect(lost).toHaveLength(1);
    expect(await log.underWay('pg-docs')).toEqual({ test: first.continued, seenAt: '2026-11-27T04:00:00.000Z' });

    // Five minutes on, the next schedule finds it under way: it starts nothing and leaves it alone.
    now += 5 * 60_000;
    expect(await runRestoreTest(deps(900_000), asset)).toEqual({ underWay: { test: first.continued, seenAt: '2026-11-27T04:00:00.000Z' } });
    expect(dryRuns()).toBe(1);

    // Twenty-five minutes after it was last seen, the next one takes it over and finishes it.
    now += 20 * 60_000;
    const taken = await runRestoreTest(deps(900_000), asset);
    await Promise.all(running);
    if (!('result' in taken)) throw new Error(`not finished: ${JSON.stringify(taken)}`);
    expect(dryRuns()).toBe(1);
    expect(taken).toMatchObject({
      recorded: true,
      result: {
        ok: true,
        startedAt: first.continued.startedAt,
        checks: {
          restoreId: first.continued.restoreId,
          scratchIndex: first.continued.scratchIndex,
          continuationLost: { lastSeenAt: '2026-11-27T04:00:00.000Z', takenOverAt: '2026-11-27T04:25:00.000Z' },
          scratchDropped: true,
        },
      },
    });
    await expectScratchGone('pg-docs', first.continued.scratchIndex);
    expect(await log.underWay('pg-docs')).toBeUndefined();
    expect((await log.since('pg-docs', new Date(first.continued.startedAt))).map((r) => r.startedAt)).toEqual([first.continued.startedAt]);
  });

  // Last: it leaves pg-docs' only snapshot corrupt.
  it('fails when a part of the restore meets a corrupt chunk: restore-vectors marks the snapshot corrupt, the test says so and drops the scratch index', async () => {
    const asset = { ...h.asset('pg-docs'), restoreParts: 3 };
    const snapshot = (await newestVerified(h.catalog, 'pg-docs'))!;
    const key = (await readManifest(h.objects, snapshot.prefix))!.chunks.at(-1)!.key;
    await h.s3.send(new PutObjectCommand({ Bucket: REPLICA, Key: `${snapshot.prefix}${key}`, Body: 'not the chunk' }));
    const { call, running } = restoreVectorsAsLambda();

    const step = await verifyVectorRestoreInParts(asset, {
      ...depsFor({ now: () => new Date() }),
      restoreVectors: call,
      remainingMs: () => 900_000,
      noteUnderWay: async () => undefined,
      pollMs: 20,
      sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
    });
    await Promise.all(running);
    if (!('result' in step)) throw new Error(`still waiting: ${JSON.stringify(step)}`);
    expect(step.result).toMatchObject({ ok: false, rtoSeconds: null, checks: { snapshotMarkedCorrupt: true, scratchDropped: true } });
    expect(step.result.reason).toMatch(
      new RegExp(
        `^snapshot ${snapshot.snapshotId} does not restore: restore [0-9a-f]{32}: .*${key.replaceAll('.', '\\.')}: SHA-256 [0-9a-f]{64} does not match the manifest's [0-9a-f]{64}; it is marked corrupt in the catalog$`,
      ),
    );
    expect(await h.catalog.get('pg-docs', snapshot.snapshotId)).toMatchObject({ state: 'corrupt' });
    expect(await newestVerified(h.catalog, 'pg-docs')).toBeUndefined();
    await expectScratchGone('pg-docs', step.result.checks.scratchIndex);
  });
});
