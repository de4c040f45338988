import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVectorRestore } from '../../../functions/restore/restore-vectors-request.js';
import { restoreVectors } from '../../../functions/restore/restore-vectors.js';
import { dynamoDocumentClient } from '../../../functions/shared/aws-clients.js';
import { PayloadError } from '../../../functions/shared/payload.js';
import type { SnapshotEntry } from '../../../functions/vectors/snapshot-catalog.js';
import type { VectorStore } from '../../../functions/vectors/vector-store.js';
import { localContext } from '../../../scripts/local-aws/event-source-mapping.js';
import { loadEvent } from '../../support/fixtures.js';
import {
  docs,
  fingerprintOf,
  indexExists,
  PAYLOAD_NOW,
  scanAll,
  startRestoreHarness,
  type RestoreHarness,
} from './restore-vectors-harness.js';

/**
 * What restore-vectors refuses, each with one error naming the field and nothing written: bad
 * payloads (the samples in events/restore-vectors/invalid/), snapshots that are not verified, a
 * target outside the policy or without the snapshot's metric, an existing index or a live source
 * index without "overwrite", and an index that appeared between the dry run and the run.
 */
let h: RestoreHarness;
let pg: VectorStore;
let handler: (event: unknown, context: ReturnType<typeof localContext>) => Promise<any>;
let snapshot: SnapshotEntry;
const records = docs(90, 3);
const existing = docs(7, 42);

const call = async (payload: unknown) => restoreVectors(parseVectorRestore(payload, h.policy, PAYLOAD_NOW), h.restoreDeps().deps);
const runOf = ({ dryRun: _dryRun, ...request }: Record<string, unknown>, planToken: string) => ({ ...request, planToken });
const restorePlans = async () => {
  const { Items = [] } = await dynamoDocumentClient().send(new ScanCommand({ TableName: process.env.LEDGER_TABLE! }));
  return Items.filter((item) => String(item.pk).startsWith('RESTORE#')).length;
};
const EXPECTED =
  '{"asset": "<vector asset>", "snapshotId"?: "<id>" | "before"?: "<ISO time>", "target"?: {"asset"?, "index"?}, ' +
  '"overwrite"?: false, "useNative"?: false, "parts"?: 1, "dryRun"?: true, "planToken"?: "<from the dry run>"} ' +
  'or {"restoreId": "<planToken>", "continuation"?: true} or {"restoreId": "<planToken>", "part": "write-0000"}';

beforeAll(async () => {
  h = await startRestoreHarness();
  await h.seed('docs', records);
  await h.seed('dots', docs(30, 4, 8));
  await h.seed('pg-docs', existing);
  snapshot = await h.snapshot('docs', new Date('2026-11-26T10:00:00Z'));
  await h.snapshot('dots', new Date('2026-11-26T10:00:00Z'));
  // A later snapshot that failed: in the catalog, never restorable.
  await h.catalog.begin({
    ...snapshot,
    snapshotId: '2026-11-26T11-00-00Z',
    startedAt: '2026-11-26T11:00:00.000Z',
    state: 'failed',
    reason: 'EngineError: lancedb: IO error',
  });
  pg = await h.open('pg-docs');
  await pg.createIndex('taken', { dimensions: 24, metric: 'cosine' });
  await pg.write('taken', existing);
  ({ handler } = (await import('../../../functions/restore-vectors.js')) as any);
}, 180_000);

afterAll(async () => {
  await pg?.close();
  await h?.stop();
});

