import { createHash } from 'node:crypto';
import { GetObjectCommand, ListMultipartUploadsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { replicaKeyFor } from '../../functions/policy/assets.js';
import { ChecksumMismatchError, CopyContinuesError } from '../../functions/replication/errors.js';
import { compositeSha256, planParts } from '../../functions/replication/multipart-copy.js';
import { replicateKey, type ReplicationDeps } from '../../functions/replication/replicate-key.js';
import { S3VersionedStore } from '../../functions/storage/s3-versioned-store.js';
import type { CopiedPart, CopyRequest, PartRange, VersionedStore } from '../../functions/storage/versioned-store.js';
import { localContext, pollOnce } from '../../scripts/local-aws/event-source-mapping.js';
import { type StackUnderTest, startStack } from '../support/local-stack.js';

/**
 * Verification of a multipart copy continues across invocations: every source part digest and
 * every verified replica part is saved in the ledger's upload record as it is known, so an
 * invocation that runs out of time part-way through verifying continues in the next one without
 * copying, hashing or reading back a finished part again; a part that differs is caught wherever
 * the verification stopped and started, and the version is never recorded as replicated.
 */
let t: StackUnderTest;
beforeAll(async () => {
  t = await startStack();
});
afterAll(async () => t?.stop());
afterEach(() => vi.restoreAllMocks());

const MIB = 1024 ** 2;
const PART = 5 * MIB;
/** Distinct bytes per position, so a part copied from the wrong range cannot go unnoticed. */
const body = (size: number, seed: number) => Buffer.from(Array.from({ length: size }, (_, i) => (i * 37 + seed) % 241));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const partDigests = (b: Buffer) => planParts(b.length, PART).map((p) => sha(b.subarray(p.start, p.end + 1)));
const partOf = (start: number) => Math.floor(start / PART) + 1;

/** A store whose calls are recorded by method; `overrides` replace some of its methods. */
function watched(store: VersionedStore, overrides: Partial<VersionedStore> = {}) {
  const calls = new Map<string, unknown[][]>();
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value = (overrides[property as keyof VersionedStore] ?? Reflect.get(target, property, receiver)) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.set(String(property), [...(calls.get(String(property)) ?? []), args]);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  const count = (method: keyof VersionedStore) => calls.get(method)?.length ?? 0;
  /** Part numbers of the byte ranges hashed with sha256Range, in call order. */
  const rangesHashed = () => (calls.get('sha256Range') ?? []).map((args) => partOf(args[1] as number));
  return { proxy, count, rangesHashed };
}

const store = () => new S3VersionedStore(t.s3);
/** A part as a store that reports no SHA-256 per copied part returns it (S3-compatible stores that keep none). */
const unreported = ({ sha256: _, ...part }: CopiedPart): CopiedPart => part;
/**
 * Overrides for a store that reports no part checksums, so that the completed replica is read back
 * (S3, and the local AWS since gap 15, report them); `range` picks the source range a part copies.
 */
const noPartChecksums = (base: VersionedStore, range = (part: PartRange) => part): Partial<VersionedStore> => ({
  copyPart: async (request: CopyRequest, uploadId: string, part: PartRange) =>
    unreported(await base.copyPart(request, uploadId, range(part))),
  listParts: async (target: { bucket: string; key: string }, uploadId: string) => (await base.listParts(target, uploadId)).map(unreported),
});
const deps = (
  source: VersionedStore,
  replica: VersionedStore,
  outOfTime: () => boolean,
  overrides: Partial<ReplicationDeps> = {},
): ReplicationDeps => ({
  source,
  replica,
  ledger: t.ledger,
  now: () => new Date(),
  claimOwner: 'verification-test',
  claimSeconds: 60,
  multipart: { thresholdBytes: 6 * MIB, partSizeBytes: PART, partConcurrency: 1 },
  remainingMs: () => (outOfTime() ? 0 : Infinity),
  ...overrides,
});

async function putSource(key: string, data: Buffer) {
  await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: data }));
  await t.takeMessages();
}
const replicaVersions = (key: string) => store().listVersions('it-replica', replicaKeyFor(t.asset('training'), key));
async function replicaBytes(key: string, versionId: string) {
  const got = await t.s3.send(
    new GetObjectCommand({ Bucket: 'it-replica', Key: replicaKeyFor(t.asset('training'), key), VersionId: versionId }),
  );
  return Buffer.from(await got.Body!.transformToByteArray());
}
const entryOf = async (key: string) => (await t.ledger.entriesFor('training', key)).find((e) => e.entryType === 'object')!;

