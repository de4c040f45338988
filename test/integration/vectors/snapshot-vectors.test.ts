import { GetObjectCommand, ListObjectsV2Command, ListObjectVersionsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadPolicyFile } from '../../../functions/policy/load.js';
import type { Policy, VectorAsset } from '../../../functions/policy/schema.js';
import type { LedgerQueries } from '../../../functions/ledger/ledger.js';
import { measureAsset } from '../../../functions/rpo/measure.js';
import { recoveryPointsFrom } from '../../../functions/rpo/snapshot-catalog.js';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { dynamoDocumentClient } from '../../../functions/shared/aws-clients.js';
import { lanceDbStore } from '../../../functions/vectors/adapters/lancedb.js';
import { DynamoSnapshotCatalog } from '../../../functions/vectors/dynamo-snapshot-catalog.js';
import { readChunk, readManifest, SnapshotCorruptError } from '../../../functions/vectors/read-snapshot.js';
import { newestVerified, type SnapshotEntry } from '../../../functions/vectors/snapshot-catalog.js';
import { Fingerprint, manifestKey } from '../../../functions/vectors/snapshot-format.js';
import { rebuildCatalog } from '../../../functions/vectors/rebuild-catalog.js';
import { S3SnapshotObjects } from '../../../functions/vectors/snapshot-objects.js';
import { runScheduledSnapshot, type ScheduledRunDeps } from '../../../functions/vectors/snapshot-run.js';
import { EngineError, type VectorRecord, type VectorStore } from '../../../functions/vectors/vector-store.js';
import { type LocalAws, startLocalAws } from '../../../scripts/local-aws/server.js';
import { deployLocalStack } from '../../../scripts/local-aws/stack.js';
import { venvBin } from '../../../scripts/local-aws/venv.js';
import { sampleRecords } from '../../contract/vector-store.contract.js';
import { localContext } from '../../../scripts/local-aws/event-source-mapping.js';
import { loadEvent } from '../../support/fixtures.js';

/**
 * snapshot-vectors end to end on the local AWS (DR bucket on S3, catalog in DynamoDB) with a real
 * engine (LanceDB on local disk): snapshots, interruptions, corruption, engine faults, bad input.
 */
const REPLICA = 'vec-replica';
let aws: LocalAws;
let dir: string;
let policy: Policy;
let s3: S3Client;
let catalog: DynamoSnapshotCatalog;
let objects: S3SnapshotObjects;
let clock = new Date('2026-11-26T10:00:00Z');

function policyYaml(lanceDir: string) {
  const asset = (name: string, index: string, dimensions: number, metric = 'cosine', extra = '') => `
  - name: ${name}
    kind: vector-index
    source: { engine: lancedb, index: ${index}, region: us-west-2, endpoint: ${lanceDir}, dimensions: ${dimensions}, metric: ${metric}, embedding: { model: e5-small, version: v2 } }
    replica: { bucket: ${REPLICA}, region: us-west-2, prefix: vectors/${name}/ }
    retention: { daily: 3, weekly: 2, monthly: 1 }
    rpoTargetSeconds: 14400
    rtoTargetSeconds: 14400
    tier: high${extra}`;
  // No Object Lock: this file's clock is not the local AWS's, and its retention removes snapshots
  // (snapshots under Object Lock: test/integration/object-lock.test.ts).
  return `version: 1
deployment: { region: us-west-2 }
objectLock: { critical: none, high: none, standard: none }
assets:${asset('docs', 'docs', 24)}${asset('wrong-dims', 'docs', 32)}${asset('wrong-metric', 'docs', 24, 'euclidean')}${asset('gone', 'no_such_table', 24)}${asset('docs-parts', 'docs', 24, 'cosine', '\n    snapshotPartitions: 4')}
`;
}

/** A vector asset's RPO never reads the replication ledger. */
const unusedLedger = new Proxy({}, { get: () => () => Promise.reject(new Error('the ledger was read')) }) as LedgerQueries;

const assetNamed = (name: string) => policy.assets.find((a) => a.name === name) as VectorAsset;

/** A run's deps; `budget` is how many remainingMs() calls have time before the invocation "ends". */
function depsWith(overrides: Partial<ScheduledRunDeps> & { budget?: number } = {}) {
  let calls = 0;
  const continued: string[] = [];
  const deps: ScheduledRunDeps = {
    catalog,
    objects,
    openStore: async (asset) => lanceDbStore({ uri: asset.source.endpoint! }),
    continuation: { continueLater: async (payload) => void continued.push(payload.asset as string) },
    now: () => clock,
    remainingMs: () => (++calls <= (overrides.budget ?? Infinity) ? 900_000 : 1_000),
    log: () => {},
    chunkBytes: 20_000,
    pageSize: 40,
    ...overrides,
  };
  return { deps, continued };
}

/**
 * An openStore of the asset's LanceDB whose scans first call `before` with their number (from 1, per
 * opened store): to fail a scan, or to act between two of them.
 */
function lanceScanning(before: (scan: number) => void | Promise<void>): ScheduledRunDeps['openStore'] {
  return async (asset) => {
    const store = lanceDbStore({ uri: asset.source.endpoint! });
    let scans = 0;
    return Object.assign(Object.create(store) as VectorStore, {
      scan: async (...args: Parameters<VectorStore['scan']>) => {
        await before(++scans);
        return store.scan(...args);
      },
    });
  };
}

async function keysUnder(prefix: string): Promise<string[]> {
  const { Contents = [] } = await s3.send(new ListObjectsV2Command({ Bucket: REPLICA, Prefix: prefix }));
  return Contents.map((c) => c.Key!);
}

function fingerprintOf(records: VectorRecord[]): string {
  const fingerprint = new Fingerprint();
  records.forEach((r) => fingerprint.add(r));
  return fingerprint.hex;
}

const records = sampleRecords(523, 24, 5).map((r, i) => ({
  ...r,
  metadata: { ...r.metadata, tags: ['a', `t${i % 3}`], nested: { source: 'crawl', page: i } },
}));

