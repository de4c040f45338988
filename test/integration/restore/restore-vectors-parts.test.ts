import { describe, expect, it } from 'vitest';
import { parseVectorRestore } from '../../../functions/restore/restore-vectors-request.js';
import { restoreVectors, type VectorRestoreDeps, type VectorRestoreStatus } from '../../../functions/restore/restore-vectors.js';
import { openVectorStore } from '../../../functions/vectors/open-store.js';
import { readManifest } from '../../../functions/vectors/read-snapshot.js';
import type { SnapshotEntry } from '../../../functions/vectors/snapshot-catalog.js';
import { S3SnapshotObjects, type SnapshotObjects } from '../../../functions/vectors/snapshot-objects.js';
import { EngineError, type VectorStore } from '../../../functions/vectors/vector-store.js';
import { loadEvent } from '../../support/fixtures.js';
import { docs, fingerprintOf, PAYLOAD_NOW, scanAll, type RestoreHarness, withDocsSnapshot } from './restore-vectors-harness.js';

/**
 * A restore that fans out ("parts"): the run sends each part ({"restoreId", "part"}) to an invocation
 * of its own, which writes a range of the snapshot's chunks under the part's lease; once all are
 * written the target is scanned in parts where its engine splits a scan, and the parts' counts and
 * fingerprints summed must be the snapshot's. Here every queued invocation of a round runs at once,
 * as Lambda would run them, against the local AWS and a real pgvector (PGlite) and LanceDB.
 */
let h: RestoreHarness;
let pg: VectorStore;
let snapshot: SnapshotEntry;
const records = docs(1500, 33);

withDocsSnapshot(records, (fixture) => ({ h, pg, snapshot } = fixture));

const call = (payload: unknown, deps: VectorRestoreDeps) => restoreVectors(parseVectorRestore(payload, h.policy, PAYLOAD_NOW), deps);
const dryRun = (index: string, parts: number, targetAsset = 'pg-docs') => ({
  ...loadEvent('restore-vectors/valid/dry-run-parts.json'),
  asset: 'docs',
  target: { asset: targetAsset, index },
  parts,
});
const runOf = ({ dryRun: _dryRun, ...request }: Record<string, unknown>, planToken: string) => ({ ...request, planToken });
const partPayload = (restoreId: string, part: string) => ({ ...loadEvent('restore-vectors/valid/part.json'), restoreId, part });

interface Driven {
  status: VectorRestoreStatus;
  /** Every payload an invocation asked for, in order. */
  sent: Record<string, unknown>[];
  invocations: number;
  /** The most invocations that ran at once. */
  widest: number;
}

/**
 * Runs `first`, then, round by round, every invocation the previous round asked for, all of a round
 * at once (each with its own deps: `budget` remainingMs() calls with time left). `drop` loses an
 * asked-for invocation (its Lambda never ran). Ends when nothing more is asked for.
 */
async function drive(
  first: unknown,
  options: { budget?: number; drop?: (payload: Record<string, unknown>) => boolean; deps?: Partial<VectorRestoreDeps> } = {},
): Promise<Driven> {
  const sent: Record<string, unknown>[] = [];
  const start = h.restoreDeps({ budget: options.budget, ...options.deps });
  let status = await call(first, start.deps);
  let queue = [...start.continued];
  let invocations = 1;
  let widest = 1;
  while (queue.length > 0) {
    sent.push(...queue);
    const round = queue.filter((payload) => !options.drop?.(payload));
    widest = Math.max(widest, round.length);
    queue = [];
    const ran = await Promise.all(
      round.map(async (payload) => {
        const next = h.restoreDeps({ budget: options.budget, ...options.deps });
        const result = await call(payload, next.deps);
        return { result, continued: next.continued };
      }),
    );
    invocations += ran.length;
    for (const { continued } of ran) queue.push(...continued);
    status = await call({ restoreId: status.restoreId }, h.restoreDeps().deps);
  }
  return { status, sent, invocations, widest };
}