describe('verification of multipart copies across invocations (local AWS)', () => {
  it.each([
    ['server-side part copies', 'copy' as const, 18 * MIB + 5],
    ['streamed parts', 'stream' as const, 21 * MIB + 11],
  ])('%s: verification interrupted after 2 parts continues in a new invocation, each part done once', async (_name, mode, size) => {
    const key = `train/verify/interrupted-${mode}.bin`;
    const data = body(size, mode.length);
    const parts = planParts(size, PART);
    await putSource(key, data);
    const streamed = { serverSideCopy: mode === 'copy' };

    // First invocation: copies every part, completes the upload, reads back two parts, runs out of time.
    const source1 = watched(store());
    // Streamed parts carry no checksum; server-side part copies do on S3, not on this store.
    const base1 = store();
    const replica1 = watched(base1, mode === 'copy' ? noPartChecksums(base1) : {});
    const first = deps(source1.proxy, replica1.proxy, () => replica1.count('sha256Range') >= 2, streamed);
    await expect(replicateKey(first, t.asset('training'), key)).rejects.toBeInstanceOf(CopyContinuesError);
    expect(replica1.count(mode === 'copy' ? 'copyPart' : 'uploadPart')).toBe(parts.length);
    expect(replica1.rangesHashed()).toEqual([1, 2]);
    const [complete] = await replicaVersions(key);
    expect(await replicaVersions(key)).toHaveLength(1); // complete, not yet verified
    const entry = await entryOf(key);
    expect(entry.state).toBe('pending');
    expect(await t.ledger.upload('training', key, entry.sourceVersionId)).toMatchObject({
      partSizeBytes: PART,
      replicaVersionId: complete!.versionId,
      verifiedParts: [1, 2],
      sourcePartSha256: Object.fromEntries(partDigests(data).map((d, i) => [i + 1, d])),
    });

    // Second invocation: only the two parts left are read back; nothing is copied or hashed again.
    const source2 = watched(store());
    const replica2 = watched(store());
    const outcome = await replicateKey(
      deps(source2.proxy, replica2.proxy, () => false, streamed),
      t.asset('training'),
      key,
    );
    expect(replica2.rangesHashed()).toEqual(parts.slice(2).map((p) => p.partNumber));
    expect(replica2.count('copyPart') + replica2.count('uploadPart') + replica2.count('createUpload')).toBe(0);
    expect(source2.count('sha256Range') + source2.count('openRange')).toBe(0);

    const composite = compositeSha256(partDigests(data));
    expect(outcome.replicated).toEqual([
      expect.objectContaining({ replicaVersionId: complete!.versionId, sha256Composite: composite, adopted: false }),
    ]);
    expect(await entryOf(key)).toMatchObject({
      state: 'replicated',
      replicaVersionId: complete!.versionId,
      sha256Composite: composite,
      partSizeBytes: PART,
    });
    expect(await t.ledger.upload('training', key, entry.sourceVersionId)).toBeUndefined();
    expect(await replicaVersions(key)).toHaveLength(1);
    expect(sha(await replicaBytes(key, complete!.versionId))).toBe(sha(data));
    const rows = (await t.report('training')).filter((r) => r.key === key);
    expect(rows.map((r) => r.verified)).toEqual([true]);
  });

  it('a part that differs is caught after the verification continued, never recorded; the next attempt copies again', async () => {
    const key = 'train/verify/corrupt.bin';
    const data = body(18 * MIB + 5, 7); // 4 parts; the last is 3 MiB + 5 bytes
    await putSource(key, data);
    // The replica's part 4 gets the right length from the wrong place (the start of the object), on
    // a store that reports no part checksums: only reading the replica back can catch it.
    const base = store();
    const corrupting = watched(
      base,
      noPartChecksums(base, (part) => (part.partNumber === 4 ? { partNumber: 4, start: 0, end: part.end - part.start } : part)),
    );
    const first = deps(store(), corrupting.proxy, () => corrupting.count('sha256Range') >= 2);
    await expect(replicateKey(first, t.asset('training'), key)).rejects.toBeInstanceOf(CopyContinuesError);
    const [bad] = await replicaVersions(key);
    expect((await entryOf(key)).state).toBe('pending');

    // The continuation reads back parts 3 and 4: part 4 differs.
    const replica2 = watched(store());
    const failed = replicateKey(
      deps(store(), replica2.proxy, () => false),
      t.asset('training'),
      key,
    );
    await expect(failed).rejects.toBeInstanceOf(ChecksumMismatchError);
    await expect(failed).rejects.toThrow(/part 4/);
    expect(replica2.rangesHashed()).toEqual([3, 4]);
    const entry = await entryOf(key);
    expect(entry).toMatchObject({ state: 'failed', lastError: expect.stringMatching(/sha256 mismatch: source part 4 /) });
    expect(entry.replicaVersionId).toBeUndefined();
    expect(await t.ledger.upload('training', key, entry.sourceVersionId)).toBeUndefined();

    // The next attempt finds the bad copy unclaimed, does not adopt it, and writes a good one on top.
    const outcome = await replicateKey(
      deps(store(), store(), () => false),
      t.asset('training'),
      key,
    );
    const versions = await replicaVersions(key);
    expect(versions.map((v) => v.versionId)).toEqual([bad!.versionId, outcome.replicated[0]!.replicaVersionId]);
    expect(outcome.replicated).toEqual([expect.objectContaining({ adopted: false, sha256Composite: compositeSha256(partDigests(data)) })]);
    expect(await entryOf(key)).toMatchObject({ state: 'replicated', replicaVersionId: versions[1]!.versionId });
    expect(sha(await replicaBytes(key, versions[1]!.versionId))).toBe(sha(data));
    expect(sha(await replicaBytes(key, bad!.versionId))).not.toBe(sha(data));
  });

  describe('when the store reports a SHA-256 per copied part (S3 for uploads created with ChecksumAlgorithm SHA256; the local AWS too, gap 15)', () => {
    it('parts are checked before completion, the source digests continue across invocations, nothing is read back', async () => {
      const key = 'train/verify/reported.bin';
      const data = body(13 * MIB + 9, 3); // 3 parts
      await putSource(key, data);
      const replica = watched(store());
      const source1 = watched(store());
      await expect(
        replicateKey(
          deps(source1.proxy, replica.proxy, () => replica.count('copyPart') >= 2),
          t.asset('training'),
          key,
        ),
      ).rejects.toBeInstanceOf(CopyContinuesError);
      expect(source1.rangesHashed()).toEqual([1, 2]);
      expect(await replicaVersions(key)).toEqual([]);

      const source2 = watched(store());
      const outcome = await replicateKey(
        deps(source2.proxy, replica.proxy, () => false),
        t.asset('training'),
        key,
      );
      expect(source2.rangesHashed()).toEqual([3]);
      expect(replica.count('copyPart')).toBe(3);
      expect(replica.count('sha256Range')).toBe(0);
      expect(outcome.replicated).toEqual([expect.objectContaining({ sha256Composite: compositeSha256(partDigests(data)) })]);
      expect((await entryOf(key)).state).toBe('replicated');
      const rows = (await t.report('training')).filter((r) => r.key === key);
      expect(rows.map((r) => r.verified)).toEqual([true]);
    });

    it('a part whose reported digest differs from the source part is never completed: the upload is aborted', async () => {
      const key = 'train/verify/reported-corrupt.bin';
      const data = body(13 * MIB + 9, 4);
      await putSource(key, data);
      // Part 2 copied from the wrong place: the checksum the store reports is of the bytes it wrote.
      const base = store();
      const replica = watched(base, {
        copyPart: (request: CopyRequest, uploadId: string, part: PartRange) =>
          base.copyPart(request, uploadId, part.partNumber === 2 ? { ...part, start: 0, end: part.end - part.start } : part),
      });
      await expect(
        replicateKey(
          deps(store(), replica.proxy, () => false),
          t.asset('training'),
          key,
        ),
      ).rejects.toThrow(/part 2/);
      expect(replica.count('completeUpload')).toBe(0);
      expect(await replicaVersions(key)).toEqual([]);
      const uploads = await t.s3.send(
        new ListMultipartUploadsCommand({ Bucket: 'it-replica', Prefix: replicaKeyFor(t.asset('training'), key) }),
      );
      expect(uploads.Uploads ?? []).toEqual([]);
      const entry = await entryOf(key);
      expect(entry.state).toBe('failed');
      expect(await t.ledger.upload('training', key, entry.sourceVersionId)).toBeUndefined();
    });
  });

  it('through the handler: an invocation that runs out of time while verifying queues its continuation, which finishes it', async () => {
    const key = 'train/verify/handler.bin';
    const data = body(19 * MIB + 1, 9); // 4 parts
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: data }));
    const [message] = await t.takeMessages();
    vi.resetModules();
    // A replica store that reports no part checksums, so that the completed copy is read back.
    const { S3VersionedStore: Store } = await import('../../functions/storage/s3-versioned-store.js');
    const [copyPart, listParts] = [Store.prototype.copyPart, Store.prototype.listParts];
    vi.spyOn(Store.prototype, 'copyPart').mockImplementation(async function (this: S3VersionedStore, ...args) {
      return unreported(await copyPart.apply(this, args));
    });
    vi.spyOn(Store.prototype, 'listParts').mockImplementation(async function (this: S3VersionedStore, ...args) {
      return (await listParts.apply(this, args)).map(unreported);
    });
    const { handler } = await import('../../functions/replicate.js');
    // Plenty of time for middy's one reading and the four part copies, then almost none: the
    // invocation stops between the parts it reads back.
    let readings = 0;
    const rushed: Context = { ...localContext('replicate'), getRemainingTimeInMillis: () => (++readings <= 6 ? 600_000 : 1_000) };
    await t.send(message!);
    const first = await pollOnce(t.sqs, t.queue, (event) => handler(event, rushed));
    expect(first).toMatchObject({ received: 1, failed: 0 }); // acknowledged: its continuation is queued

    const entry = await entryOf(key);
    expect(entry.state).toBe('pending');
    const [complete] = await replicaVersions(key);
    const progress = await t.ledger.upload('training', key, entry.sourceVersionId);
    expect(progress?.replicaVersionId).toBe(complete!.versionId);
    expect(progress?.verifiedParts?.length).toBeGreaterThan(0);
    expect(progress?.verifiedParts?.length).toBeLessThan(4);

    expect((await t.drain()).failed).toBe(0); // the continuation, with time to spare
    expect(await entryOf(key)).toMatchObject({
      state: 'replicated',
      replicaVersionId: complete!.versionId,
      sha256Composite: compositeSha256(partDigests(data)),
    });
    expect(await replicaVersions(key)).toHaveLength(1);
    expect(await t.ledger.upload('training', key, entry.sourceVersionId)).toBeUndefined();
  });
});
