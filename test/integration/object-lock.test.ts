import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectLockConfigurationCommand,
  PutObjectRetentionCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchWriteCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localContext } from '../../scripts/local-aws/event-source-mapping.js';
import type { VectorAsset } from '../../functions/policy/schema.js';
import { dynamoDocumentClient } from '../../functions/shared/aws-clients.js';
import { lanceDbStore } from '../../functions/vectors/adapters/lancedb.js';
import { DynamoSnapshotCatalog } from '../../functions/vectors/dynamo-snapshot-catalog.js';
import { applyRetention } from '../../functions/vectors/retention.js';
import { S3SnapshotObjects } from '../../functions/vectors/snapshot-objects.js';
import { runScheduledSnapshot, type ScheduledRunDeps } from '../../functions/vectors/snapshot-run.js';
import { lockOf } from '../../functions/policy/object-lock.js';
import { sampleRecords } from '../contract/vector-store.contract.js';
import { loadEvent } from '../support/fixtures.js';
import { lockedTestPolicy, startStack, type StackUnderTest } from '../support/local-stack.js';

/**
 * Object Lock on the local AWS, with the policy's default retentions (the shipped defaults: the
 * test policy without its `objectLock: none` line, plus a LanceDB index snapshotted into the same
 * replica bucket). Every clock here is the machine's: the local AWS compares retention dates with
 * its own clock. What is proven: replica versions and snapshot files are written locked; nobody,
 * not even a principal allowed everything, can delete, shorten or unlock them; retention waits for
 * the locks, extends the kept snapshots' ones, and survives S3's refusals.
 */
let t: StackUnderTest;
let dir: string;
const DAY = 86_400_000;
const REPLICA = 'it-replica';
const dr = new S3Client({ region: 'us-west-2', forcePathStyle: true });

/** A LanceDB index snapshotted into the replica bucket, beside the object assets' replicas. */
const vectorAsset = (lanceDir: string) => `
  - name: kb
    kind: vector-index
    source: { engine: lancedb, index: kb, region: us-west-2, endpoint: ${lanceDir}, dimensions: 8, metric: cosine, embedding: { model: e5-small, version: v2 } }
    replica: { bucket: ${REPLICA}, region: us-west-2, prefix: vectors/kb/ }
    retention: { daily: 1, weekly: 0, monthly: 0 }
    rpoTargetSeconds: 14400
    rtoTargetSeconds: 14400
    tier: high
`;

const head = (Key: string, VersionId?: string) => dr.send(new HeadObjectCommand({ Bucket: REPLICA, Key, VersionId }));
const versionsOf = async (Prefix: string) => (await dr.send(new ListObjectVersionsCommand({ Bucket: REPLICA, Prefix }))).Versions ?? [];
const near = (date: Date | undefined, expected: number) => Math.abs((date?.getTime() ?? 0) - expected) < 120_000;

/** Runs `attempt` and tells whether S3 refused it (any S3 error), without throwing. */
async function refused(attempt: () => Promise<unknown>): Promise<string | false> {
  try {
    const result = (await attempt()) as { Errors?: { Code?: string }[] } | undefined;
    if (result?.Errors?.length) return result.Errors.map((e) => e.Code).join(',');
    return false;
  } catch (error) {
    return (error as Error).name;
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'object-lock-'));
  t = await startStack(lockedTestPolicy(dir, vectorAsset(join(dir, 'lance'))));
  const store = lanceDbStore({ uri: join(dir, 'lance') });
  await store.createIndex('kb', { dimensions: 8, metric: 'cosine' });
  await store.write('kb', sampleRecords(60, 8, 3));
  await store.close();
}, 120_000);

