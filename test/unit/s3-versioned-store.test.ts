import {
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectLockConfigurationCommand,
  S3ServiceException,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { BucketNotVersionedError, S3VersionedStore } from '../../functions/storage/s3-versioned-store.js';
import { chronological, versionIdsInDocumentOrder } from '../../functions/storage/version-order.js';
import { noObjectLockConfiguration } from '../support/s3-mock.js';

const s3 = mockClient(S3Client);
const store = () => new S3VersionedStore(new S3Client({ region: 'us-east-1' }));
const ref = { bucket: 'src', key: 'training/a b+c.bin', versionId: 'v1' };
const sha = (hex: string) => Buffer.from(hex, 'hex').toString('base64');
const HEX = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

beforeEach(() => {
  s3.reset();
  s3.on(GetObjectLockConfigurationCommand).rejects(noObjectLockConfiguration());
});

describe('S3VersionedStore.describe: which checksums are full-object SHA-256', () => {
  it('uses a full-object checksum of a single-part upload', async () => {
    s3.on(HeadObjectCommand).resolves({
      ContentLength: 0,
      ETag: '"d41d8cd98f00b204e9800998ecf8427e"',
      ChecksumSHA256: sha(HEX),
      ChecksumType: 'FULL_OBJECT',
    });
    expect((await store().describe(ref)).fullObjectSha256).toBe(HEX);
    expect(s3).toHaveReceivedCommandWith(HeadObjectCommand, { VersionId: 'v1', ChecksumMode: 'ENABLED' });
  });

  it('never takes a composite (per-part) checksum for the object hash', async () => {
    s3.on(HeadObjectCommand).resolves({ ContentLength: 10, ETag: '"abc-3"', ChecksumSHA256: `${sha(HEX)}-3`, ChecksumType: 'COMPOSITE' });
    expect((await store().describe(ref)).fullObjectSha256).toBeUndefined();
  });

  it('treats a multipart object whose checksum type is not stated as composite', async () => {
    s3.on(HeadObjectCommand).resolves({ ContentLength: 10, ETag: '"8b0be7847da5564ae08e97af63b60885-2"', ChecksumSHA256: sha(HEX) });
    expect((await store().describe(ref)).fullObjectSha256).toBeUndefined();
  });

  it('has no hash when the object has no SHA-256 checksum (the ETag is never used as one)', async () => {
    s3.on(HeadObjectCommand).resolves({ ContentLength: 10, ETag: '"d41d8cd98f00b204e9800998ecf8427e"', Metadata: { a: '1' } });
    const details = await store().describe(ref);
    expect(details.fullObjectSha256).toBeUndefined();
    expect(details.metadata).toEqual({ a: '1' });
  });
});

describe('S3VersionedStore writes', () => {
  it('copies server-side with the key URL-encoded, tags copied, metadata replaced, SHA-256 requested', async () => {
    s3.on(GetBucketVersioningCommand).resolves({ Status: 'Enabled' });
    s3.on(CopyObjectCommand).resolves({ VersionId: 'r1', CopyObjectResult: { ChecksumSHA256: sha(HEX) } });
    const result = await store().copy({
      source: ref,
      target: { bucket: 'replica', key: 'training/a b+c.bin' },
      details: { size: 0, contentType: 'text/plain', metadata: {} },
      metadata: { 'dr-source-version-id': 'v1' },
      storageClass: 'STANDARD',
    });
    expect(result).toEqual({ versionId: 'r1', sha256: HEX, retries: 0 });
    expect(s3).toHaveReceivedCommandWith(CopyObjectCommand, {
      CopySource: 'src/training/a%20b%2Bc.bin?versionId=v1',
      MetadataDirective: 'REPLACE',
      TaggingDirective: 'COPY',
      ChecksumAlgorithm: 'SHA256',
      ContentType: 'text/plain',
      Metadata: { 'dr-source-version-id': 'v1' },
    });
  });

  it('refuses to write into a replica bucket without versioning, before writing anything', async () => {
    s3.on(GetBucketVersioningCommand).resolves({ Status: 'Suspended' });
    await expect(store().addDeleteMarker('replica', 'k')).rejects.toThrow(BucketNotVersionedError);
    expect(s3).not.toHaveReceivedCommand(DeleteObjectCommand);
  });

  it('checks versioning before every write; a batch’s store once for all its writes, never trusting a bucket found unversioned', async () => {
    s3.on(GetBucketVersioningCommand).resolves({ Status: 'Enabled' });
    s3.on(DeleteObjectCommand).resolves({ VersionId: 'dm', DeleteMarker: true });
    const shared = store();
    await shared.addDeleteMarker('replica', 'a');
    await shared.addDeleteMarker('replica', 'b');
    expect(s3.commandCalls(GetBucketVersioningCommand)).toHaveLength(2);
    const batch = shared.forOneBatch();
    await Promise.all(['c', 'd', 'e'].map((k) => batch.addDeleteMarker('replica', k)));
    await batch.addDeleteMarker('replica', 'f');
    expect(s3.commandCalls(GetBucketVersioningCommand)).toHaveLength(3);

    s3.reset();
    s3.on(GetObjectLockConfigurationCommand).rejects(noObjectLockConfiguration());
    s3.on(GetBucketVersioningCommand).resolvesOnce({ Status: 'Suspended' }).resolves({ Status: 'Enabled' });
    s3.on(DeleteObjectCommand).resolves({ VersionId: 'dm', DeleteMarker: true });
    const later = store().forOneBatch();
    await expect(later.addDeleteMarker('replica', 'g')).rejects.toThrow(BucketNotVersionedError);
    expect(await later.addDeleteMarker('replica', 'g')).toBe('dm'); // checked again, not the refusal remembered
    expect(s3.commandCalls(GetBucketVersioningCommand)).toHaveLength(2);
  });

  it('a delete into a bucket whose versioning was suspended meanwhile (a "null" marker) fails', async () => {
    s3.on(GetBucketVersioningCommand).resolves({ Status: 'Enabled' });
    s3.on(DeleteObjectCommand).resolves({ VersionId: 'null', DeleteMarker: true });
    await expect(store().addDeleteMarker('replica', 'k')).rejects.toThrow(BucketNotVersionedError);
  });

  it('adds a delete marker with a plain DeleteObject (no version id: nothing is destroyed)', async () => {
    s3.on(GetBucketVersioningCommand).resolves({ Status: 'Enabled' });
    s3.on(DeleteObjectCommand).resolves({ VersionId: 'dm1', DeleteMarker: true });
    expect(await store().addDeleteMarker('replica', 'k')).toBe('dm1');
    const call = s3.commandCalls(DeleteObjectCommand)[0]!;
    expect(call.args[0].input).toEqual({ Bucket: 'replica', Key: 'k' });
  });
});

describe('S3VersionedStore writes into a bucket with Object Lock on', () => {
  const lock = { mode: 'COMPLIANCE' as const, retainUntil: new Date('2027-03-01T00:00:00Z') };
  const request = {
    source: ref,
    target: { bucket: 'replica', key: 'k' },
    details: { size: 3, metadata: {} },
    metadata: {},
    storageClass: 'STANDARD',
    lock,
  };
  const lockFields = { ObjectLockMode: 'COMPLIANCE' as const, ObjectLockRetainUntilDate: lock.retainUntil };

  it('locks what each write creates, and checks the bucket once per store: Object Lock cannot be turned off, nor versioning suspended', async () => {
    s3.on(GetObjectLockConfigurationCommand).resolves({ ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' } });
    s3.on(CopyObjectCommand).resolves({ VersionId: 'r1' });
    s3.on(PutObjectCommand).resolves({ VersionId: 'r2' });
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u1' });
    const shared = store();
    await shared.copy(request);
    await shared.forOneBatch().put({ ...request, tagging: '' }, Readable.from([Buffer.from('abc')]), 3);
    await shared.forOneBatch().createUpload({ ...request, tagging: '', checksums: true });

    expect(s3).toHaveReceivedCommandWith(CopyObjectCommand, lockFields);
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, lockFields);
    expect(s3).toHaveReceivedCommandWith(CreateMultipartUploadCommand, lockFields);
    expect(s3.commandCalls(GetObjectLockConfigurationCommand)).toHaveLength(1);
    expect(s3).not.toHaveReceivedCommand(GetBucketVersioningCommand);
  });

  it('writes without a lock into a bucket without Object Lock (S3 would refuse one), checking its versioning', async () => {
    s3.on(GetBucketVersioningCommand).resolves({ Status: 'Enabled' });
    s3.on(CopyObjectCommand).resolves({ VersionId: 'r1' });
    await store().copy(request);
    const input = s3.commandCalls(CopyObjectCommand)[0]!.args[0].input;
    expect(input).not.toHaveProperty('ObjectLockMode');
    expect(input).not.toHaveProperty('ObjectLockRetainUntilDate');
    expect(s3.commandCalls(GetBucketVersioningCommand)).toHaveLength(1);
  });

  it('writes nothing that must be locked when the bucket’s Object Lock cannot be read (denied is not "no lock"), nor on a failed check', async () => {
    s3.on(GetObjectLockConfigurationCommand).rejects(new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: {} }));
    s3.on(GetBucketVersioningCommand).resolves({ Status: 'Enabled' });
    await expect(store().copy(request)).rejects.toThrow(
      'cannot read the Object Lock configuration of replica (access denied); refusing to write a version that must be locked',
    );
    s3.on(GetObjectLockConfigurationCommand).rejects(new S3ServiceException({ name: 'SlowDown', $fault: 'server', $metadata: {} }));
    await expect(store().copy({ ...request, lock: undefined })).rejects.toMatchObject({ name: 'SlowDown' });
    expect(s3).not.toHaveReceivedCommand(CopyObjectCommand);
  });

  it('writes what needs no lock into a bucket whose Object Lock it may not read (a restore target of another account), checking its versioning', async () => {
    s3.on(GetObjectLockConfigurationCommand).rejects(new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: {} }));
    s3.on(GetBucketVersioningCommand).resolves({ Status: 'Enabled' });
    s3.on(CopyObjectCommand).resolves({ VersionId: 'r1' });
    await store().copy({ ...request, lock: undefined });
    expect(s3.commandCalls(CopyObjectCommand)[0]!.args[0].input).not.toHaveProperty('ObjectLockMode');
    expect(s3.commandCalls(GetBucketVersioningCommand)).toHaveLength(1);
  });
});

