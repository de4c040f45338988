import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  ListPartsCommand,
  S3Client,
  S3ServiceException,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { unitAsset } from '../support/unit-asset.js';
import {
  ChecksumMismatchError,
  CopyContinuesError,
  KeyBusyError,
  SourceChangedError,
  SourceChecksumMismatchError,
} from '../../functions/replication/errors.js';
import { compositeSha256, partSizeFor, planParts } from '../../functions/replication/multipart-copy.js';
import { replicateKey, type ReplicationDeps } from '../../functions/replication/replicate-key.js';
import { S3VersionedStore } from '../../functions/storage/s3-versioned-store.js';
import { MemoryLedger } from '../support/memory-ledger.js';
import { mockMultipartCopyOf } from '../support/multipart-copy-mock.js';
import { versionedWithoutObjectLock } from '../support/s3-mock.js';

const s3 = mockClient(S3Client);
const asset = unitAsset({ bucket: 'dst', storageClass: 'STANDARD' });
const KEY = 'train/a.bin';
const NOW = new Date('2026-11-26T12:00:10.000Z');
const WRITTEN = new Date('2026-11-26T12:00:00.000Z');
const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');
const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');
/** Two contents and their SHA-256s. */
const BODIES: Record<string, string> = {};
const [HEX_A, HEX_B] = ['content a', 'content b'].map((text) => {
  const hex = sha256Hex(text);
  BODIES[hex] = text;
  return hex;
}) as [string, string];
const OTHER_HEX = 'f'.repeat(64);

/** KEY's version v1 as a pending ledger entry (what another invocation's claim holds). */
const PENDING_V1 = {
  asset: 'training',
  key: KEY,
  sourceVersionId: 'v1',
  entryType: 'object' as const,
  sourceLastModified: WRITTEN.toISOString(),
  size: 3,
};

let ledger: MemoryLedger;
const deps = (overrides: Partial<ReplicationDeps> = {}): ReplicationDeps => {
  const store = new S3VersionedStore(new S3Client({ region: 'us-east-1' }));
  return { source: store, replica: store, ledger, now: () => NOW, claimOwner: 'me', claimSeconds: 60, ...overrides };
};

/** `bucket` (src or dst) lists one version of KEY, the latest. */
const lists = (bucket: 'src' | 'dst', VersionId: string, LastModified: Date, Size = 3) =>
  s3
    .on(ListObjectVersionsCommand, { Bucket: bucket })
    .resolves({ Versions: [{ Key: KEY, VersionId, LastModified, IsLatest: true, Size }] });
/**
 * The source reads as the content whose SHA-256 is `source`, which S3 also stores as its full-object
 * checksum; CopyObject makes replica version `replicaVersionId`, reporting `replica`.
 */
const copies = (source: string, replicaVersionId: string, replica = source) => {
  s3.on(GetObjectCommand).callsFake(() => ({
    ContentLength: BODIES[source]!.length,
    ChecksumSHA256: b64(source),
    ChecksumType: 'FULL_OBJECT',
    Body: Readable.from([Buffer.from(BODIES[source]!)]) as never,
  }));
  s3.on(CopyObjectCommand).resolves({ VersionId: replicaVersionId, CopyObjectResult: { ChecksumSHA256: b64(replica) } });
};

beforeEach(() => {
  s3.reset();
  ledger = new MemoryLedger();
  lists('src', 'v1', WRITTEN);
  s3.on(ListObjectVersionsCommand, { Bucket: 'dst' }).resolves({});
  versionedWithoutObjectLock(s3);
});