afterAll(async () => {
  await t?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('replica versions under Object Lock', () => {
  it('are written with their asset’s retention from the write: critical COMPLIANCE 90 days, high COMPLIANCE 30, whole and multipart', async () => {
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'evals/golden.jsonl', Body: '{"q":1}\n' }));
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'train/big.bin', Body: Buffer.alloc(12 * 1024 * 1024, 7) }));
    const before = Date.now();
    await t.drain();

    const evals = await head('evals/golden.jsonl');
    expect(evals.ObjectLockMode).toBe('COMPLIANCE');
    expect(near(evals.ObjectLockRetainUntilDate, before + 90 * DAY)).toBe(true);
    const big = await head('dr/train/big.bin');
    expect(big.ContentLength).toBe(12 * 1024 * 1024);
    expect(big.ObjectLockMode).toBe('COMPLIANCE');
    expect(near(big.ObjectLockRetainUntilDate, before + 30 * DAY)).toBe(true);
    expect((await t.ledger.entriesFor('training', 'train/big.bin')).map((e) => e.state)).toEqual(['replicated']);
  });

  it('cannot be destroyed, shortened or unlocked by a principal allowed everything: every attempt is refused, and the data is intact', async () => {
    const key = 'evals/golden.jsonl';
    const [version] = await versionsOf(key);
    const VersionId = version!.VersionId!;
    const soon = new Date(Date.now() + DAY);
    const attempts: Record<string, () => Promise<unknown>> = {
      'delete the version': () => dr.send(new DeleteObjectCommand({ Bucket: REPLICA, Key: key, VersionId })),
      'delete it with the governance bypass': () =>
        dr.send(new DeleteObjectCommand({ Bucket: REPLICA, Key: key, VersionId, BypassGovernanceRetention: true })),
      'delete it in a batch': () =>
        dr.send(new DeleteObjectsCommand({ Bucket: REPLICA, Delete: { Objects: [{ Key: key, VersionId }], Quiet: true } })),
      'shorten its retention': () =>
        dr.send(
          new PutObjectRetentionCommand({ Bucket: REPLICA, Key: key, VersionId, Retention: { Mode: 'COMPLIANCE', RetainUntilDate: soon } }),
        ),
      'turn it into GOVERNANCE': () =>
        dr.send(
          new PutObjectRetentionCommand({
            Bucket: REPLICA,
            Key: key,
            VersionId,
            Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date(Date.now() + 400 * DAY) },
            BypassGovernanceRetention: true,
          }),
        ),
      'suspend the bucket’s versioning': () =>
        dr.send(new PutBucketVersioningCommand({ Bucket: REPLICA, VersioningConfiguration: { Status: 'Suspended' } })),
    };
    const results = Object.fromEntries(await Promise.all(Object.entries(attempts).map(async ([what, run]) => [what, await refused(run)])));
    // Each refused for the lock, with S3's own answer (not any error: a malformed request would fail too).
    expect(results).toEqual({
      'delete the version': 'AccessDenied',
      'delete it with the governance bypass': 'AccessDenied',
      'delete it in a batch': 'AccessDenied',
      'shorten its retention': 'AccessDenied',
      'turn it into GOVERNANCE': 'AccessDenied',
      'suspend the bucket’s versioning': 'InvalidBucketState',
    });

    // Allowed, and harmless: an overwrite and a delete marker add versions on top, and removing the
    // bucket's default rule changes nothing already written.
    await dr.send(new PutObjectCommand({ Bucket: REPLICA, Key: key, Body: 'ransom note' }));
    await dr.send(new DeleteObjectCommand({ Bucket: REPLICA, Key: key }));
    await dr.send(new PutObjectLockConfigurationCommand({ Bucket: REPLICA, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' } }));
    expect(await refused(() => dr.send(new DeleteObjectCommand({ Bucket: REPLICA, Key: key, VersionId })))).toBe('AccessDenied');
    const original = await dr.send(new GetObjectCommand({ Bucket: REPLICA, Key: key, VersionId }));
    expect(await original.Body!.transformToString()).toBe('{"q":1}\n');
    expect(original.ObjectLockMode).toBe('COMPLIANCE');
  });
});