describe('S3VersionedStore.historiesInRange: one listing for a batch of nearby keys', () => {
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
  const version = (Key: string, VersionId: string, s: number, IsLatest = true) => ({
    Key,
    VersionId,
    LastModified: at(s),
    IsLatest,
    Size: 1,
  });

  it('lists from just before the first key under the common prefix, and covers the range when it reaches past the last key', async () => {
    s3.on(ListObjectVersionsCommand).resolves({
      IsTruncated: true,
      Versions: [version('d/obj-10', 'a', 1), version('d/obj-11', 'b', 2), version('d/obj-13', 'c', 3), version('d/obj-20', 'z', 4)],
    });
    const { histories, through } = await store().historiesInRange('src', 'd/obj-10', 'd/obj-13', 20);
    expect(s3).toHaveReceivedCommandWith(ListObjectVersionsCommand, { Prefix: 'd/obj-1', KeyMarker: 'd/obj-1', MaxKeys: 20 });
    expect(through).toBe('d/obj-13');
    expect([...histories.keys()]).toEqual(['d/obj-10', 'd/obj-11', 'd/obj-13']); // d/obj-12 has no versions
    expect(s3.commandCalls(ListObjectVersionsCommand)).toHaveLength(1);
  });

  it('on a page that ends inside the range, covers only the keys read whole (the last one may go on)', async () => {
    s3.on(ListObjectVersionsCommand).resolves({
      IsTruncated: true,
      NextKeyMarker: 'd/obj-12',
      NextVersionIdMarker: 'c',
      Versions: [version('d/obj-10', 'a', 1), version('d/obj-12', 'b', 2), version('d/obj-12', 'c', 1, false)],
    });
    const { histories, through } = await store().historiesInRange('src', 'd/obj-10', 'd/obj-19', 3);
    expect(through).toBe('d/obj-10');
    expect([...histories.keys()]).toEqual(['d/obj-10']);
    expect(s3.commandCalls(ListObjectVersionsCommand)).toHaveLength(1);
  });

  it('keeps whole code points in the prefix and the marker', async () => {
    s3.on(ListObjectVersionsCommand).resolves({ IsTruncated: false });
    const { through } = await store().historiesInRange('src', 'k/\u{1F600}', 'k/\u{1F601}', 10);
    expect(s3).toHaveReceivedCommandWith(ListObjectVersionsCommand, { Prefix: 'k/', KeyMarker: 'k/' });
    expect(through).toBe('k/\u{1F601}');
  });
});

