import { ListObjectVersionsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoLedger } from '../../../functions/ledger/dynamo-ledger.js';
import { DynamoScrubStore } from '../../../functions/restore/dynamo-scrub-store.js';
import { rtoCheck } from '../../../functions/restore/restore-test.js';
import { SCRATCH_PREFIX, verifyDataRestore, type VerifyDataDeps } from '../../../functions/restore/verify-data.js';
import { dynamoDocumentClient } from '../../../functions/shared/aws-clients.js';
import { destroyAllVersions } from '../../../functions/storage/destroy-prefix.js';
import { createStores } from '../../../functions/storage/stores.js';
import type { VersionedStore } from '../../../functions/storage/versioned-store.js';
import { startStack, type StackUnderTest } from '../../support/local-stack.js';
import { onCallPages } from '../../support/on-call.js';
import { localContext } from '../../../scripts/local-aws/event-source-mapping.js';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';

/**
 * The data half of verify-restore on the local AWS, after real replication: a sample restored to the
 * stack's scratch bucket and re-hashed against the ledger (and removed), a rolling scrub that covers the
 * replica over its cycle, and failures that say what was wrong.
 */
let t: StackUnderTest;
const MiB = 1024 * 1024;
let clock = new Date('2026-11-26T00:00:00Z');
const day = 86_400_000;

function deps(overrides: Partial<VerifyDataDeps> = {}): VerifyDataDeps {
  const stores = createStores(true);
  const s3 = new S3Client({ region: 'us-west-2', forcePathStyle: true });
  return {
    ledger: new DynamoLedger(dynamoDocumentClient(), t.stack.ledgerTable),
    replica: stores.replicaOf(t.asset('training')),
    scratchBucket: t.stack.scratchBucket,
    scrub: new DynamoScrubStore(dynamoDocumentClient(), t.stack.ledgerTable),
    destroy: async (bucket, prefix) => {
      const removed = await destroyAllVersions(s3, bucket, prefix);
      destroyed.push({ bucket, prefix, removed });
      return removed;
    },
    now: () => clock,
    remainingMs: () => 900_000,
    multipart: { thresholdBytes: 6 * MiB, partSizeBytes: 5 * MiB, partConcurrency: 2 },
    ...overrides,
  };
}

/**
 * Rewinds the scrub to the start of a cycle that began 31 days ago (counted larger than the replica
 * is, so objects added since are included): the next run reads everything.
 */
async function rewindCycle(now = clock) {
  const scrub = new DynamoScrubStore(dynamoDocumentClient(), t.stack.ledgerTable);
  const state = (await scrub.get('training'))!;
  await scrub.save({
    ...state,
    cycleStartedAt: new Date(now.getTime() - 31 * day).toISOString(),
    totalVersions: 100,
    afterKey: undefined,
    versionsRead: 0,
    mismatches: 0,
    problems: [],
    lastCycle: undefined,
  });
}

/** What each run's cleanup removed, where. */
const destroyed: { bucket: string; prefix: string; removed: number }[] = [];

/** Scratch copies left anywhere: in the scratch bucket, or (never written there) under the prefix in the replica bucket. */
const scratchVersions = async () => {
  const left = [];
  for (const bucket of [t.stack.scratchBucket, 'it-replica']) {
    const page = await t.s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: SCRATCH_PREFIX }));
    left.push(...(page.Versions ?? []), ...(page.DeleteMarkers ?? []));
  }
  return left;
};

beforeAll(async () => {
  t = await startStack();
  const objects: [string, Buffer][] = [
    ['train/big.bin', Buffer.alloc(7 * MiB + 3, 'b')],
    ...Array.from({ length: 5 }, (_, i): [string, Buffer] => [`train/shard-${i}.jsonl`, Buffer.from(`{"row":${i}}\n`.repeat(100 + i))]),
  ];
  for (const [key, body] of objects) await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: body }));
  await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'train/shard-0.jsonl', Body: 'second version' }));
  await t.drain();
}, 180_000);

afterAll(async () => {
  await t?.stop();
});