describe('vector snapshots under Object Lock', () => {
  let catalog: DynamoSnapshotCatalog;
  let objects: S3SnapshotObjects;
  const asset = () => t.policy.assets.find((a) => a.name === 'kb') as VectorAsset;
  const deps = (now: () => Date, log: ScheduledRunDeps['log'] = () => {}): ScheduledRunDeps => ({
    catalog,
    objects,
    openStore: async (a) => lanceDbStore({ uri: a.source.endpoint! }),
    continuation: { continueLater: async () => {} },
    now,
    remainingMs: () => 900_000,
    log,
    lock: lockOf(t.policy, asset()),
    chunkBytes: 2_000,
    pageSize: 10,
  });
  const entries = () => catalog.list('kb');

  beforeAll(() => {
    catalog = new DynamoSnapshotCatalog(dynamoDocumentClient(), t.stack.ledgerTable);
    objects = new S3SnapshotObjects(dr, REPLICA);
  });

  it('writes every file of a snapshot locked until the date its catalog entry records', async () => {
    const { run } = await runScheduledSnapshot(
      asset(),
      'assets[3]',
      deps(() => new Date()),
    );
    expect(run.outcome).toBe('verified');
    const [entry] = await entries();
    expect(entry!.lock).toEqual({ mode: 'COMPLIANCE', until: expect.any(String) });
    const files = await versionsOf(entry!.prefix);
    expect(files.length).toBeGreaterThan(2); // chunks and the manifest
    for (const file of files) {
      const h = await head(file.Key!, file.VersionId);
      expect([h.ObjectLockMode, h.ObjectLockRetainUntilDate?.toISOString()]).toEqual(['COMPLIANCE', entry!.lock!.until]);
    }
    expect(await refused(() => objects.destroyPrefix(entry!.prefix))).toBe('PrefixNotDestroyedError');
  });

  it('retention keeps a snapshot out of retention until its lock expires, and says until when', async () => {
    // A second snapshot a day later (the clock runs ahead of the local AWS's, never behind it).
    const tomorrow = () => new Date(Date.now() + DAY);
    const logs: [string, Record<string, unknown>][] = [];
    const { run, retention } = await runScheduledSnapshot(
      asset(),
      'assets[3]',
      deps(tomorrow, (m, f) => void logs.push([m, f])),
    );
    expect(run.outcome).toBe('verified');
    const [, older] = await entries();
    expect(retention!.remove).toEqual([]);
    expect(retention!.waiting).toEqual([
      { entry: expect.objectContaining({ snapshotId: older!.snapshotId }), reason: expect.any(String), until: older!.lock!.until },
    ]);
    expect(logs.map(([m]) => m)).toContain('snapshot out of retention kept until its lock expires');
    expect((await versionsOf(older!.prefix)).length).toBeGreaterThan(2);
  });

  it('a snapshot S3 still holds when the catalog says its lock expired stays, verified, and stops nothing', async () => {
    // The catalog's lock expired a month from now; S3's (the local AWS's clock) has not.
    const later = new Date(Date.now() + 31 * DAY);
    const plan = await applyRetention(
      'kb',
      asset().retention,
      deps(() => later),
    );
    const [newest, older] = await entries();
    expect(plan.remove).toEqual([]);
    expect(older).toMatchObject({ state: 'verified' });
    expect((await versionsOf(older!.prefix)).length).toBeGreaterThan(2);
    // The newest, kept, had less than half its lock left at that time: extended by a whole period, every file.
    expect(newest!.lock!.until).toBe(new Date(later.getTime() + 30 * DAY).toISOString());
    for (const file of await versionsOf(newest!.prefix)) {
      expect((await head(file.Key!, file.VersionId)).ObjectLockRetainUntilDate?.toISOString()).toBe(newest!.lock!.until);
    }
  });
});