describe('version order', () => {
  it('lists only the exact key, oldest first, across pages', async () => {
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
    s3.on(ListObjectVersionsCommand, { KeyMarker: undefined })
      .resolves({
        IsTruncated: true,
        NextKeyMarker: 'k',
        NextVersionIdMarker: 'v2',
        Versions: [{ Key: 'k', VersionId: 'v2', LastModified: at(2), IsLatest: false, Size: 2 }],
        DeleteMarkers: [{ Key: 'k', VersionId: 'd3', LastModified: at(3), IsLatest: true }],
      })
      .on(ListObjectVersionsCommand, { KeyMarker: 'k' })
      .resolves({
        IsTruncated: false,
        Versions: [
          { Key: 'k', VersionId: 'v1', LastModified: at(1), IsLatest: false, Size: 1 },
          { Key: 'k2', VersionId: 'x', LastModified: at(0), IsLatest: true, Size: 1 },
        ],
      });
    const versions = await store().listVersions('b', 'k');
    expect(versions.map((v) => `${v.kind}:${v.versionId}`)).toEqual(['object:v1', 'object:v2', 'delete-marker:d3']);
  });

  it('orders equal timestamps by the position S3 listed them in (newest first)', () => {
    const t = new Date('2026-01-01T00:00:00.000Z');
    const entries = [
      { kind: 'object' as const, versionId: 'put2', lastModified: t, size: 1, isLatest: false, arrayIndex: 0 },
      { kind: 'object' as const, versionId: 'put1', lastModified: t, size: 1, isLatest: false, arrayIndex: 1 },
      { kind: 'delete-marker' as const, versionId: 'del2', lastModified: t, size: 0, isLatest: true, arrayIndex: 2 },
      { kind: 'delete-marker' as const, versionId: 'del1', lastModified: t, size: 0, isLatest: false, arrayIndex: 3 },
    ];
    const xml =
      '<ListVersionsResult><DeleteMarker><Key>k</Key><VersionId>del2</VersionId></DeleteMarker>' +
      '<Version><Key>k</Key><VersionId>put2</VersionId></Version>' +
      '<DeleteMarker><Key>k</Key><VersionId>del1</VersionId></DeleteMarker>' +
      '<Version><Key>k</Key><VersionId>put1</VersionId></Version></ListVersionsResult>';
    const order = new Map(versionIdsInDocumentOrder(xml).map((id, i) => [id, i]));
    expect(chronological(entries, order).map((e) => e.versionId)).toEqual(['put1', 'del1', 'put2', 'del2']);
  });
});