describe('replicateKey', () => {
  it('never records a copy whose SHA-256 differs from the source as replicated', async () => {
    copies(HEX_A, 'r1', HEX_B);
    await expect(replicateKey(deps(), asset, KEY)).rejects.toThrow(ChecksumMismatchError);
    const [entry] = await ledger.entriesFor('training', KEY);
    expect(entry).toMatchObject({ state: 'failed', attempts: 1 });
    expect(entry!.lastError).toContain(`sha256 mismatch: source ${HEX_A}, replica version r1 ${HEX_B}`);
    expect(entry).not.toHaveProperty('claimOwner');
  });

  it('hashes the source’s bytes even where S3 stores a SHA-256, and copies nothing when they differ', async () => {
    s3.on(GetObjectCommand).callsFake(() => ({
      ContentLength: 9,
      ChecksumSHA256: b64(OTHER_HEX),
      ChecksumType: 'FULL_OBJECT',
      Body: Readable.from([Buffer.from('content a')]) as never,
    }));
    await expect(replicateKey(deps(), asset, KEY)).rejects.toThrow(SourceChecksumMismatchError);
    expect(s3).not.toHaveReceivedCommand(CopyObjectCommand);
    const [entry] = await ledger.entriesFor('training', KEY);
    expect(entry!.lastError).toContain(`source's stored sha256 ${OTHER_HEX} differs from the sha256 of the bytes read, ${HEX_A}`);
  });

  it('hashes the source when it has no SHA-256 checksum, and the replica when the copy reports none', async () => {
    const body = () => Readable.from([Buffer.from('abc')]);
    s3.on(HeadObjectCommand).resolves({ ContentLength: 3, ETag: '"900150983cd24fb0d6963f7d28e17f72"' });
    s3.on(GetObjectCommand).callsFake(() => ({ Body: body() as never }));
    s3.on(CopyObjectCommand).resolves({ VersionId: 'r1', CopyObjectResult: {} });
    const outcome = await replicateKey(deps(), asset, KEY);
    const abc = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
    expect(outcome.replicated).toEqual([
      expect.objectContaining({ sourceVersionId: 'v1', replicaVersionId: 'r1', sha256: abc, lagSeconds: 10, adopted: false }),
    ]);
    expect(s3).toHaveReceivedCommandWith(GetObjectCommand, { Bucket: 'src', VersionId: 'v1' });
    expect(s3).toHaveReceivedCommandWith(GetObjectCommand, { Bucket: 'dst', VersionId: 'r1' });
  });

  it('acknowledges an event whose version another live invocation holds, or that is replicated, with one claim and no S3 request', async () => {
    const event = { versionId: 'v1', kind: 'object' as const, size: 3 };
    const pending = PENDING_V1;
    await ledger.claimVersion(pending, 'someone-else', NOW, 60);
    expect(await replicateKey(deps(), asset, KEY, { version: event })).toMatchObject({
      replicated: [],
      claimedElsewhere: 1,
      alreadyReplicated: 0,
    });
    expect(s3.calls()).toHaveLength(0);

    await ledger.releaseClaim(pending, 'someone-else');
    copies(HEX_A, 'r1');
    await replicateKey(deps(), asset, KEY, { version: event });
    s3.resetHistory();
    expect(await replicateKey(deps(), asset, KEY, { version: event })).toMatchObject({
      replicated: [],
      claimedElsewhere: 0,
      alreadyReplicated: 1,
    });
    expect(s3.calls()).toHaveLength(0);
  });

  it('defers an event whose version comes after one another live invocation holds, letting its own claim go', async () => {
    s3.on(ListObjectVersionsCommand, { Bucket: 'src' }).resolves({
      Versions: [
        { Key: KEY, VersionId: 'v2', LastModified: NOW, IsLatest: true, Size: 3 },
        { Key: KEY, VersionId: 'v1', LastModified: WRITTEN, IsLatest: false, Size: 3 },
      ],
    });
    const v1 = PENDING_V1;
    await ledger.claimVersion(v1, 'holder', NOW, 60);
    await expect(replicateKey(deps(), asset, KEY, { version: { versionId: 'v2', kind: 'object', size: 3 } })).rejects.toThrow(KeyBusyError);
    expect(s3).toHaveReceivedCommandTimes(GetObjectCommand, 1); // read ahead beside the listing, and dropped
    expect(s3).not.toHaveReceivedCommand(CopyObjectCommand);
    const v2 = (await ledger.entriesFor('training', KEY)).find((e) => e.sourceVersionId === 'v2');
    expect(v2).toMatchObject({ state: 'pending' });
    expect(v2).not.toHaveProperty('claimExpiresAt'); // let go: the holder, or the message's return, takes it
  });

  it('transient S3 errors are recorded and rethrown (the message is retried)', async () => {
    s3.on(GetObjectCommand).rejects(
      Object.assign(new Error('Please reduce your request rate.'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } }),
    );
    await expect(replicateKey(deps(), asset, KEY)).rejects.toThrow(/reduce your request rate/);
    const [entry] = await ledger.entriesFor('training', KEY);
    expect(entry).toMatchObject({ state: 'failed', lastError: 'SlowDown: Please reduce your request rate. (HTTP 503)' });
  });
});