describe('restores with the ledger table emptied', () => {
  const keys = ['evals/lost/a.jsonl', 'evals/lost/b.jsonl', 'evals/lost/c.jsonl'];
  const db = () => dynamoDocumentClient();

  /** Deletes every item of the ledger table, the snapshot catalog with it (what losing it leaves: an empty table of the same name). */
  async function emptyLedger(): Promise<number> {
    let removed = 0;
    for (;;) {
      const { Items = [] } = await db().send(new ScanCommand({ TableName: t.stack.ledgerTable, ProjectionExpression: 'pk, sk' }));
      if (Items.length === 0) return removed;
      for (let i = 0; i < Items.length; i += 25) {
        const batch = Items.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } }));
        await db().send(new BatchWriteCommand({ RequestItems: { [t.stack.ledgerTable]: batch } }));
        removed += batch.length;
      }
    }
  }

  it('plans and restores from the replica’s own metadata, as of a time, verified by the SHA-256 it records', async () => {
    for (const key of keys) await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: `first ${key}` }));
    await t.drain();
    const asOf = new Date().toISOString();
    for (const key of keys) await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: `damaged ${key}` }));
    await t.drain();
    await t.createVersionedBucket('it-restore');
    expect(await emptyLedger()).toBeGreaterThan(keys.length * 2);

    const { handler } = (await import('../../functions/restore-data.js')) as { handler: (e: unknown, c: unknown) => Promise<any> };
    const request = { asset: 'evals', prefix: 'evals/lost/', asOf, target: { bucket: 'it-restore', prefix: 'clean/' } };
    const plan = await handler({ ...request, dryRun: true }, localContext('restore-data'));
    expect(plan.plan).toMatchObject({ keysExamined: keys.length, restore: { objects: keys.length }, fromReplicaMetadata: keys.length });
    const run = await handler({ ...request, planToken: plan.planToken }, localContext('restore-data'));
    expect(run).toMatchObject({ state: 'done', result: { restored: { objects: keys.length }, failed: 0 } });
    for (const key of keys) {
      const restored = await t.s3.send(new GetObjectCommand({ Bucket: 'it-restore', Key: `clean/${key.slice('evals/'.length)}` }));
      expect(await restored.Body!.transformToString()).toBe(`first ${key}`);
    }
  });

  it('restores what came before the damage when the ledger was emptied before the damage replicated', async () => {
    const key = 'evals/wiped/model-card.json';
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: 'the real card' }));
    await t.drain();
    const asOf = new Date().toISOString();
    await emptyLedger();
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: 'ransom note' }));
    await t.drain(); // the replicator learns the damage, and adopts the earlier version it finds in the replica

    const { handler } = (await import('../../functions/restore-data.js')) as { handler: (e: unknown, c: unknown) => Promise<any> };
    const request = { asset: 'evals', prefix: 'evals/wiped/', asOf, target: { bucket: 'it-restore', prefix: 'wiped/' } };
    const plan = await handler({ ...request, dryRun: true }, localContext('restore-data'));
    expect(plan.plan).toMatchObject({ restore: { objects: 1 } });
    await handler({ ...request, planToken: plan.planToken }, localContext('restore-data'));
    const restored = await t.s3.send(new GetObjectCommand({ Bucket: 'it-restore', Key: 'wiped/wiped/model-card.json' }));
    expect(await restored.Body!.transformToString()).toBe('the real card');
  });

  it('vector snapshots: the catalog is rebuilt from the manifests in the replica, read back, with their locks, and restores from it', async () => {
    await emptyLedger();
    // A snapshot folder without its manifest (one that never finished) is not offered.
    await dr.send(
      new PutObjectCommand({ Bucket: REPLICA, Key: 'vectors/kb/snapshots/2026-11-01T00-00-00Z/chunks/000000.ndjson.zst', Body: 'x' }),
    );
    const { handler } = (await import('../../functions/snapshot-vectors.js')) as { handler: (e: unknown, c: unknown) => Promise<any> };
    const rebuild = { ...loadEvent('snapshot-vectors/valid/rebuild-catalog.json'), asset: 'kb' };
    const rebuilt = await handler(rebuild, localContext('snapshot-vectors'));
    expect(rebuilt).toMatchObject({ asset: 'kb', found: 3, known: 0, added: 2, verified: 2, incomplete: 1, corrupt: [], done: true });

    const catalog = new DynamoSnapshotCatalog(dynamoDocumentClient(), t.stack.ledgerTable);
    const entries = await catalog.list('kb');
    expect(entries.map((e) => e.state)).toEqual(['verified', 'verified']);
    for (const entry of entries) {
      const [file] = await versionsOf(`${entry.prefix}manifest.json`);
      const h = await head(file!.Key!, file!.VersionId);
      expect([entry.lock?.mode, entry.lock?.until]).toEqual([h.ObjectLockMode, h.ObjectLockRetainUntilDate?.toISOString()]);
      expect(entry.rebuiltAt).toEqual(expect.any(String));
    }
    // Again: nothing to do.
    expect(await handler(rebuild, localContext('snapshot-vectors'))).toMatchObject({ known: 2, added: 0 });

    const { handler: restore } = (await import('../../functions/restore-vectors.js')) as {
      handler: (e: unknown, c: unknown) => Promise<any>;
    };
    const request = { asset: 'kb', target: { asset: 'kb', index: 'kb_after_ledger_loss' } };
    const plan = await restore({ ...request, dryRun: true }, localContext('restore-vectors'));
    expect(plan.plan).toMatchObject({ snapshotId: entries[0]!.snapshotId });
    const run = await restore({ ...request, planToken: plan.planToken }, localContext('restore-vectors'));
    expect(run).toMatchObject({ state: 'done', result: { ok: true } });
  });
});