describe('restore-vectors in parts', () => {
  it('plans contiguous chunk ranges, writes them in four parts at once, checks pgvector in parts, and ends with the exact fingerprint', async () => {
    expect(snapshot.chunks).toBeGreaterThan(10);
    const request = dryRun('fanned', 4);
    const planned = await call(request, h.restoreDeps().deps);
    const fanOut = planned.plan.fanOut!;
    expect(fanOut).toMatchObject({ parts: 4, verify: 'in parts' });
    expect(fanOut.write.map((w) => w.part)).toEqual(['write-0000', 'write-0001', 'write-0002', 'write-0003']);
    // The ranges follow each other and cover every chunk once; their records add up to the snapshot's.
    expect(fanOut.write[0]!.chunks[0]).toBe(0);
    fanOut.write.slice(1).forEach((w, i) => expect(w.chunks[0]).toBe(fanOut.write[i]!.chunks[1]));
    expect(fanOut.write.at(-1)!.chunks[1]).toBe(snapshot.chunks);
    expect(fanOut.write.reduce((sum, w) => sum + w.records, 0)).toBe(records.length);

    const driven = await drive(runOf(request, planned.planToken!));
    const parts = driven.sent.filter((p) => 'part' in p).map((p) => p.part);
    expect(parts.filter((p) => String(p).startsWith('write-')).sort()).toEqual(fanOut.write.map((w) => w.part));
    expect(parts.filter((p) => String(p).startsWith('verify-')).length).toBeGreaterThan(1);
    expect(driven.widest).toBeGreaterThanOrEqual(4);
    expect(driven.status).toMatchObject({
      state: 'done',
      result: {
        ok: true,
        method: 'chunks',
        written: records.length,
        count: { expected: records.length, actual: records.length },
        fingerprint: { expected: snapshot.fingerprint, actual: fingerprintOf(records) },
        fanOut: { writeParts: 4 },
      },
    });
    expect(driven.status.result!.fanOut!.verifyParts).toBeGreaterThan(1);
    expect(fingerprintOf(await scanAll(pg, 'fanned'))).toBe(fingerprintOf(records));
  });

  it('parts that run out of time continue themselves, and the status shows each part while they work', async () => {
    const request = dryRun('fanned-slow', 3);
    const { planToken } = await call(request, h.restoreDeps().deps);
    const start = h.restoreDeps();
    await call(runOf(request, planToken!), start.deps);
    expect(start.continued.map((p) => p.part)).toEqual(['write-0000', 'write-0001', 'write-0002']);
    // One round of the three parts, each with time for a few batches only.
    const round = await Promise.all(
      start.continued.map(async (payload) => {
        const next = h.restoreDeps({ budget: 4 });
        await call(payload, next.deps);
        return next.continued;
      }),
    );
    expect(round).toEqual(start.continued.map((p) => [{ restoreId: planToken, part: p.part }]));
    const status = await call({ restoreId: planToken }, h.restoreDeps().deps);
    expect(status).toMatchObject({ state: 'running', progress: { phase: 'write' } });
    expect(status.parts!.map((p) => [p.part, p.done, p.lastError])).toEqual([
      ['write-0000', false, null],
      ['write-0001', false, null],
      ['write-0002', false, null],
    ]);
    // Each part checkpointed what it wrote: the target holds exactly that.
    const written = status.parts!.reduce((sum, p) => sum + p.records, 0);
    expect(written).toBeGreaterThan(0);
    expect((await pg.describe('fanned-slow')).count).toBe(written);

    const rest = await Promise.all(round.flat().map((payload) => drive(payload, { budget: 4 })));
    const final = await call({ restoreId: planToken }, h.restoreDeps().deps);
    expect(rest.some((r) => r.status.state === 'done')).toBe(true);
    expect(final).toMatchObject({ state: 'done', result: { ok: true, written: records.length, fanOut: { writeParts: 3 } } });
    expect(final.parts).toBeUndefined();
  });

  it('a part whose invocation was lost waits; {"restoreId", "continuation": true} sends only that part again, and a late duplicate changes nothing', async () => {
    const request = dryRun('fanned-lost', 3);
    const { planToken } = await call(request, h.restoreDeps().deps);
    const lost = (payload: Record<string, unknown>) => payload.part === 'write-0001';
    const first = await drive(runOf(request, planToken!), { drop: lost });
    expect(first.status).toMatchObject({ state: 'running', progress: { phase: 'write' } });
    const waiting = await call({ restoreId: planToken }, h.restoreDeps().deps);
    expect(waiting.parts!.map((p) => [p.part, p.done])).toEqual([
      ['write-0000', true],
      ['write-0001', false],
      ['write-0002', true],
    ]);

    const resumed = h.restoreDeps();
    await call({ restoreId: planToken, continuation: true }, resumed.deps);
    expect(resumed.continued).toEqual([{ restoreId: planToken, part: 'write-0001' }]);
    const done = await drive(resumed.continued[0]);
    expect(done.status).toMatchObject({ state: 'done', result: { ok: true, written: records.length } });

    const late = await call(partPayload(planToken!, 'write-0000'), h.restoreDeps().deps);
    expect(late).toMatchObject({ state: 'done', result: done.status.result });
    expect(fingerprintOf(await scanAll(pg, 'fanned-lost'))).toBe(fingerprintOf(records));
  });

  it('into an engine that cannot split a scan, the parts write and the check is one scan', async () => {
    // pgvector without partitionScan: the check falls back to one scan by the run itself.
    const unsplit = async (asset: Parameters<typeof openVectorStore>[0]) => {
      const store = await openVectorStore(asset);
      return new Proxy(store, { get: (t, p, r) => (p === 'partitionScan' ? undefined : Reflect.get(t, p, r)) });
    };
    const request = dryRun('fanned-unsplit', 2);
    const planned = await call(request, h.restoreDeps({ openStore: unsplit }).deps);
    expect(planned.plan.fanOut).toMatchObject({ parts: 2, verify: 'one scan' });
    const driven = await drive(runOf(request, planned.planToken!), { deps: { openStore: unsplit } });
    expect(driven.sent.filter((p) => String(p.part ?? '').startsWith('verify-'))).toEqual([]);
    expect(driven.status).toMatchObject({
      state: 'done',
      result: {
        ok: true,
        written: records.length,
        fanOut: { writeParts: 2, verifyParts: 1 },
        fingerprint: { actual: fingerprintOf(records) },
      },
    });
  });

  it('restores natively in place and checks LanceDB in parts', async () => {
    // In place: a LanceDB version restores into its own dataset (the content is the snapshot's, as before).
    const request = { asset: 'docs', target: { asset: 'docs', index: 'docs' }, overwrite: true, useNative: true, parts: 3, dryRun: true };
    const planned = await call(request, h.restoreDeps().deps);
    expect(planned.plan).toMatchObject({ method: 'native', fanOut: { parts: 3, verify: 'in parts' } });
    const driven = await drive(runOf(request, planned.planToken!));
    expect(driven.sent.filter((p) => String(p.part ?? '').startsWith('write-'))).toEqual([]);
    expect(driven.status).toMatchObject({
      state: 'done',
      result: { ok: true, method: 'native', fanOut: { writeParts: 0 }, count: { actual: records.length } },
    });
    expect(driven.status.result!.fanOut!.verifyParts).toBeGreaterThan(1);
  });

  it('refuses a part the restore does not have, naming the field (refusals.test.ts has the payload samples)', async () => {
    const request = dryRun('fanned-refused', 2);
    const { planToken } = await call(request, h.restoreDeps().deps);
    await call(runOf(request, planToken!), h.restoreDeps().deps);
    await expect(call(partPayload(planToken!, 'write-0007'), h.restoreDeps().deps)).rejects.toThrow(
      `part: restore "${planToken}" has no part "write-0007"`,
    );
  });
  // Last: it leaves the snapshot corrupt in the catalog.
  it('a part whose engine fails three times in a row from its checkpoint fails the restore, naming the part; a checkpoint between starts the count again', async () => {
    // pgvector refusing every write, as a dropped connection would in every attempt.
    const refusing = async (asset: Parameters<typeof openVectorStore>[0]) => {
      const store = await openVectorStore(asset);
      return new Proxy(store, {
        get: (t, p, r) =>
          p === 'write'
            ? async () => Promise.reject(new EngineError('pgvector', 'connection reset (127.0.0.1:5432)'))
            : Reflect.get(t, p, r),
      });
    };
    const request = dryRun(`fanned-refused-${Date.now()}`, 3);
    const { planToken } = await call(request, h.restoreDeps().deps);
    await call(runOf(request, planToken!), h.restoreDeps().deps);
    const part = partPayload(planToken!, 'write-0001');
    const attemptsOf = async () =>
      (await call({ restoreId: planToken }, h.restoreDeps().deps)).parts!.find((p) => p.part === 'write-0001')!;

    // Two errors: thrown (Lambda retries the invocation), counted on the part.
    for (let i = 0; i < 2; i++) await expect(call(part, h.restoreDeps({ openStore: refusing }).deps)).rejects.toThrow(/connection reset/);
    expect(await attemptsOf()).toMatchObject({ attempts: 2, done: false, lastError: expect.stringMatching(/connection reset/) });
    // An invocation that gets as far as a checkpoint (then runs out of time) starts the count again.
    const progress = h.restoreDeps({ budget: 3 });
    await call(part, progress.deps);
    expect(progress.continued).toEqual([{ restoreId: planToken, part: 'write-0001' }]);
    expect(await attemptsOf()).toMatchObject({ attempts: 0, lastError: null });
    for (let i = 0; i < 2; i++) await expect(call(part, h.restoreDeps({ openStore: refusing }).deps)).rejects.toThrow(/connection reset/);
    expect((await call({ restoreId: planToken }, h.restoreDeps().deps)).state).toBe('running');

    // The third in a row fails the restore, with the part and its error.
    const failed = h.restoreDeps({ openStore: refusing });
    const status = await call(part, failed.deps);
    expect(status).toMatchObject({ state: 'failed' });
    expect(status.reason).toMatch(
      /^part write-0001: EngineError: .*connection reset \(127\.0\.0\.1:5432\).* \(3 attempts in a row from its checkpoint\)$/,
    );
    expect(failed.continued).toEqual([]);
    // The other parts, sent later, stop at once.
    expect(await call(partPayload(planToken!, 'write-0000'), h.restoreDeps().deps)).toMatchObject({
      state: 'failed',
      reason: status.reason,
    });
  });

  it('a part that meets a corrupt chunk fails the restore, naming the part, and marks the snapshot corrupt; the other parts stop and write nothing more', async () => {
    const manifest = (await readManifest(h.objects, snapshot.prefix))!;
    const bad = `${snapshot.prefix}${manifest.chunks.at(-1)!.key}`;
    const altered = (bucket: string): SnapshotObjects => {
      const objects = new S3SnapshotObjects(h.s3, bucket);
      return new Proxy(objects, {
        get: (t, p, r) =>
          p === 'get' ? async (key: string) => (key === bad ? Buffer.from('not the chunk') : t.get(key)) : Reflect.get(t, p, r),
      });
    };
    const request = dryRun('fanned-corrupt', 3);
    const { planToken } = await call(request, h.restoreDeps().deps);
    await call(runOf(request, planToken!), h.restoreDeps().deps);
    // write-0000 writes a little and continues itself; then write-0002 reaches the altered chunk.
    const early = h.restoreDeps({ budget: 3, objectsFor: altered });
    await call(partPayload(planToken!, 'write-0000'), early.deps);
    expect(early.continued).toEqual([{ restoreId: planToken, part: 'write-0000' }]);
    const failed = await call(partPayload(planToken!, 'write-0002'), h.restoreDeps({ objectsFor: altered }).deps);
    expect(failed.state).toBe('failed');
    expect(failed.reason).toMatch(
      new RegExp(
        `^part write-0002: SnapshotCorruptError: .*${manifest.chunks.at(-1)!.key}: SHA-256 [0-9a-f]{64} does not match .*; snapshot ${snapshot.snapshotId} is marked corrupt in the catalog$`,
      ),
    );
    const inIndex = (await pg.describe('fanned-corrupt')).count;
    for (const part of ['write-0000', 'write-0001']) {
      const late = h.restoreDeps({ objectsFor: altered });
      expect(await call(partPayload(planToken!, part), late.deps)).toMatchObject({ state: 'failed', reason: failed.reason });
      expect(late.continued).toEqual([]);
    }
    expect((await pg.describe('fanned-corrupt')).count).toBe(inIndex);
    // A snapshot that does not restore is no recovery point any more.
    expect(await h.catalog.get(snapshot.asset, snapshot.snapshotId)).toMatchObject({
      state: 'corrupt',
      reason: expect.stringMatching(new RegExp(`^restore ${planToken}: .*SHA-256 [0-9a-f]{64} does not match`)),
    });
    // The mark is only for a verified snapshot: one not verified (here: corrupt already; or deleted by retention) keeps its state and reason.
    const marked = (await h.catalog.get(snapshot.asset, snapshot.snapshotId))!;
    expect(await h.catalog.markCorrupt(snapshot.asset, snapshot.snapshotId, 'restore x: again')).toBe(false);
    expect(await h.catalog.get(snapshot.asset, snapshot.snapshotId)).toMatchObject({ state: 'corrupt', reason: marked.reason });
  });
});