describe('replicateKey: review cases', () => {
  it('an unversioned source overwrites its "null" version: each content is a ledger entry of its own', async () => {
    lists('src', 'null', WRITTEN);
    copies(HEX_A, 'r1');
    await replicateKey(deps(), asset, KEY);

    lists('src', 'null', new Date('2026-11-26T12:00:05.000Z'));
    lists('dst', 'r1', NOW);
    copies(HEX_B, 'r2');
    const second = await replicateKey(deps(), asset, KEY);
    expect(second.replicated.map((r) => [r.sourceVersionId, r.replicaVersionId])).toEqual([['null@2026-11-26T12:00:05.000Z', 'r2']]);
    expect((await ledger.entriesFor('training', KEY)).map((e) => e.sourceVersionId).sort()).toEqual([
      'null@2026-11-26T12:00:00.000Z',
      'null@2026-11-26T12:00:05.000Z',
    ]);
  });

  it('a source listing that fails is recorded on the key (the RPO sees it) and cleared by the next sync', async () => {
    s3.on(ListObjectVersionsCommand, { Bucket: 'src' }).rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }));
    await expect(replicateKey(deps(), asset, KEY)).rejects.toThrow(/Access Denied/);
    expect(await ledger.entriesFor('training', KEY)).toEqual([
      expect.objectContaining({
        entryType: 'key',
        state: 'failed',
        sourceLastModified: NOW.toISOString(),
        lastError: 'AccessDenied: Access Denied',
      }),
    ]);
    s3.on(ListObjectVersionsCommand, { Bucket: 'src' }).resolves({});
    await replicateKey(deps(), asset, KEY);
    expect(await ledger.entriesFor('training', KEY)).toEqual([]);
  });
});

describe('replicateKey: a multipart copy of a "null" version (unversioned source) that is overwritten', () => {
  // 12 bytes in parts of 5: a multipart copy. Every read of a range gets those bytes of BYTES.
  const BYTES = Buffer.from('0123456789ab');
  const small = { multipart: { thresholdBytes: 6, partSizeBytes: 5, partConcurrency: 1 } };
  beforeEach(() => {
    lists('src', 'null', WRITTEN, BYTES.length);
    mockMultipartCopyOf(s3, BYTES);
    s3.on(UploadPartCopyCommand).callsFake((input: { PartNumber?: number }) => ({ CopyPartResult: { ETag: `"p${input.PartNumber}"` } }));
    s3.on(CompleteMultipartUploadCommand).resolves({ VersionId: 'r1' });
  });

  it('during its copy: parts of two contents are never completed; the upload is aborted', async () => {
    s3.on(HeadObjectCommand)
      .resolvesOnce({ ContentLength: BYTES.length, ETag: '"a"' })
      .resolves({ ContentLength: BYTES.length, ETag: '"b"' });
    await expect(replicateKey(deps(small), asset, KEY)).rejects.toThrow(SourceChangedError);
    expect(s3).toHaveReceivedCommandTimes(UploadPartCopyCommand, 3);
    expect(s3).not.toHaveReceivedCommand(CompleteMultipartUploadCommand);
    expect(s3).toHaveReceivedCommandWith(AbortMultipartUploadCommand, { UploadId: 'u1' });
    expect((await ledger.entriesFor('training', KEY))[0]).toMatchObject({
      state: 'failed',
      lastError: expect.stringMatching(/overwritten during its copy/),
    });
    expect(ledger.uploads.size).toBe(0);
  });

  it('stops before a part when less than the default reserve (30 s) is left, its upload saved; with 30 s left it copies', async () => {
    s3.on(HeadObjectCommand).resolves({ ContentLength: BYTES.length, ETag: '"a"' });
    await expect(replicateKey(deps({ ...small, remainingMs: () => 29_999 }), asset, KEY)).rejects.toBeInstanceOf(CopyContinuesError);
    expect(s3).not.toHaveReceivedCommand(UploadPartCopyCommand);
    expect(s3).not.toHaveReceivedCommand(CompleteMultipartUploadCommand);
    expect([...ledger.uploads.values()]).toEqual([expect.objectContaining({ uploadId: 'u1' })]);

    ledger = new MemoryLedger();
    const outcome = await replicateKey(deps({ ...small, remainingMs: () => 30_000 }), asset, KEY);
    expect(outcome.replicated).toEqual([expect.objectContaining({ replicaVersionId: 'r1' })]);
  });

  it('between invocations: the saved upload and part digests of the old content are dropped, not reused', async () => {
    s3.on(HeadObjectCommand).resolves({ ContentLength: BYTES.length, ETag: '"a"' });
    // An earlier invocation's progress, taken while the version had other content.
    await ledger.saveUpload('training', KEY, 'null@2026-11-26T12:00:00.000Z', {
      uploadId: 'u0',
      partSizeBytes: 5,
      startedAt: WRITTEN.toISOString(),
      sourceEtag: '"old"',
      sourcePartSha256: { 1: HEX_A, 2: HEX_B },
    });
    const outcome = await replicateKey(deps(small), asset, KEY);
    expect(s3).toHaveReceivedCommandWith(AbortMultipartUploadCommand, { UploadId: 'u0' });
    expect(s3).not.toHaveReceivedCommand(ListPartsCommand);
    expect(s3).toHaveReceivedCommandTimes(UploadPartCopyCommand, 3);
    const digests = planParts(BYTES.length, 5).map((p) =>
      createHash('sha256')
        .update(BYTES.subarray(p.start, p.end + 1))
        .digest('hex'),
    );
    expect(outcome.replicated).toEqual([expect.objectContaining({ replicaVersionId: 'r1', sha256Composite: compositeSha256(digests) })]);
    expect(ledger.uploads.size).toBe(0);
  });
});

