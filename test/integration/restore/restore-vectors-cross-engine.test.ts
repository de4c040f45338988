import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../../functions/vectors/read-snapshot.js';
import type { SnapshotEntry } from '../../../functions/vectors/snapshot-catalog.js';
import { localContext } from '../../../scripts/local-aws/event-source-mapping.js';
import { loadEvent } from '../../support/fixtures.js';
import {
  docs,
  fingerprintOf,
  REPLICA,
  restoredName,
  scanAll,
  startRestoreHarness,
  type RestoreHarness,
} from './restore-vectors-harness.js';

/**
 * restore-vectors through its handler: a LanceDB snapshot restored into pgvector (PGlite), checked
 * by the restore itself and independently here (content fingerprint of a scan of the target, and
 * the same top-10 neighbours as the source for sampled queries); the same snapshot into a real
 * Weaviate (fingerprint); then LanceDB's native restore in place over a damaged live index.
 */
let h: RestoreHarness;
let handler: (event: unknown, context: ReturnType<typeof localContext>) => Promise<any>;
let snapshot: SnapshotEntry;
const records = docs(523, 5);
const invoke = (payload: unknown) => handler(payload, localContext('restore-vectors'));

beforeAll(async () => {
  h = await startRestoreHarness({ weaviate: true });
  await h.seed('docs', records);
  snapshot = await h.snapshot('docs', new Date('2026-11-26T10:00:00Z'));
  ({ handler } = (await import('../../../functions/restore-vectors.js')) as any);
}, 180_000);

afterAll(async () => {
  await h?.stop();
});