describe('verify-restore of an object asset', () => {
  it('restores a sample to scratch, verifies it against the ledger, removes it, and measures the RTO', async () => {
    const asset = t.asset('training');
    const result = await verifyDataRestore(deps(), asset);

    expect(result).toMatchObject({ asset: 'training', kind: 'data', ok: true, checks: { sample: { verified: expect.any(Number) } } });
    const sample = result.checks.sample as { objects: number; bytes: number; verified: number };
    expect(sample.objects).toBeGreaterThan(0);
    expect(sample.verified).toBe(sample.objects);
    expect(result.restored).toBe(sample.bytes);
    // The asset's current size (the multipart object and five shards, shard-0 at its second version).
    expect(result.assetTotal).toBe(
      7 * MiB + 3 + 'second version'.length + [1, 2, 3, 4].reduce((n, i) => n + `{"row":${i}}\n`.length * (100 + i), 0),
    );
    expect(result.rtoSeconds).toBeCloseTo(((result.restoreMs / 1000) * result.assetTotal) / result.restored, 6);
    // The copies went into the scratch bucket (not the replica's, whose Object Lock would keep them), and were removed.
    expect(destroyed.at(-1)).toEqual({
      bucket: t.stack.scratchBucket,
      prefix: expect.stringMatching(/^_dr-restore-tests\/training\/\d+\/$/),
      removed: sample.objects,
    });
    expect(await scratchVersions()).toEqual([]);
    expect(rtoCheck(asset, result)).toMatchObject({ target: 'rto', status: 'ok', targetSeconds: 86400 });
  });

  it('scrubs its share each run and the whole replica (every version) within the cycle', async () => {
    const asset = t.asset('training');
    const first = (await new DynamoScrubStore(dynamoDocumentClient(), t.stack.ledgerTable).get('training'))!;
    expect(first.totalVersions).toBe(7); // six keys, one with two versions
    expect(first.versionsRead).toBeGreaterThan(0);
    expect(first.versionsRead).toBeLessThan(7); // one day of a 30-day cycle

    clock = new Date(clock.getTime() + 30 * day); // the cycle is due: the rest is read now
    const result = await verifyDataRestore(deps(), asset);
    expect(result.checks.scrub).toMatchObject({
      coverage: 1,
      versionsRead: 7,
      totalVersions: 7,
      lastCompletedCycle: { cycle: 1, versionsRead: 7, totalVersions: 7, mismatches: 0 },
    });

    clock = new Date(clock.getTime() + day); // the next run starts cycle 2
    const next = await verifyDataRestore(deps(), asset);
    expect(next.checks.scrub).toMatchObject({ cycle: 2, lastCompletedCycle: { cycle: 1 } });
  });

  it('fails with the key and the problem when a replica version does not hash to the ledger', async () => {
    const asset = t.asset('training');
    clock = new Date(clock.getTime() + 40 * day);
    const store = deps().replica;
    // Bit rot the local AWS cannot produce: the replica's bytes of one version hash differently.
    const rotten: VersionedStore = Object.assign(Object.create(store), {
      sha256: async (ref: { key: string }) => (ref.key.endsWith('shard-3.jsonl') ? 'f'.repeat(64) : store.sha256(ref as never)),
    });
    await rewindCycle();
    const result = await verifyDataRestore(deps({ replica: rotten }), asset);
    expect(result.ok).toBe(false);
    expect(result.reason).toMatch(
      /^scrub found 1 bad replica versions in cycle \d+; first dr\/train\/shard-3\.jsonl \(.+\): SHA-256 f{64}, the ledger says [0-9a-f]{64}$/,
    );
    expect(rtoCheck(asset, result)).toMatchObject({ status: 'missed', reason: 'restore-test-failed', description: result.reason });
  });

  it('keeps failing after a bad version until a whole cycle reads the replica clean (one incident)', async () => {
    const asset = t.asset('training');
    const store = deps().replica;
    const rotten: VersionedStore = Object.assign(Object.create(store), {
      sha256: async (ref: { key: string }) => (ref.key.endsWith('shard-1.jsonl') ? 'e'.repeat(64) : store.sha256(ref as never)),
    });
    await rewindCycle();
    expect((await verifyDataRestore(deps({ replica: rotten }), asset)).ok).toBe(false);
    clock = new Date(clock.getTime() + day);
    const next = await verifyDataRestore(deps(), asset); // the next cycle has not read it again yet
    expect(next.ok).toBe(false);
    expect(next.reason).toMatch(/shard-1\.jsonl/);
    clock = new Date(clock.getTime() + 31 * day); // a whole clean cycle: recovered
    expect((await verifyDataRestore(deps(), asset)).ok).toBe(true);
  });

  it('reports a sample restore that does not verify, and still removes the scratch copies', async () => {
    const asset = t.asset('training');
    const store = deps().replica;
    // The copy S3 reports (whole objects and parts alike) does not match what was copied.
    const corrupting: VersionedStore = Object.assign(Object.create(store), {
      copy: async (request: Parameters<VersionedStore['copy']>[0]) => ({ ...(await store.copy(request)), sha256: '0'.repeat(64) }),
      copyPart: async (...args: Parameters<VersionedStore['copyPart']>) => ({ ...(await store.copyPart(...args)), sha256: '0'.repeat(64) }),
    });
    clock = new Date(clock.getTime() + day);
    const result = await verifyDataRestore(deps({ replica: corrupting }), asset);
    expect(result.ok).toBe(false);
    expect(result.reason).toMatch(/^sample restore failed: train\/.+: ChecksumMismatchError: sha256 mismatch/);
    expect(rtoCheck(asset, result)).toMatchObject({ status: 'missed', reason: 'restore-test-failed' });
    expect(await scratchVersions()).toEqual([]);
  });

  it('flags a replica version the ledger knows nothing about', async () => {
    const asset = t.asset('training');
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-replica', Key: 'dr/train/stray.bin', Body: 'not replicated by us' }));
    await rewindCycle();
    const result = await verifyDataRestore(deps(), asset);
    expect(result.reason).toMatch(/dr\/train\/stray\.bin .*no ledger entry for this replica version/);
  });

  it('runs through the handler: records the result, and pages on-call once for a failed test, once when it passes again', async () => {
    const { handler } = await import('../../../functions/verify-restore.js'); // on the real clock
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-replica', Key: 'dr/train/stray.bin', Body: 'not replicated by us' }));
    await rewindCycle(new Date()); // the stray replica version is read in this run
    const failed = (await handler({ asset: 'training' }, localContext('verify-restore'))) as { ok: boolean; events: string[] };
    expect(failed).toMatchObject({ ok: false, events: ['DR Target Missed'] });
    const [page, ...more] = await onCallPages(t);
    expect(more).toEqual([]);
    expect(page).toMatchObject({
      'detail-type': 'DR Target Missed',
      detail: { asset: 'training', target: 'rto', reason: 'restore-test-failed', description: expect.stringContaining('stray.bin') },
    });

    // Again failing: no second page for the same incident.
    await rewindCycle(new Date());
    expect(await handler({ asset: 'training' }, localContext('verify-restore'))).toMatchObject({ ok: false, events: [] });

    // The stray version is gone (an operator removed it): the next full read passes and recovers.
    await destroyAllVersions(new S3Client({ region: 'us-west-2', forcePathStyle: true }), 'it-replica', 'dr/train/stray.bin');
    await rewindCycle(new Date());
    expect(await handler({ asset: 'training' }, localContext('verify-restore'))).toMatchObject({
      ok: true,
      events: ['DR Target Recovered'],
    });
    expect((await onCallPages(t)).map((p) => p['detail-type'])).toEqual(['DR Target Recovered']);

    const { Items = [] } = await dynamoDocumentClient().send(
      new QueryCommand({
        TableName: t.stack.ledgerTable,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': 'RESTORETEST#training' },
      }),
    );
    expect(Items.length).toBe(3);
    await expect(handler({ asset: 'nope' }, localContext('verify-restore'))).rejects.toThrow(
      'asset: "nope" is not an asset this release tests',
    );
  });
});