describe('replicateKey: a multipart copy that gives up aborts its upload and forgets its progress, whatever the order of events', () => {
  // 12 bytes in parts of 5 (three parts), version v1 of KEY; the replica key is KEY in bucket dst.
  const BYTES = Buffer.from('0123456789ab');
  const small = { multipart: { thresholdBytes: 6, partSizeBytes: 5, partConcurrency: 1 } };
  const saved = (extra = {}) => ({
    uploadId: 'u0',
    partSizeBytes: 5,
    startedAt: WRITTEN.toISOString(),
    sourcePartSha256: { 1: HEX_A },
    ...extra,
  });
  /** v1 as an earlier invocation left it: pending, with a multipart upload begun (and saved). */
  const begun = async (progress = saved()) => {
    await ledger.markPending(
      [
        {
          asset: 'training',
          key: KEY,
          sourceVersionId: 'v1',
          entryType: 'object',
          sourceLastModified: WRITTEN.toISOString(),
          size: BYTES.length,
        },
      ],
      WRITTEN,
    );
    await ledger.saveUpload('training', KEY, 'v1', progress);
  };
  /** The source no longer lists v1: it was permanently deleted (DeleteObject with its version id). */
  const deleted = () => s3.on(ListObjectVersionsCommand, { Bucket: 'src' }).resolves({});
  /** What the SDK throws for a 404 whose body has no error code: an S3ServiceException named by the status. */
  const bare404 = () =>
    new S3ServiceException({ name: 'NotFound', $fault: 'client', $metadata: { httpStatusCode: 404 }, message: 'UnknownError' });

  beforeEach(() => {
    lists('src', 'v1', WRITTEN, BYTES.length);
    s3.on(HeadObjectCommand).resolves({ ContentLength: BYTES.length, ETag: '"a"' });
    mockMultipartCopyOf(s3, BYTES);
    s3.on(ListPartsCommand).resolves({ Parts: [{ PartNumber: 1, ETag: '"p1"' }] });
  });

  it('a part copy whose source is gone with a bare 404 (NotFound, no XML code) is permanent: the upload is aborted, its progress deleted', async () => {
    s3.on(UploadPartCopyCommand).rejects(bare404());
    await expect(replicateKey(deps(small), asset, KEY)).rejects.toThrow(/UnknownError/);
    expect(s3).toHaveReceivedCommandWith(AbortMultipartUploadCommand, { Bucket: 'dst', Key: KEY, UploadId: 'u1' });
    expect(ledger.uploads.size).toBe(0);
    expect((await ledger.entriesFor('training', KEY))[0]).toMatchObject({
      state: 'failed',
      lastError: 'NotFound: UnknownError (HTTP 404)',
    });
  });

  it('a version deleted from the source between attempts: the next sync aborts its upload, deletes its progress, then marks it source-deleted', async () => {
    await begun();
    deleted();
    const outcome = await replicateKey(deps(small), asset, KEY);
    expect(outcome.replicated).toEqual([]);
    expect(s3).toHaveReceivedCommandWith(AbortMultipartUploadCommand, { Bucket: 'dst', Key: KEY, UploadId: 'u0' });
    expect(s3).not.toHaveReceivedCommand(UploadPartCopyCommand);
    expect(ledger.uploads.size).toBe(0);
    expect((await ledger.entriesFor('training', KEY))[0]).toMatchObject({ state: 'source-deleted' });
  });

  it('an abort that fails keeps the progress and the version unmarked; the next sync aborts and forgets it', async () => {
    await begun();
    deleted();
    s3.on(AbortMultipartUploadCommand).rejectsOnce(
      Object.assign(new Error('We encountered an internal error.'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } }),
    );
    await expect(replicateKey(deps(small), asset, KEY)).rejects.toThrow(/internal error/);
    expect(ledger.uploads.size).toBe(1);
    expect((await ledger.entriesFor('training', KEY))[0]).toMatchObject({ state: 'pending', uploadSaved: true });

    await replicateKey(deps(small), asset, KEY);
    expect(s3).toHaveReceivedCommandTimes(AbortMultipartUploadCommand, 2);
    expect(ledger.uploads.size).toBe(0);
    expect((await ledger.entriesFor('training', KEY))[0]).toMatchObject({ state: 'source-deleted' });
  });

  it('progress left on a version already marked source-deleted (or whose upload expired) is forgotten by the next sync', async () => {
    await begun();
    await ledger.markSourceDeleted((await ledger.entriesFor('training', KEY))[0]!, NOW);
    deleted();
    s3.on(AbortMultipartUploadCommand).rejects(
      Object.assign(new Error('The specified upload does not exist.'), { name: 'NoSuchUpload', $metadata: { httpStatusCode: 404 } }),
    );
    await replicateKey(deps(small), asset, KEY);
    expect(ledger.uploads.size).toBe(0);
    expect((await ledger.entriesFor('training', KEY))[0]).toMatchObject({ state: 'source-deleted' });
  });

  it('a completed upload whose verification was under way is not aborted: its progress is deleted, the replica version stays', async () => {
    await begun(saved({ replicaVersionId: 'r1', verifiedParts: [1] }));
    deleted();
    await replicateKey(deps(small), asset, KEY);
    expect(s3).not.toHaveReceivedCommand(AbortMultipartUploadCommand);
    expect(ledger.uploads.size).toBe(0);
    expect((await ledger.entriesFor('training', KEY))[0]).toMatchObject({ state: 'source-deleted' });
  });

  it('a version still in the source keeps its progress: the next attempt resumes the same upload', async () => {
    await begun(saved({ sourcePartSha256: { 1: createHash('sha256').update(BYTES.subarray(0, 5)).digest('hex') } }));
    s3.on(UploadPartCopyCommand).callsFake((input: { PartNumber?: number }) => ({ CopyPartResult: { ETag: `"p${input.PartNumber}"` } }));
    s3.on(CompleteMultipartUploadCommand).resolves({ VersionId: 'r1' });
    await replicateKey(deps(small), asset, KEY);
    expect(s3).not.toHaveReceivedCommand(AbortMultipartUploadCommand);
    expect(s3).toHaveReceivedCommandWith(CompleteMultipartUploadCommand, { UploadId: 'u0' });
    expect((await ledger.entriesFor('training', KEY))[0]).toMatchObject({ state: 'replicated', replicaVersionId: 'r1' });
  });
});