describe('restore-vectors refusals', () => {
  it.each([
    ['unknown-field.json', `payload: unknown field "force"; expected ${EXPECTED}`],
    ['bad-timestamp.json', `before: must be an ISO 8601 time such as 2026-11-26T12:00:00Z; expected ${EXPECTED}`],
    ['snapshot-and-before.json', `before: give snapshotId or before, not both; expected ${EXPECTED}`],
    ['status-with-request.json', `payload: unknown field "asset"; expected ${EXPECTED}`],
    [
      'no-plan-token.json',
      'planToken: a restore runs only with the planToken of its dry run; run the same payload with "dryRun": true first',
    ],
    ['unknown-snapshot.json', 'snapshotId: asset "docs" has no snapshot "1999-01-01T00-00-00Z"'],
    ['parts-too-many.json', `parts: must be at most 64 invocations at once; expected ${EXPECTED}`],
    ['part-unnamed.json', `part: must name a part of the restore, such as "write-0000" or "verify-0001"; expected ${EXPECTED}`],
    [
      'target-outside-policy.json',
      'target.asset: "someone-elses-index" is not a vector-index asset of the policy (docs, pg-docs, drift, dots, s3v)',
    ],
  ])('rejects the sample %s through the handler, creating no plan', async (file, message) => {
    const before = await restorePlans();
    const event = loadEvent(`restore-vectors/invalid/${file}`);
    if ('asset' in event && !('restoreId' in event)) event.asset = 'docs';

    await expect(handler(event, localContext('restore-vectors'))).rejects.toThrow(new PayloadError(message));
    expect(await restorePlans()).toBe(before);
  });

  it('refuses snapshots that are not verified or not there before the time given', async () => {
    await expect(call({ asset: 'docs', snapshotId: '2026-11-26T11-00-00Z', dryRun: true })).rejects.toThrow(
      new PayloadError(
        'snapshotId: snapshot "2026-11-26T11-00-00Z" of "docs" is failed (EngineError: lancedb: IO error); only verified snapshots are restored',
      ),
    );
    await expect(call({ asset: 'docs', before: '2026-11-26T09:59:59+00:00', dryRun: true })).rejects.toThrow(
      new PayloadError('before: asset "docs" has no verified snapshot started before 2026-11-26T09:59:59.000Z'),
    );
    await expect(call({ asset: 'drift', dryRun: true })).rejects.toThrow(new PayloadError('asset: "drift" has no verified snapshot'));
    // "before" picks the newest verified snapshot that started before it, skipping the failed one.
    expect((await call({ asset: 'docs', before: '2026-11-26T12:00:00Z', dryRun: true })).plan.snapshotId).toBe(snapshot.snapshotId);
  });

  it('refuses a "before" in the future, as restore-data refuses an "asOf" in the future, creating no plan', async () => {
    const before = await restorePlans();
    // PAYLOAD_NOW is 2026-11-27T00:00:00Z: a minute of clock skew is allowed, not more.
    await expect(call({ asset: 'docs', before: '2026-11-27T00:01:01Z', dryRun: true })).rejects.toThrow(
      new PayloadError('before: 2026-11-27T00:01:01Z is in the future (it is 2026-11-27T00:00:00.000Z)'),
    );
    // The sample, through the handler, which runs on the real clock: its future time is made relative to it.
    const anHourAhead = new Date(Date.now() + 3_600_000).toISOString();
    const sample = { ...loadEvent('restore-vectors/invalid/before-in-future.json'), asset: 'docs', before: anHourAhead };
    await expect(handler(sample, localContext('restore-vectors'))).rejects.toThrow(`before: ${anHourAhead} is in the future (it is `);
    expect(await restorePlans()).toBe(before);
    expect((await call({ asset: 'docs', before: '2026-11-27T00:01:00Z', dryRun: true })).plan.snapshotId).toBe(snapshot.snapshotId);
  });

  it("refuses a target engine without the snapshot's metric (S3 Vectors has no dot product)", async () => {
    await expect(call({ asset: 'dots', target: { asset: 's3v' }, dryRun: true })).rejects.toThrow(
      /^target\.asset: s3vectors \(asset "s3v"\) has no dot metric, which snapshot 2026-11-26T10-00-00Z uses$/,
    );
  });

  it('refuses an existing target index without "overwrite", and drops and recreates it with', async () => {
    const into = { asset: 'docs', target: { asset: 'pg-docs', index: 'taken' }, dryRun: true };
    await expect(call(into)).rejects.toThrow(
      new PayloadError(
        'target.index: pgvector index "taken" exists; set "overwrite": true to drop and recreate it, or choose another target.index',
      ),
    );
    expect(fingerprintOf(await scanAll(pg, 'taken'))).toBe(fingerprintOf(existing));

    const planned = await call({ ...into, overwrite: true });
    expect(planned.plan).toMatchObject({ targetExists: true, wouldOverwrite: true, targetIsLiveSource: false });
    const done = await call(runOf({ ...into, overwrite: true }, planned.planToken!));
    expect(done).toMatchObject({ state: 'done', result: { ok: true } });
    expect(fingerprintOf(await scanAll(pg, 'taken'))).toBe(fingerprintOf(records));
  });

  it('refuses a policy asset\'s live source index without "overwrite"', async () => {
    await expect(call({ asset: 'docs', target: { asset: 'pg-docs', index: 'pg_docs' }, dryRun: true })).rejects.toThrow(
      new PayloadError('target.index: "pg_docs" is the live source index of asset "pg-docs"; restoring into it needs "overwrite": true'),
    );
    // Another asset on the same engine and endpoint (drift: the same LanceDB directory) reaches the same live index.
    await expect(call({ asset: 'docs', target: { asset: 'drift', index: 'docs' }, dryRun: true })).rejects.toThrow(
      new PayloadError('target.index: "docs" is the live source index of asset "docs"; restoring into it needs "overwrite": true'),
    );
    expect(fingerprintOf(await scanAll(pg, 'pg_docs'))).toBe(fingerprintOf(existing));
  });

  it('fails a run whose target index appeared after the dry run, leaving that index alone', async () => {
    const into = { asset: 'docs', target: { asset: 'pg-docs', index: 'appeared' }, dryRun: true };
    const planned = await call(into);
    await pg.createIndex('appeared', { dimensions: 24, metric: 'cosine' });
    await pg.write('appeared', existing);

    const failed = await call(runOf(into, planned.planToken!));
    expect(failed).toMatchObject({
      state: 'failed',
      reason: 'pgvector index "appeared" was created after the dry run, whose plan does not overwrite it; run a new dry run',
    });
    expect(fingerprintOf(await scanAll(pg, 'appeared'))).toBe(fingerprintOf(existing));
    expect(await indexExists(pg, 'appeared')).toBe(true);
  });
});