beforeAll(async () => {
  aws = await startLocalAws();
  Object.assign(process.env, aws.env, { AWS_REGION: 'us-west-2' });
  dir = mkdtempSync(join(tmpdir(), 'snapshot-vectors-'));
  const policyFile = join(dir, 'policy.yml');
  writeFileSync(policyFile, policyYaml(join(dir, 'lance')));
  policy = loadPolicyFile(policyFile);
  const stack = await deployLocalStack(policy);
  Object.assign(process.env, { LEDGER_TABLE: stack.ledgerTable, DR_POLICY_FILE: policyFile });
  s3 = new S3Client({ region: 'us-west-2', forcePathStyle: true });
  catalog = new DynamoSnapshotCatalog(dynamoDocumentClient(), stack.ledgerTable);
  objects = new S3SnapshotObjects(s3, REPLICA);

  const store = lanceDbStore({ uri: join(dir, 'lance') });
  await store.createIndex('docs', { dimensions: 24, metric: 'cosine' });
  await store.write('docs', records);
  await store.close();
});

afterEach(() => {
  vi.useRealTimers();
});

afterAll(async () => {
  await aws?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('snapshot-vectors', () => {
  it('snapshots an index into checksummed chunks and a manifest written last, and verifies it', async () => {
    const { run } = await runScheduledSnapshot(assetNamed('docs'), 'assets[0]', depsWith().deps);

    expect(run).toMatchObject({ outcome: 'verified', count: records.length });
    const entry = await newestVerified(catalog, 'docs');
    const manifest = (await readManifest(objects, entry!.prefix))!;
    expect(entry!.prefix).toBe(`vectors/docs/snapshots/${entry!.snapshotId}/`);
    expect(manifest).toMatchObject({
      engine: 'lancedb',
      index: 'docs',
      dimensions: 24,
      metric: 'cosine',
      count: records.length,
      embedding: { model: 'e5-small', version: 'v2' },
      consistency: 'point-in-time',
      formatVersion: 3,
      compression: 'zstd',
    });
    expect(manifest.chunks.every((chunk) => /^chunks\/\d{6}\.ndjson\.zst$/.test(chunk.key))).toBe(true);
    // Another zstd reader than Node's (Python's zstandard, streaming: the frames name no content size) reads a chunk to the same lines.
    const stored = await s3.send(new GetObjectCommand({ Bucket: REPLICA, Key: `${entry!.prefix}${manifest.chunks[0]!.key}` }));
    const compressed = Buffer.from(await stored.Body!.transformToByteArray());
    const python = spawnSync(
      venvBin('python'),
      ['-c', 'import sys, zstandard; sys.stdout.buffer.write(zstandard.ZstdDecompressor().stream_reader(sys.stdin.buffer).read())'],
      { input: compressed, maxBuffer: 64 * 1024 ** 2 },
    );
    expect(python.status, python.stderr?.toString()).toBe(0);
    expect(python.stdout.equals(zstdDecompressSync(compressed))).toBe(true);
    expect(python.stdout.toString('utf8').trimEnd().split('\n')).toHaveLength(manifest.chunks[0]!.records);
    // The fingerprint is the content's, whatever order the engine scanned in.
    expect(manifest.fingerprint.value).toBe(fingerprintOf(records));
    expect(manifest.chunks.length).toBeGreaterThan(3);
    const read: VectorRecord[] = [];
    for (const chunk of manifest.chunks) read.push(...(await readChunk(objects, entry!.prefix, manifest, chunk)));
    expect(new Map(read.map((r) => [r.id, r]))).toEqual(new Map(records.map((r) => [r.id, r])));
    // The live RPO of the asset reads this snapshot's start as its recovery point.
    const now = new Date(new Date(entry!.startedAt).getTime() + 5 * 3600_000);
    const measured = await measureAsset(
      { ledger: unusedLedger, snapshots: recoveryPointsFrom(catalog), at: now, windowSeconds: 3600 },
      assetNamed('docs'),
    );
    expect(measured).toMatchObject({
      rpoSeconds: 5 * 3600,
      newestSnapshotAt: entry!.startedAt,
      status: 'missed',
      reason: 'rpo-over-target',
    });
  });

  it('resumes a snapshot interrupted halfway, in a new invocation, to the same content', async () => {
    clock = new Date('2026-11-26T11:00:00Z');
    const first = depsWith({ budget: 4 });
    const { run: interrupted } = await runScheduledSnapshot(assetNamed('docs'), 'assets[0]', first.deps);
    expect(interrupted.outcome).toBe('in-progress');
    expect(first.continued).toEqual(['docs']);
    const entry = (await catalog.list('docs'))[0]!;
    expect(entry.state).toBe('in-progress');
    // Incomplete: chunks but no manifest, and never the newest verified snapshot.
    expect((await keysUnder(entry.prefix)).some((k) => k.endsWith('manifest.json'))).toBe(false);
    expect((await newestVerified(catalog, 'docs'))!.snapshotId).not.toBe(entry.snapshotId);

    clock = new Date('2026-11-26T11:05:00Z');
    const { run } = await runScheduledSnapshot(assetNamed('docs'), 'assets[0]', depsWith().deps);
    expect(run).toMatchObject({ outcome: 'verified', snapshotId: entry.snapshotId, count: records.length });
    expect((await readManifest(objects, entry.prefix))!.fingerprint.value).toBe(fingerprintOf(records));
  });

  it('finishes a snapshot begun before zstd (its entry names no compression) in gzip, as format version 1, and reads it back', async () => {
    clock = new Date('2026-11-26T11:30:00Z');
    const snapshotId = '2026-11-26T11-30-00Z';
    const prefix = `vectors/docs/snapshots/${snapshotId}/`;
    // The entry as the version before zstd began it (no compression field), its scan not yet started.
    const begun: SnapshotEntry = {
      asset: 'docs',
      snapshotId,
      state: 'in-progress',
      engine: 'lancedb',
      index: 'docs',
      dimensions: 24,
      metric: 'cosine',
      prefix,
      startedAt: clock.toISOString(),
      count: 0,
      bytes: 0,
      chunks: 0,
      progress: { scanDone: false, nextChunk: 0, count: 0, bytes: 0, fingerprint: new Fingerprint().hex },
    };
    expect(await catalog.begin(begun)).toBe(true);

    const { run } = await runScheduledSnapshot(assetNamed('docs'), 'assets[0]', depsWith().deps);
    expect(run).toMatchObject({ outcome: 'verified', snapshotId, count: records.length });
    const manifest = (await readManifest(objects, prefix))!;
    expect(manifest).toMatchObject({ formatVersion: 1, compression: 'gzip', fingerprint: { value: fingerprintOf(records) } });
    expect(manifest.chunks.length).toBeGreaterThan(3);
    expect(manifest.chunks.every((chunk) => /^chunks\/\d{6}\.ndjson\.gz$/.test(chunk.key))).toBe(true);
    // Plain gzip, as any gzip reader reads it; and the snapshot's readers read it by its manifest.
    const first = await s3.send(new GetObjectCommand({ Bucket: REPLICA, Key: `${prefix}${manifest.chunks[0]!.key}` }));
    const lines = gunzipSync(await first.Body!.transformToByteArray())
      .toString('utf8')
      .trimEnd()
      .split('\n');
    expect(lines).toHaveLength(manifest.chunks[0]!.records);
    const read: VectorRecord[] = [];
    for (const chunk of manifest.chunks) read.push(...(await readChunk(objects, prefix, manifest, chunk)));
    expect(new Map(read.map((r) => [r.id, r]))).toEqual(new Map(records.map((r) => [r.id, r])));
  });

  it('rewrites a chunk whose checkpoint was lost in a crash, and counts no record twice', async () => {
    clock = new Date('2026-11-26T12:00:00Z');
    let saves = 0;
    const crashing = {
      list: catalog.list.bind(catalog),
      begin: catalog.begin.bind(catalog),
      update: catalog.update.bind(catalog),
      get: catalog.get.bind(catalog),
      lease: catalog.lease.bind(catalog),
      release: catalog.release.bind(catalog),
      saveProgress: async (...args: Parameters<DynamoSnapshotCatalog['saveProgress']>) => {
        if (++saves === 3) throw new Error('Lambda timed out');
        return catalog.saveProgress(...args);
      },
    } as unknown as DynamoSnapshotCatalog;
    await expect(runScheduledSnapshot(assetNamed('docs'), 'assets[0]', depsWith({ catalog: crashing }).deps)).rejects.toThrow('timed out');

    const { run } = await runScheduledSnapshot(assetNamed('docs'), 'assets[0]', depsWith().deps);
    expect(run).toMatchObject({ outcome: 'verified', count: records.length });
    const entry = await newestVerified(catalog, 'docs');
    expect((await readManifest(objects, entry!.prefix))!.fingerprint.value).toBe(fingerprintOf(records));
  });

  /**
   * The DR bucket's objects, with chunk 0's upload held until chunk 1's has begun (or 5 s): uploads
   * and checkpoints are recorded in `events` in the order they happen.
   */
  function heldFirstUpload(events: string[]): S3SnapshotObjects {
    let secondBegun!: () => void;
    const begun = new Promise<void>((resolve) => (secondBegun = resolve));
    return Object.assign(Object.create(objects) as S3SnapshotObjects, {
      put: async (key: string, body: Buffer, options: Parameters<S3SnapshotObjects['put']>[2]) => {
        const chunk = /chunks\/(\d{6})/.exec(key)?.[1];
        if (chunk === undefined) return objects.put(key, body, options);
        events.push(`upload ${Number(chunk)}`);
        if (chunk === '000001') secondBegun();
        if (chunk === '000000') await Promise.race([begun, new Promise((resolve) => setTimeout(resolve, 5000))]);
        await objects.put(key, body, options);
        events.push(`uploaded ${Number(chunk)}`);
      },
    });
  }

  /** The catalog, with each checkpoint recorded in `events` (or refused, where `refuse` says so). */
  function recordingCheckpoints(events: string[], refuse: (nextChunk: number) => boolean = () => false): DynamoSnapshotCatalog {
    return Object.assign(Object.create(catalog) as DynamoSnapshotCatalog, {
      saveProgress: async (...args: Parameters<DynamoSnapshotCatalog['saveProgress']>) => {
        events.push(`checkpoint ${args[2].nextChunk}`);
        return refuse(args[2].nextChunk) ? false : catalog.saveProgress(...args);
      },
    });
  }

  it('uploads a chunk while the one before it is still uploading, and checkpoints the chunks in order', async () => {
    clock = new Date('2026-11-26T12:10:00Z');
    const events: string[] = [];
    const { deps } = depsWith({ objects: heldFirstUpload(events), catalog: recordingCheckpoints(events) });
    const { run } = await runScheduledSnapshot(assetNamed('docs'), 'assets[0]', deps);

    expect(run).toMatchObject({ outcome: 'verified', count: records.length });
    expect(events.indexOf('upload 1')).toBeLessThan(events.indexOf('uploaded 0'));
    const checkpoints = events.filter((e) => e.startsWith('checkpoint')).map((e) => Number(e.split(' ')[1]));
    expect(checkpoints).toEqual(Array.from({ length: checkpoints.length }, (_, i) => i + 1));
    // Each chunk uploaded once, and checkpointed only after it and every chunk before it were stored.
    expect(events.filter((e) => e.startsWith('upload '))).toHaveLength(checkpoints.length);
    for (const n of checkpoints) expect(events.indexOf(`uploaded ${n - 1}`)).toBeLessThan(events.indexOf(`checkpoint ${n}`));
    const entry = await newestVerified(catalog, 'docs');
    expect((await readManifest(objects, entry!.prefix))!.fingerprint.value).toBe(fingerprintOf(records));
  });

  it('leaves a chunk uploaded past a refused checkpoint to the next run, which writes it again and counts no record twice', async () => {
    clock = new Date('2026-11-26T12:20:00Z');
    const events: string[] = [];
    const refused = depsWith({ objects: heldFirstUpload(events), catalog: recordingCheckpoints(events, (next) => next === 1) });
    const first = await runScheduledSnapshot(assetNamed('docs'), 'assets[0]', refused.deps);
    expect(first.run.outcome).toBe('busy');
    // Chunk 1 went up beside chunk 0; no checkpoint was written after the refused one.
    expect(events.filter((e) => !e.startsWith('uploaded'))).toEqual(['upload 0', 'upload 1', 'checkpoint 1']);

    const { run } = await runScheduledSnapshot(assetNamed('docs'), 'assets[0]', depsWith().deps);
    expect(run).toMatchObject({ outcome: 'verified', snapshotId: first.run.snapshotId, count: records.length });
    const entry = await newestVerified(catalog, 'docs');
    expect(entry!.snapshotId).toBe(first.run.snapshotId);
    expect((await readManifest(objects, entry!.prefix))!.fingerprint.value).toBe(fingerprintOf(records));
    const { Versions = [] } = await s3.send(new ListObjectVersionsCommand({ Bucket: REPLICA, Prefix: `${entry!.prefix}chunks/000001` }));
    expect(Versions).toHaveLength(2);
  });

  it('lets one invocation at a time work on a snapshot: a second one (a schedule tick during a continuation) is busy', async () => {
    clock = new Date('2026-11-26T12:30:00Z');
    const first = await runScheduledSnapshot(assetNamed('docs'), 'assets[0]', depsWith({ budget: 2 }).deps);
    expect(first.run.outcome).toBe('in-progress');
    const entry = (await catalog.list('docs'))[0]!;
    // Another invocation holds the snapshot (as a continuation would while it runs).
    expect(await catalog.lease('docs', entry.snapshotId, 'other-invocation', new Date(clock.getTime() + 600_000), clock)).toBe(true);
    const chunksBefore = await keysUnder(entry.prefix);
    const second = await runScheduledSnapshot(assetNamed('docs'), 'assets[0]', depsWith().deps);
    expect(second.run).toEqual({ outcome: 'busy', snapshotId: entry.snapshotId });
    expect(await keysUnder(entry.prefix)).toEqual(chunksBefore);
    // Once it is released (or expired), the next invocation resumes and finishes.
    await catalog.release('docs', entry.snapshotId, 'other-invocation');
    expect((await runScheduledSnapshot(assetNamed('docs'), 'assets[0]', depsWith().deps)).run).toMatchObject({
      outcome: 'verified',
      snapshotId: entry.snapshotId,
    });
  });

  it('marks a snapshot with a corrupted chunk corrupt, never verified; readers detect it by checksum', async () => {
    clock = new Date('2026-11-26T13:00:00Z');
    const before = await newestVerified(catalog, 'docs');
    // Interrupt after the manifest (budget runs out before verification), then corrupt a chunk.
    const budgeted = depsWith({ budget: 1_000 });
    let corruptNow = false;
    const tampering = {
      ...budgeted.deps,
      objects: {
        put: objects.put.bind(objects),
        head: objects.head.bind(objects),
        destroyPrefix: objects.destroyPrefix.bind(objects),
        lockEnabled: objects.lockEnabled.bind(objects),
        extendLock: objects.extendLock.bind(objects),
        listSnapshots: objects.listSnapshots.bind(objects),
        get: async (key: string) => {
          if (!corruptNow && key.endsWith('manifest.json')) {
            corruptNow = true;
            const chunk = key.replace('manifest.json', 'chunks/000002.ndjson.zst');
            await s3.send(new PutObjectCommand({ Bucket: REPLICA, Key: chunk, Body: 'not the chunk' }));
          }
          return objects.get(key);
        },
      },
    };
    const { run } = await runScheduledSnapshot(assetNamed('docs'), 'assets[0]', tampering);

    expect(run.outcome).toBe('corrupt');
    expect(run).toMatchObject({
      reason: expect.stringMatching(/chunks\/000002\.ndjson\.zst: SHA-256 [0-9a-f]{64} does not match the manifest's/),
    });
    expect((await newestVerified(catalog, 'docs'))!.snapshotId).toBe(before!.snapshotId);
    const corrupt = (await catalog.list('docs'))[0]!;
    const manifest = (await readManifest(objects, corrupt.prefix))!;
    await expect(readChunk(objects, corrupt.prefix, manifest, manifest.chunks[2]!)).rejects.toBeInstanceOf(SnapshotCorruptError);
  });

  it('detects a missing chunk', async () => {
    const entry = (await newestVerified(catalog, 'docs'))!;
    const manifest = (await readManifest(objects, entry.prefix))!;
    const missing = { ...manifest.chunks[0]!, key: 'chunks/999999.ndjson.zst' };
    await expect(readChunk(objects, entry.prefix, manifest, missing)).rejects.toThrow(/999999\.ndjson\.zst: chunk is missing/);
  });

  it('refuses an index whose dimensions or metric disagree with the policy, writing nothing', async () => {
    clock = new Date('2026-11-26T14:00:00Z');
    const dims = await runScheduledSnapshot(assetNamed('wrong-dims'), 'assets[1]', depsWith().deps);
    expect(dims.run).toMatchObject({
      outcome: 'failed',
      reason: 'IndexMismatchError: lancedb index "docs" has 24 dimensions; the policy says 32 (assets[1].source.dimensions)',
    });
    const metric = await runScheduledSnapshot(assetNamed('wrong-metric'), 'assets[2]', depsWith().deps);
    expect(metric.run).toMatchObject({
      outcome: 'failed',
      reason: expect.stringContaining('uses the cosine metric; the policy says euclidean (assets[2].source.metric)'),
    });
    expect(await keysUnder('vectors/wrong-dims/')).toEqual([]);
    expect(await keysUnder('vectors/wrong-metric/')).toEqual([]);
    expect((await catalog.list('wrong-dims'))[0]).toMatchObject({ state: 'failed' });
  });

  it('records a failed run with the reason when the index is missing or the engine fails mid-scan', async () => {
    const gone = await runScheduledSnapshot(assetNamed('gone'), 'assets[3]', depsWith().deps);
    expect(gone.run).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('index "no_such_table" does not exist') });

    clock = new Date('2026-11-26T15:00:00Z');
    const failing = depsWith({
      openStore: lanceScanning((scan) => {
        if (scan > 3) throw new Error('IO error: connection reset by peer');
      }),
    });
    const { run } = await runScheduledSnapshot(assetNamed('docs'), 'assets[0]', failing.deps);
    expect(run).toMatchObject({ outcome: 'failed', reason: 'Error: IO error: connection reset by peer' });
    expect((await catalog.list('docs'))[0]).toMatchObject({ state: 'failed', reason: 'Error: IO error: connection reset by peer' });

    // The next scheduled run starts a new snapshot.
    clock = new Date('2026-11-26T15:30:00Z');
    expect((await runScheduledSnapshot(assetNamed('docs'), 'assets[0]', depsWith().deps)).run.outcome).toBe('verified');
  });

  it('runs through the handler for a scheduled event', async () => {
    // The handler reads the system clock (its composition root's default); it runs later on the same
    // day as the runs above, whatever day the suite runs, so retention has one day to choose from.
    clock = new Date('2026-11-26T16:00:00Z');
    vi.useFakeTimers({ toFake: ['Date'], now: clock, shouldAdvanceTime: true });
    const { handler } = await import('../../../functions/snapshot-vectors.js');
    const forDocs = (path: string) => ({ ...loadEvent(path), asset: 'docs' });
    const result = await handler(forDocs('snapshot-vectors/valid/scheduled.json'), localContext('snapshot-vectors'));
    expect(result).toMatchObject({ asset: 'docs', outcome: 'verified', count: records.length });
    const before = await catalog.list('docs');
    await expect(handler(loadEvent('snapshot-vectors/invalid/not-a-vector-asset.json'), localContext('snapshot-vectors'))).rejects.toThrow(
      'asset: "training-data" is not a vector-index asset of the policy',
    );
    await expect(handler(forDocs('snapshot-vectors/invalid/unknown-field.json'), localContext('snapshot-vectors'))).rejects.toThrow(
      'payload: unknown field "force"; expected {"asset": "<vector-index asset>", "rebuildCatalog"?: true, "continuation"?: true, "snapshotId"?: "<id>", "part"?: "<NNNN>"}',
    );
    expect(await catalog.list('docs')).toEqual(before);
  });

  it('applied retention after each verified snapshot: older ones of the same day are gone, files and all', async () => {
    const entries = await catalog.list('docs');
    const verified = entries.filter((e) => e.state === 'verified');
    const deleted = entries.filter((e) => e.state === 'deleted');
    // One per day is kept (daily: 3), and every snapshot here was taken on the same day.
    expect(verified).toHaveLength(1);
    expect(verified[0]!.snapshotId).toBe(entries[0]!.snapshotId); // the newest snapshot of all is the one kept
    expect(deleted.map((e) => e.reason)).toEqual(
      expect.arrayContaining([
        'outside the daily, weekly and monthly retention',
        'corrupt, and a newer snapshot is verified',
        'failed, and a newer snapshot is verified',
      ]),
    );
    for (const entry of deleted) {
      expect(entry.deletedAt).toBeDefined();
      const { Versions = [], DeleteMarkers = [] } = await s3.send(new ListObjectVersionsCommand({ Bucket: REPLICA, Prefix: entry.prefix }));
      expect([...Versions, ...DeleteMarkers]).toEqual([]);
    }
    expect(await keysUnder(verified[0]!.prefix)).toContain(manifestKey(verified[0]!.prefix));
  });

  it('a catalog lost with the ledger is rebuilt from the manifests, each snapshot read back across invocations; altered files make it corrupt', async () => {
    // A snapshot of several chunks, the next day (retention keeps one a day).
    clock = new Date('2026-11-27T10:00:00Z');
    const { run } = await runScheduledSnapshot(assetNamed('docs'), 'assets[0]', depsWith().deps);
    expect(run.outcome).toBe('verified');
    const verified = (await catalog.list('docs')).filter((e) => e.state === 'verified');
    expect(verified.length).toBe(2);
    const kept = verified[0]!;
    expect(kept.chunks).toBeGreaterThan(2);
    const forget = async () => {
      for (const e of await catalog.list('docs')) {
        await dynamoDocumentClient().send(
          new DeleteCommand({ TableName: process.env.LEDGER_TABLE!, Key: { pk: `SNAPSHOT#docs`, sk: e.snapshotId } }),
        );
      }
    };
    const rebuildAll = async () => {
      const runs = [];
      for (let i = 0; i < 50; i++) {
        const result = await rebuildCatalog(assetNamed('docs'), depsWith({ budget: 4 }).deps);
        runs.push(result);
        if (result.done) return runs;
      }
      throw new Error('the rebuild never finished');
    };
    await forget();
    const runs = await rebuildAll();
    // Four remainingMs() calls per invocation: a chunk or two read back each time, continued from the checkpoint.
    expect(runs.length).toBeGreaterThan(2);
    expect(runs.reduce((n, r) => n + r.added, 0)).toBe(2);
    expect(runs.reduce((n, r) => n + r.verified, 0)).toBe(2);
    expect(runs.at(-1)).toMatchObject({ found: 2, corrupt: [], done: true });
    for (const before of verified) {
      expect(await catalog.get('docs', before.snapshotId)).toMatchObject({
        state: 'verified',
        count: before.count,
        fingerprint: before.fingerprint,
        prefix: before.prefix,
        chunks: before.chunks,
        rebuiltAt: expect.any(String),
      });
    }
    expect(await newestVerified(catalog, 'docs')).toMatchObject({ snapshotId: kept.snapshotId });

    // Files altered since: the rebuilt entry is corrupt, never offered for restore.
    await forget();
    await s3.send(new PutObjectCommand({ Bucket: REPLICA, Key: `${kept.prefix}chunks/000001.ndjson.zst`, Body: 'altered' }));
    const [altered] = await rebuildAll().then((r) => r.flatMap((x) => x.corrupt));
    expect(altered).toMatchObject({
      snapshotId: kept.snapshotId,
      reason: expect.stringMatching(/000001\.ndjson\.zst: SHA-256 .* does not match/),
    });
    expect(await catalog.get('docs', kept.snapshotId)).toMatchObject({ state: 'corrupt' });
    // The older one, intact, is what a restore gets now.
    expect(await newestVerified(catalog, 'docs')).toMatchObject({ snapshotId: verified[1]!.snapshotId });
  });
});

describe('snapshot-vectors, partitioned (snapshotPartitions: 4)', () => {
  const parts = ['0000', '0001', '0002', '0003'];
  /** Deps whose continuations (each a payload) are recorded: the parts a run dispatches. */
  function partDeps(overrides: Partial<ScheduledRunDeps> & { budget?: number } = {}) {
    const dispatched: Record<string, unknown>[] = [];
    const { deps } = depsWith({ continuation: { continueLater: async (payload) => void dispatched.push(payload) }, ...overrides });
    return { deps, dispatched };
  }
  const runPart = (snapshotId: string, part: string, deps = partDeps().deps) =>
    runScheduledSnapshot(assetNamed('docs-parts'), 'assets[4]', deps, { snapshotId, part });

  it('fans the scan out in four parts run at once; the last one writes the manifest: the fingerprint a single scan gives', async () => {
    clock = new Date('2026-11-27T10:00:00Z');
    const tick = partDeps();
    const { run } = await runScheduledSnapshot(assetNamed('docs-parts'), 'assets[4]', tick.deps);
    expect(run).toMatchObject({ outcome: 'dispatched', parts });
    const snapshotId = (run as { snapshotId: string }).snapshotId;
    expect(tick.dispatched).toEqual(parts.map((part) => ({ asset: 'docs-parts', continuation: true, snapshotId, part })));

    // The four invocations, at once (their catalog writes race on one item).
    const runs = await Promise.all(parts.map((part) => runPart(snapshotId, part)));
    const outcomes = runs.map((r) => r.run.outcome);
    expect(outcomes.every((o) => o === 'part-verified' || o === 'verified' || o === 'busy')).toBe(true);
    expect(outcomes).toContain('verified');

    const entry = (await newestVerified(catalog, 'docs-parts'))!;
    expect(entry).toMatchObject({ snapshotId, count: records.length, fingerprint: fingerprintOf(records) });
    // A single scan of the same index gives the same fingerprint.
    expect(entry.fingerprint).toBe((await newestVerified(catalog, 'docs'))!.fingerprint);
    const manifest = (await readManifest(objects, entry.prefix))!;
    expect(manifest).toMatchObject({ partitions: 4, count: records.length, consistency: 'point-in-time' });
    expect(new Set(manifest.chunks.map((c) => c.key.slice(0, 'chunks/p0000'.length)))).toEqual(new Set(parts.map((p) => `chunks/p${p}`)));
    const read: VectorRecord[] = [];
    for (const chunk of manifest.chunks) read.push(...(await readChunk(objects, entry.prefix, manifest, chunk)));
    expect(read).toHaveLength(records.length);
    expect(new Map(read.map((r) => [r.id, r]))).toEqual(new Map(records.map((r) => [r.id, r])));
    // A part's invocation that comes late (an async retry) finds nothing to do.
    expect((await runPart(snapshotId, '0002')).run).toEqual({ outcome: 'part-skipped', snapshotId, part: '0002', state: 'verified' });

    // The whole is checked against what its parts read back: a manifest that differs is found.
    await catalog.update('docs-parts', snapshotId, { state: 'complete' });
    const altered = { ...manifest, fingerprint: { ...manifest.fingerprint, value: '0'.repeat(64) } };
    await s3.send(new PutObjectCommand({ Bucket: REPLICA, Key: manifestKey(entry.prefix), Body: JSON.stringify(altered) }));
    expect((await runScheduledSnapshot(assetNamed('docs-parts'), 'assets[4]', partDeps().deps)).run).toMatchObject({
      outcome: 'corrupt',
      reason: expect.stringContaining(`has fingerprint ${'0'.repeat(64)}, the parts read back ${fingerprintOf(records)}`),
    });
  });

  it('continues a part that ran out of time in an invocation of its own; a tick starts again a part whose invocation died', async () => {
    clock = new Date('2026-11-27T11:00:00Z');
    const { run } = await runScheduledSnapshot(assetNamed('docs-parts'), 'assets[4]', partDeps().deps);
    const snapshotId = (run as { snapshotId: string }).snapshotId;

    // Part 0000 runs out of time after one chunk: it asks for its own continuation.
    const short = partDeps({ budget: 2 });
    expect((await runPart(snapshotId, '0000', short.deps)).run).toMatchObject({ outcome: 'in-progress', part: '0000' });
    expect(short.dispatched).toEqual([{ asset: 'docs-parts', continuation: true, snapshotId, part: '0000' }]);
    // Part 0001's invocation dies holding its lease (a crash mid-chunk).
    const leaseUntil = new Date(clock.getTime() + 600_000);
    expect(await catalog.lease('docs-parts', snapshotId, 'dead-invocation', leaseUntil, clock, '0001')).toBe(true);
    // Part 0002 through the handler, with the payload snapshot-vectors sends itself (events/).
    vi.useFakeTimers({ toFake: ['Date'], now: clock, shouldAdvanceTime: true });
    const { handler } = await import('../../../functions/snapshot-vectors.js');
    const partEvent = { ...loadEvent<Record<string, unknown>>('snapshot-vectors/valid/part.json'), asset: 'docs-parts', snapshotId };
    expect(await handler({ ...partEvent, part: '0002' }, localContext('snapshot-vectors'))).toMatchObject({
      asset: 'docs-parts',
      outcome: 'part-verified',
      part: '0002',
    });
    const before = await catalog.get('docs-parts', snapshotId);
    await expect(
      handler(
        { ...loadEvent<Record<string, unknown>>('snapshot-vectors/invalid/part-without-snapshot.json'), asset: 'docs-parts' },
        localContext('snapshot-vectors'),
      ),
    ).rejects.toThrow('part: "snapshotId" and "part" come together (one part of a partitioned snapshot)');
    expect(await catalog.get('docs-parts', snapshotId)).toEqual(before);
    vi.useRealTimers();
    await runPart(snapshotId, '0003');

    // A tick while the dead lease holds starts only the parts nobody holds.
    const tick = partDeps();
    expect((await runScheduledSnapshot(assetNamed('docs-parts'), 'assets[4]', tick.deps)).run).toEqual({
      outcome: 'dispatched',
      snapshotId,
      parts: ['0000'],
    });
    expect((await runPart(snapshotId, '0001')).run).toEqual({ outcome: 'busy', snapshotId });
    await runPart(snapshotId, '0000');
    expect((await catalog.get('docs-parts', snapshotId))!.state).toBe('in-progress');

    // Once its lease has expired, the next tick starts part 0001 again, which finishes the snapshot.
    clock = new Date(leaseUntil.getTime() + 1000);
    const later = partDeps();
    expect((await runScheduledSnapshot(assetNamed('docs-parts'), 'assets[4]', later.deps)).run).toEqual({
      outcome: 'dispatched',
      snapshotId,
      parts: ['0001'],
    });
    expect((await runPart(snapshotId, '0001')).run).toMatchObject({
      outcome: 'verified',
      snapshotId,
      count: records.length,
      fingerprint: fingerprintOf(records),
    });
  });

  it('stops a part at its next checkpoint once another part failed the snapshot; the last part leaves the manifest to a fresh invocation when its time is short', async () => {
    clock = new Date('2026-11-27T11:30:00Z');
    const { run } = await runScheduledSnapshot(assetNamed('docs-parts'), 'assets[4]', partDeps().deps);
    const snapshotId = (run as { snapshotId: string }).snapshotId;
    // Part 0000 reads a page, then another part fails the whole snapshot (an engine error there).
    let scans = 0;
    const failing = partDeps({
      openStore: lanceScanning(async (scan) => {
        scans = scan;
        if (scan === 2) await catalog.update('docs-parts', snapshotId, { state: 'failed', reason: 'EngineError: part 0003 failed' });
      }),
      pageSize: 10,
      chunkBytes: 2_000,
    });
    expect((await runPart(snapshotId, '0000', failing.deps)).run).toEqual({ outcome: 'busy', snapshotId });
    // It stopped at the checkpoint after the failure: a chunk or two of pages, not its whole range (14 pages).
    expect(scans).toBeLessThan(6);

    // Another snapshot: every part but the last runs; the last one has little time left once verified.
    clock = new Date('2026-11-27T11:40:00Z');
    const second = await runScheduledSnapshot(assetNamed('docs-parts'), 'assets[4]', partDeps().deps);
    const id = (second.run as { snapshotId: string }).snapshotId;
    for (const part of parts.slice(0, 3)) await runPart(id, part);
    let readBack = false;
    const watched = Object.assign(Object.create(objects) as S3SnapshotObjects, {
      head: (key: string) => ((readBack = true), objects.head(key)),
    });
    const short = partDeps({ objects: watched, remainingMs: () => (readBack ? 100_000 : 900_000) });
    expect((await runPart(id, '0003', short.deps)).run).toEqual({
      outcome: 'in-progress',
      snapshotId: id,
      count: expect.any(Number),
      chunks: 0,
    });
    expect(short.dispatched).toEqual([{ asset: 'docs-parts', continuation: true }]);
    expect((await catalog.get('docs-parts', id))!.state).toBe('in-progress');
    // The continuation (no part) finishes it.
    expect((await runScheduledSnapshot(assetNamed('docs-parts'), 'assets[4]', partDeps().deps)).run).toMatchObject({
      outcome: 'verified',
      snapshotId: id,
      count: records.length,
      fingerprint: fingerprintOf(records),
    });
  });

  it('retries a part that meets an engine error from its checkpoint, and fails the snapshot at its third error', async () => {
    clock = new Date('2026-11-27T11:50:00Z');
    const { run } = await runScheduledSnapshot(assetNamed('docs-parts'), 'assets[4]', partDeps().deps);
    const snapshotId = (run as { snapshotId: string }).snapshotId;
    /** Deps whose engine refuses the scan after `pages` pages (a connection reset). */
    const resetAfter = (pages: number) =>
      partDeps({
        openStore: lanceScanning((scan) => {
          if (scan > pages) throw new EngineError('lancedb', 'connection reset by peer');
        }),
      });
    // Part 0000: an error after a page, then one at once, then it goes through: the same records.
    const first = resetAfter(1);
    expect((await runPart(snapshotId, '0000', first.deps)).run).toMatchObject({ outcome: 'in-progress', part: '0000' });
    expect(first.dispatched).toEqual([{ asset: 'docs-parts', continuation: true, snapshotId, part: '0000' }]);
    expect((await runPart(snapshotId, '0000', resetAfter(0).deps)).run).toMatchObject({ outcome: 'in-progress', part: '0000' });
    expect((await catalog.get('docs-parts', snapshotId))!.partitions!['0000']).toMatchObject({
      attempts: 2,
      lastError: 'EngineError: lancedb: connection reset by peer',
    });
    expect((await runPart(snapshotId, '0000')).run).toMatchObject({ outcome: 'part-verified', part: '0000' });
    // Part 0001 meets three: the snapshot fails, naming the part and the attempt.
    for (const attempt of [1, 2])
      expect((await runPart(snapshotId, '0001', resetAfter(0).deps)).run.outcome, `attempt ${attempt}`).toBe('in-progress');
    expect((await runPart(snapshotId, '0001', resetAfter(0).deps)).run).toEqual({
      outcome: 'failed',
      snapshotId,
      reason: 'EngineError: lancedb: connection reset by peer (part 0001, attempt 3 of 3)',
    });
    expect((await catalog.get('docs-parts', snapshotId))!.state).toBe('failed');
  });

  it('marks the snapshot corrupt when a part reads back a chunk that differs from what it wrote; no part is verified after', async () => {
    clock = new Date('2026-11-27T12:00:00Z');
    const { run } = await runScheduledSnapshot(assetNamed('docs-parts'), 'assets[4]', partDeps().deps);
    const snapshotId = (run as { snapshotId: string }).snapshotId;
    // Part 0001 writes its chunks but its invocation ends before the read-back.
    // (Time runs out once the part's chunks are looked up for the read-back.)
    let readingBack = false;
    const watched = Object.assign(Object.create(objects) as S3SnapshotObjects, {
      head: (key: string) => ((readingBack = true), objects.head(key)),
    });
    const beforeReadBack = partDeps({ objects: watched, remainingMs: () => (readingBack ? 1_000 : 900_000) });
    const first = await runPart(snapshotId, '0001', beforeReadBack.deps);
    expect(first.run).toMatchObject({ outcome: 'in-progress', part: '0001' });
    const entry = (await catalog.get('docs-parts', snapshotId))!;
    expect(entry.partitions!['0001']!.progress.scanDone).toBe(true);
    // Its first chunk is replaced (same key, other bytes) before it is read back.
    const key = `${entry.prefix}chunks/p0001-000000.ndjson.zst`;
    await s3.send(
      new PutObjectCommand({ Bucket: REPLICA, Key: key, Body: 'not the chunk', Metadata: { sha256: '0'.repeat(64), records: '1' } }),
    );
    const second = await runPart(snapshotId, '0001');
    expect(second.run).toMatchObject({ outcome: 'corrupt', snapshotId, reason: expect.stringContaining('part 0001') });
    expect((await catalog.get('docs-parts', snapshotId))!.state).toBe('corrupt');
    expect((await runPart(snapshotId, '0002')).run).toMatchObject({ outcome: 'part-skipped', state: 'corrupt' });
  });
});

describe('snapshot-vectors, verified from what S3 stores', () => {
  /** Every chunk under `prefix`, with its body and user metadata. */
  async function chunksUnder(prefix: string) {
    const keys = (await keysUnder(`${prefix}chunks/`)).sort();
    return Promise.all(
      keys.map(async (Key) => {
        const object = await s3.send(new GetObjectCommand({ Bucket: REPLICA, Key }));
        return { key: Key, body: Buffer.from(await object.Body!.transformToByteArray()), metadata: object.Metadata ?? {} };
      }),
    );
  }
  const putChunk = (Key: string, body: Buffer, metadata: Record<string, string>) =>
    s3.send(
      new PutObjectCommand({
        Bucket: REPLICA,
        Key,
        Body: body,
        Metadata: metadata,
        ChecksumAlgorithm: 'SHA256',
        ChecksumSHA256: createHash('sha256').update(body).digest('base64'),
      }),
    );

  it('checks every chunk by S3’s own SHA-256 and its stored count and fingerprint, and reads back one chunk, not all', async () => {
    clock = new Date('2026-11-28T10:00:00Z');
    await aws.resetRequests();
    const { run } = await runScheduledSnapshot(assetNamed('docs'), 'assets[0]', depsWith().deps);

    expect(run).toMatchObject({ outcome: 'verified', count: records.length });
    const chunks = (run as { chunks: number }).chunks;
    expect(chunks).toBeGreaterThan(3);
    const served = await aws.requests();
    // Chunks and manifest written; each chunk's head read for the manifest and again to verify;
    // the manifest and one chunk read back.
    expect(served['s3 PutObject']).toBe(chunks + 1);
    expect(served['s3 HeadObject']).toBe(2 * chunks);
    expect(served['s3 GetObject']).toBe(2);
    // What was stored with each chunk adds up to the manifest.
    const entry = (await catalog.list('docs'))[0]!;
    const stored = await chunksUnder(entry.prefix);
    const sum = new Fingerprint();
    stored.forEach((chunk) => sum.merge(chunk.metadata.fingerprint!));
    expect(sum.hex).toBe(fingerprintOf(records));
  });

  it('marks a snapshot corrupt when a chunk was replaced by other bytes after the manifest, whatever metadata they carry', async () => {
    clock = new Date('2026-11-28T11:00:00Z');
    let replaced = false;
    const budgeted = depsWith({ budget: 1_000 });
    const tampering = Object.assign(Object.create(objects) as S3SnapshotObjects, {
      get: async (key: string) => {
        if (!replaced && key.endsWith('manifest.json')) {
          replaced = true;
          // Chunk 1's bytes, checksum and metadata under chunk 2's key: S3 stores them, with their own SHA-256.
          const [, one] = await chunksUnder(key.replace('manifest.json', ''));
          await putChunk(key.replace('manifest.json', 'chunks/000002.ndjson.zst'), one!.body, one!.metadata);
        }
        return objects.get(key);
      },
    });
    const { run } = await runScheduledSnapshot(assetNamed('docs'), 'assets[0]', { ...budgeted.deps, objects: tampering });

    expect(run).toMatchObject({
      outcome: 'corrupt',
      reason: expect.stringMatching(
        /chunks\/000002\.ndjson\.zst: S3's SHA-256 of the stored chunk [0-9a-f]{64} does not match the manifest's [0-9a-f]{64}/,
      ),
    });
  });

  it('marks a snapshot corrupt when the records a chunk decodes to are not the ones fingerprinted (a fault of the encoder)', async () => {
    clock = new Date('2026-11-28T12:00:00Z');
    let altered: Promise<void> | undefined;
    // Before the manifest is made (its first HEAD): every chunk rewritten with one record's metadata
    // changed, under a SHA-256 of its new bytes, with the count and fingerprint of what was scanned.
    const alter = async (prefix: string) => {
      for (const chunk of await chunksUnder(prefix)) {
        const body = zstdCompressSync(zstdDecompressSync(chunk.body).toString('utf8').replace('"page":', '"pagf":'));
        await putChunk(chunk.key, body, { ...chunk.metadata, sha256: createHash('sha256').update(body).digest('hex') });
      }
    };
    const tampering = Object.assign(Object.create(objects) as S3SnapshotObjects, {
      head: async (key: string) => {
        await (altered ??= alter(key.slice(0, key.indexOf('chunks/'))));
        return objects.head(key);
      },
    });
    const { run } = await runScheduledSnapshot(assetNamed('docs'), 'assets[0]', { ...depsWith().deps, objects: tampering });

    expect(altered).toBeDefined();
    expect(run).toMatchObject({
      outcome: 'corrupt',
      reason: expect.stringMatching(/: its records' fingerprint [0-9a-f]{64} does not match the one stored with it, [0-9a-f]{64}$/),
    });
  });
});