describe('multipart plans', () => {
  it('keeps the configured part size unless the object would need more than 10,000 parts', () => {
    expect(partSizeFor(6 * 1024 ** 3, 128 * 1024 ** 2)).toBe(128 * 1024 ** 2);
    // 5 TiB, S3's largest object, in at most 10,000 parts: 525 MiB parts.
    expect(partSizeFor(5 * 1024 ** 4, 128 * 1024 ** 2)).toBe(525 * 1024 ** 2);
    expect(planParts(5 * 1024 ** 4, partSizeFor(5 * 1024 ** 4, 128 * 1024 ** 2))).toHaveLength(9987);
  });

  it('covers every byte once, the last part short', () => {
    expect(planParts(12, 5)).toEqual([
      { partNumber: 1, start: 0, end: 4 },
      { partNumber: 2, start: 5, end: 9 },
      { partNumber: 3, start: 10, end: 11 },
    ]);
  });

  it("computes S3's composite checksum: SHA-256 of the part digests, with the part count", () => {
    const digest = (s: string) => createHash('sha256').update(s).digest();
    const expected = createHash('sha256')
      .update(Buffer.concat([digest('a'), digest('b')]))
      .digest('hex');
    expect(compositeSha256([digest('a').toString('hex'), digest('b').toString('hex')])).toBe(`${expected}-2`);
  });
});
