import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillRun } from '../../../functions/drills/drill-run.js';
import { localContext } from '../../../scripts/local-aws/event-source-mapping.js';
import { sampleRecords } from '../../contract/vector-store.contract.js';
import { onCallPages } from '../../support/on-call.js';
import { SAMPLE_OBJECTS, SOURCE, startDrillHarness, writeAndReplicate, type DrillHarness } from './drill-harness.js';

/**
 * The region-outage drill on the local AWS, run by the real dr-drill handler: with every request
 * for the primary region (us-east-1) answering 500 and the primary's pgvector stopped, it measures
 * each asset's RPO, restores the object assets as of its start into the DR workspace and the vector
 * snapshot into LanceDB in the DR region, verifies them (bytes against the ledger's SHA-256; count,
 * fingerprint and recall@10), measures each asset's RTO, removes everything it created, and passes.
 */
let h: DrillHarness;
let handler: (event: unknown, context: ReturnType<typeof localContext>) => Promise<any>;
const records = sampleRecords(120, 16, 5);
const objects = SAMPLE_OBJECTS;
const invoke = (payload: unknown) => handler(payload, localContext('dr-drill'));

beforeAll(async () => {
  h = await startDrillHarness(records);
  await writeAndReplicate(h, objects);
  ({ handler } = await import('../../../functions/dr-drill.js'));
}, 240_000);

afterAll(async () => {
  await h?.stop();
});

describe('region-outage drill', () => {
  it('passes with every primary-region endpoint failing, measures RPO and RTO, and leaves nothing behind', async () => {
    h.primaryDown();
    await h.pg.stop(); // the primary's vector engine is gone too
    // The primary really is down for the duration: a read of the source answers 500.
    await expect(h.t.s3.send(new GetObjectCommand({ Bucket: SOURCE, Key: 'train/b.jsonl' }))).rejects.toThrow();
    const refusedBefore = h.proxy.injected.internal;
    expect(refusedBefore).toBeGreaterThan(0);

    const run: DrillRun & { busy: boolean; events: string[] } = await invoke({ drill: 'outage' });
    h.primaryBack();

    expect(run.busy).toBe(false);
    expect(run.state, JSON.stringify(run.verdict)).toBe('passed');
    expect(run.phase).toBe('finished');
    // Nothing the drill sent went to the primary region (the proxy answered none of its requests with the outage).
    expect(h.proxy.injected.internal - refusedBefore).toBe(0);

    // RPO at the start: everything was replicated and snapshotted.
    expect(run.rpoAtStart.map((r) => [r.asset, r.status])).toEqual([
      ['training', 'ok'],
      ['models', 'ok'],
      ['kb', 'ok'],
    ]);
    expect(run.rpoAtStart.find((r) => r.asset === 'training')!.rpoSeconds).toBe(0);

    const byAsset = Object.fromEntries(run.assets.map((a) => [a.asset, a]));
    expect(byAsset.training).toMatchObject({
      ok: true,
      step: 'done',
      checks: { verify: { expected: 3, notInReplica: 0, compared: 3, matched: 3, problems: [] } },
    });
    expect(byAsset.models).toMatchObject({ ok: true, checks: { verify: { compared: 2, matched: 2 } } });
    expect(byAsset.kb).toMatchObject({
      ok: true,
      checks: {
        'vectors-run': { state: 'done', result: { ok: true, count: { expected: 120, actual: 120 } } },
        recall: { k: 10, queries: 8, mean: 1, min: 1 },
        // The exact neighbours the recall is measured against, from the snapshot: every record read.
        reference: { scanned: 120, finishedAt: expect.any(String) },
      },
    });
    const reference = byAsset.kb!.checks.reference as { startedAt: string; finishedAt: string; seconds: number };
    expect(byAsset.kb!.excludedSeconds).toBe((Date.parse(reference.finishedAt) - Date.parse(reference.startedAt)) / 1000);
    // Each RTO is its own record's timestamps: verified − drill start, less the drill's own work
    // (a vector asset's reference neighbours); the drill's is the largest.
    for (const a of run.assets) {
      expect(a.rtoSeconds).toBe((Date.parse(a.verifiedAt!) - Date.parse(run.startedAt)) / 1000 - (a.excludedSeconds ?? 0));
      expect(Date.parse(a.verifiedAt!)).toBeLessThanOrEqual(Date.parse(run.finishedAt!));
    }
    expect(run.verdict!.rtoSeconds).toBe(Math.max(...run.assets.map((a) => a.rtoSeconds!)));
    expect(run.verdict!.targets.filter((t) => !t.ok)).toEqual([]);
    expect(run.verdict!.targets.map((t) => `${t.target}:${t.asset ?? ''}`)).toEqual([
      'rpo:training',
      'rpo:models',
      'rpo:kb',
      'rto:training',
      'rto:models',
      'rto:kb',
      'drill:',
    ]);

    // Nothing left: the workspace prefix is empty (every version) and the scratch index is gone.
    expect(run.cleanup).toMatchObject({ leftBehind: [], droppedIndexes: 1 });
    expect(run.cleanup!.removedObjects).toBeGreaterThanOrEqual(5);
    expect(await h.workspaceLeft()).toEqual([]);
    const index = run.created.find((r) => r.kind === 'index')!;
    expect(index).toMatchObject({ kind: 'index', asset: 'dr-lance' });
    expect(await h.indexExists('dr-lance', (index as { index: string }).index)).toBe(false);

    // A first drill that passes pages nobody; its record reads back as it was returned.
    expect(await onCallPages(h.t)).toEqual([]);
    const { busy: _busy, events: _events, ...record } = run;
    expect(await invoke({ drill: 'outage', drillId: run.drillId })).toEqual(record);
    const history = await invoke({ drill: 'outage', history: true });
    expect(history.runs.map((r: DrillRun) => r.drillId)).toEqual([run.drillId]);
  }, 240_000);
});
