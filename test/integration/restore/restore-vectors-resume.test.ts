import { describe, expect, it } from 'vitest';
import { parseVectorRestore } from '../../../functions/restore/restore-vectors-request.js';
import { restoreVectors, type VectorRestoreDeps, type VectorRestoreStatus } from '../../../functions/restore/restore-vectors.js';
import type { SnapshotEntry } from '../../../functions/vectors/snapshot-catalog.js';
import type { VectorStore } from '../../../functions/vectors/vector-store.js';
import { loadEvent } from '../../support/fixtures.js';
import { docs, fingerprintOf, PAYLOAD_NOW, scanAll, type RestoreHarness, withDocsSnapshot } from './restore-vectors-harness.js';

/**
 * A restore too large for one invocation: it stops when the invocation's time runs out (in the write
 * phase and in the check's scan), asks for a continuation, and each {"restoreId", "continuation": true}
 * continues from the checkpoint on the plan, to the snapshot's exact content. A crash between a
 * batch and its checkpoint rewrites that batch (an upsert) and counts nothing twice.
 */
let h: RestoreHarness;
let pg: VectorStore;
let snapshot: SnapshotEntry;
const records = docs(1500, 21);

const call = async (payload: unknown, deps: VectorRestoreDeps) => restoreVectors(parseVectorRestore(payload, h.policy, PAYLOAD_NOW), deps);
const dryRunInto = (index: string) => ({ asset: 'docs', target: { asset: 'pg-docs', index }, dryRun: true });
const runOf = ({ dryRun: _dryRun, ...request }: Record<string, unknown>, planToken: string) => ({ ...request, planToken });
const continuation = (restoreId: string) => ({ ...loadEvent('restore-vectors/valid/continuation.json'), restoreId });
const statusOf = (restoreId: string) => ({ ...loadEvent('restore-vectors/valid/status.json'), restoreId });

withDocsSnapshot(records, (fixture) => ({ h, pg, snapshot } = fixture));

describe('restore-vectors across invocations', () => {
  it('stops when time runs out, continues with {"restoreId"} from the checkpoint, and ends with the snapshot\'s fingerprint', async () => {
    expect(snapshot.chunks).toBeGreaterThan(10);
    const request = dryRunInto('resumed');
    const { planToken } = await call(request, h.restoreDeps().deps);

    const first = h.restoreDeps({ budget: 8 });
    // The continuation is sent once the run let the plan's lease go: the next invocation finds it free.
    const leaseWhenSent: unknown[] = [];
    const sent = first.deps.continuation;
    first.deps.continuation = {
      continueLater: async (payload) => {
        leaseWhenSent.push((await h.plans.get(planToken!))!.lease);
        await sent.continueLater(payload);
      },
    };
    let status: VectorRestoreStatus = await call(runOf(request, planToken!), first.deps);
    expect(status).toMatchObject({ state: 'running', progress: { phase: 'write' } });
    expect(first.continued).toEqual([{ restoreId: planToken, continuation: true }]);
    expect(leaseWhenSent).toEqual([undefined]);
    const written = status.progress!.write.written;
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(records.length);
    // Checkpointed after each batch: the target holds exactly what the checkpoint says.
    expect((await pg.describe('resumed')).count).toBe(written);

    // The status alone continues nothing.
    expect(await call(statusOf(planToken!), h.restoreDeps({ budget: 0 }).deps)).toMatchObject({
      state: 'running',
      progress: status.progress,
    });

    const phases = new Set<string>([status.progress!.phase]);
    let invocations = 1;
    while (status.state === 'running') {
      const next = h.restoreDeps({ budget: 8 });
      status = await call(continuation(planToken!), next.deps);
      invocations++;
      if (status.progress) phases.add(status.progress.phase);
      if (status.state === 'running') expect(next.continued).toEqual([{ restoreId: planToken, continuation: true }]);
    }
    // Both the writing and the check's scan were interrupted and continued.
    expect(phases).toEqual(new Set(['write', 'verify']));
    expect(invocations).toBeGreaterThan(records.length / 50 / 8);
    expect(status).toMatchObject({
      state: 'done',
      result: {
        ok: true,
        written: records.length,
        count: { expected: records.length, actual: records.length },
        fingerprint: { actual: fingerprintOf(records) },
      },
    });
    expect(fingerprintOf(await scanAll(pg, 'resumed'))).toBe(fingerprintOf(records));
  });

  it('continues after a crash between a batch and its checkpoint without counting a record twice', async () => {
    const request = dryRunInto('crashed');
    const { planToken } = await call(request, h.restoreDeps().deps);
    let saves = 0;
    const plans = new Proxy(h.plans, {
      get(target, property, receiver) {
        if (property !== 'saveProgress') return Reflect.get(target, property, receiver);
        return async (...args: Parameters<typeof h.plans.saveProgress>) => {
          if (++saves === 6) throw new Error('Task timed out after 900.00 seconds');
          return target.saveProgress(...args);
        };
      },
    });

    await expect(call(runOf(request, planToken!), h.restoreDeps({ plans }).deps)).rejects.toThrow('Task timed out');
    const crashed = await call(statusOf(planToken!), h.restoreDeps().deps);
    expect(crashed).toMatchObject({
      state: 'running',
      progress: { phase: 'write', lastError: 'Error: Task timed out after 900.00 seconds' },
    });
    // One batch (at most 50 records; batches end at chunk boundaries) went in after the last checkpoint.
    const inIndex = (await pg.describe('crashed')).count;
    expect(inIndex).toBeGreaterThan(crashed.progress!.write.written);
    expect(inIndex).toBeLessThanOrEqual(crashed.progress!.write.written + 50);

    const done = await call(continuation(planToken!), h.restoreDeps().deps);
    expect(done).toMatchObject({
      state: 'done',
      result: { ok: true, written: records.length, fingerprint: { actual: fingerprintOf(records) } },
    });
    expect(fingerprintOf(await scanAll(pg, 'crashed'))).toBe(fingerprintOf(records));
  });
});