describe('restore-vectors across engines', () => {
  it('restores a LanceDB snapshot into pgvector: plan, run with the token, verified by count and fingerprint', async () => {
    const request: Record<string, unknown> = {
      ...loadEvent<Record<string, unknown>>('restore-vectors/valid/dry-run.json'),
      asset: 'docs',
      target: { asset: 'pg-docs' },
    };
    const index = restoredName('docs', snapshot.snapshotId);

    const planned = await invoke(request);
    expect(planned).toMatchObject({
      state: 'planned',
      planToken: expect.stringMatching(/^[0-9a-f]{32}$/),
      plan: {
        snapshotId: snapshot.snapshotId,
        source: { asset: 'docs', engine: 'lancedb', index: 'docs' },
        target: { asset: 'pg-docs', engine: 'pgvector', index },
        vectors: records.length,
        bytes: snapshot.bytes,
        chunks: snapshot.chunks,
        dimensions: 24,
        metric: 'cosine',
        targetExists: false,
        wouldOverwrite: false,
        targetIsLiveSource: false,
        method: 'chunks',
        fingerprintCheck: 'exact',
        estimateBasis: expect.stringMatching(/^assumed: /),
      },
    });
    expect(planned.plan.estimatedSeconds).toBeGreaterThan(0);

    const { dryRun: _dryRun, ...run } = request;
    const done = await invoke({ ...run, planToken: planned.planToken });
    expect(done).toMatchObject({
      restoreId: planned.planToken,
      state: 'done',
      result: {
        ok: true,
        method: 'chunks',
        written: records.length,
        count: { expected: records.length, actual: records.length },
        fingerprint: { expected: fingerprintOf(records), actual: fingerprintOf(records) },
      },
    });
    expect(done.planToken).toBeUndefined();

    // Independently of the restore's own check: the target holds exactly the records.
    const pg = await h.open('pg-docs');
    const lance = await h.open('docs');
    try {
      const restored = await scanAll(pg, index);
      expect(fingerprintOf(restored)).toBe(fingerprintOf(records));
      expect(await pg.describe(index)).toMatchObject({ dimensions: 24, metric: 'cosine', count: records.length });
      // Both engines search exactly: the same top-10 for sampled records.
      for (const probe of [records[0]!, records[200]!, records[522]!]) {
        const [source, target] = [await lance.query('docs', probe.vector, 10), await pg.query(index, probe.vector, 10)];
        expect(target.map((n) => n.id)).toEqual(source.map((n) => n.id));
      }
    } finally {
      await pg.close();
      await lance.close();
    }

    // The status, without continuing anything.
    const status = await invoke({
      ...loadEvent<Record<string, unknown>>('restore-vectors/valid/status.json'),
      restoreId: planned.planToken,
    });
    expect(status).toMatchObject({ state: 'done', result: done.result, progress: { phase: 'verify', write: { written: records.length } } });
  });

  it('restores a LanceDB snapshot into a real Weaviate (1.35.2): verified by count and exact fingerprint, metadata and all', async () => {
    const request: Record<string, unknown> = {
      ...loadEvent<Record<string, unknown>>('restore-vectors/valid/dry-run.json'),
      asset: 'docs',
      target: { asset: 'wv-docs' },
    };
    const planned = await invoke(request);
    expect(planned.plan).toMatchObject({
      target: { asset: 'wv-docs', engine: 'weaviate' },
      method: 'chunks',
      fingerprintCheck: 'exact',
    });
    const { dryRun: _dryRun, ...run } = request;
    const done = await invoke({ ...run, planToken: planned.planToken });
    expect(done).toMatchObject({
      state: 'done',
      result: {
        ok: true,
        written: records.length,
        count: { expected: records.length, actual: records.length },
        fingerprint: { expected: fingerprintOf(records), actual: fingerprintOf(records) },
      },
    });
    const wv = await h.open('wv-docs');
    try {
      // Independently of the restore's own check: a scan of the class holds exactly the records.
      expect(fingerprintOf(await scanAll(wv, planned.plan.target.index))).toBe(fingerprintOf(records));
    } finally {
      await wv.close();
    }
  });

  it('snapshots a real Weaviate class (chunks and a backup-s3 backup), restores it into pgvector from the chunks and in place natively', async () => {
    const wvRecords = docs(311, 8);
    await h.seed('wv-docs', wvRecords);
    const wvSnapshot = await h.snapshot('wv-docs', new Date('2026-11-26T11:00:00Z'));
    expect(wvSnapshot).toMatchObject({
      state: 'verified',
      engine: 'weaviate',
      count: wvRecords.length,
      fingerprint: fingerprintOf(wvRecords),
    });
    const manifest = (await readManifest(h.objects, wvSnapshot.prefix))!;
    expect(manifest.native).toMatchObject({ format: 'weaviate-backup', details: { backend: 's3', class: expect.any(String) } });
    // Weaviate wrote its backup into the local AWS's S3 (backup-s3), under the harness's path.
    const listed = await h.s3.send(new ListObjectsV2Command({ Bucket: REPLICA, Prefix: `weaviate-backups/${manifest.native!.id}/` }));
    expect(listed.KeyCount).toBeGreaterThan(0);

    // From the chunks into pgvector: exact fingerprint, checked by the restore and by a scan here.
    const toPg: Record<string, unknown> = {
      ...loadEvent<Record<string, unknown>>('restore-vectors/valid/dry-run.json'),
      asset: 'wv-docs',
      target: { asset: 'pg-docs' },
    };
    const plannedPg = await invoke(toPg);
    expect(plannedPg.plan).toMatchObject({ source: { engine: 'weaviate' }, target: { engine: 'pgvector' }, method: 'chunks' });
    const { dryRun: _a, ...runPg } = toPg;
    const intoPg = await invoke({ ...runPg, planToken: plannedPg.planToken });
    expect(intoPg).toMatchObject({ state: 'done', result: { ok: true, fingerprint: { actual: fingerprintOf(wvRecords) } } });
    const pg = await h.open('pg-docs');
    try {
      expect(fingerprintOf(await scanAll(pg, plannedPg.plan.target.index))).toBe(fingerprintOf(wvRecords));
    } finally {
      await pg.close();
    }

    // In place over the damaged live class, natively: Weaviate's restore creates the class, so the
    // restore drops the damaged one first (the plan overwrites it) instead of falling back to chunks.
    const live = await h.open('wv-docs');
    try {
      await live.write('wv-docs', docs(20, 77));
      const inPlace: Record<string, unknown> = {
        ...loadEvent<Record<string, unknown>>('restore-vectors/valid/dry-run-in-place-native.json'),
        asset: 'wv-docs',
        target: { index: 'wv-docs' },
      };
      const planned = await invoke(inPlace);
      expect(planned.plan).toMatchObject({ target: { engine: 'weaviate', index: 'wv-docs' }, wouldOverwrite: true, method: 'native' });
      const { dryRun: _b, ...run } = inPlace;
      const done = await invoke({ ...run, planToken: planned.planToken });
      expect(done).toMatchObject({
        state: 'done',
        result: { ok: true, method: 'native', nativeFailed: null, written: 0, fingerprint: { actual: fingerprintOf(wvRecords) } },
      });
      expect(fingerprintOf(await scanAll(live, 'wv-docs'))).toBe(fingerprintOf(wvRecords));
    } finally {
      await live.close();
    }
  });

  it('restores in place over a damaged live index with LanceDB native restore, verified by fingerprint', async () => {
    const live = await h.open('docs');
    try {
      await live.write('docs', docs(40, 99)); // damage: 40 records that were not in the snapshot
      expect((await live.describe('docs')).count).toBe(records.length + 40);
    } finally {
      await live.close();
    }
    const request: Record<string, unknown> = {
      ...loadEvent<Record<string, unknown>>('restore-vectors/valid/dry-run-in-place-native.json'),
      asset: 'docs',
      target: { index: 'docs' },
    };

    const planned = await invoke(request);
    expect(planned.plan).toMatchObject({
      target: { engine: 'lancedb', index: 'docs' },
      targetExists: true,
      wouldOverwrite: true,
      targetIsLiveSource: true,
      method: 'native',
    });
    const { dryRun: _dryRun, ...run } = request;
    const done = await invoke({ ...run, planToken: planned.planToken });

    expect(done).toMatchObject({
      state: 'done',
      result: { ok: true, method: 'native', nativeFailed: null, written: 0, fingerprint: { actual: fingerprintOf(records) } },
    });
    const restored = await h.open('docs');
    try {
      expect(fingerprintOf(await scanAll(restored, 'docs'))).toBe(fingerprintOf(records));
    } finally {
      await restored.close();
    }
  });
});
