import { AbortMultipartUploadCommand, HeadObjectCommand, S3Client, UploadPartCopyCommand } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../../functions/ledger/ledger.js';
import { unitAsset } from '../../support/unit-asset.js';
import { CopyContinuesError } from '../../../functions/replication/errors.js';
import { restoreVersion } from '../../../functions/restore/restore-data.js';
import { S3VersionedStore } from '../../../functions/storage/s3-versioned-store.js';
import { MemoryLedger } from '../../support/memory-ledger.js';
import { mockMultipartCopyOf } from '../../support/multipart-copy-mock.js';
import { versionedWithoutObjectLock } from '../../support/s3-mock.js';

/**
 * A restore's multipart copy that does not finish: the restore counts the key as failed and moves
 * on, so its upload in the target bucket and its progress in the ledger are given up at once,
 * whatever the error (the local AWS cannot fail a part copy with a 500 after the SDK's retries).
 */
const s3 = mockClient(S3Client);
const asset = unitAsset();
const NOW = new Date('2026-11-26T12:00:00Z');
const BYTES = Buffer.from('0123456789ab'); // 3 parts of 5
const version: LedgerEntry = {
  asset: 'training',
  key: 'train/a.bin',
  sourceVersionId: 'v1',
  entryType: 'object',
  state: 'replicated',
  sourceLastModified: '2026-11-26T11:00:00.000Z',
  size: BYTES.length,
  replicaKey: 'train/a.bin',
  replicaVersionId: 'r1',
  partSizeBytes: 5,
  attempts: 1,
};
const decision = {
  key: 'train/a.bin',
  targetKey: 'restored/a.bin',
  action: 'restore' as const,
  reason: 'absent-at-target' as never,
  version,
  targetHasKey: false,
};
const internal = () =>
  Object.assign(new Error('We encountered an internal error.'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } });

let ledger: MemoryLedger;
const restore = (outOfTime = () => false) => {
  const store = new S3VersionedStore(new S3Client({ region: 'us-east-1' }));
  const deps = {
    ledger,
    replica: store,
    target: store,
    now: () => NOW,
    remainingMs: () => (outOfTime() ? 0 : Infinity),
    multipart: { thresholdBytes: 6, partSizeBytes: 5, partConcurrency: 1 },
  };
  return restoreVersion(deps, asset, 'restore-target', 'f'.repeat(32), decision);
};

beforeEach(() => {
  s3.reset();
  ledger = new MemoryLedger();
  s3.on(HeadObjectCommand).resolves({ ContentLength: BYTES.length, ETag: '"e"' });
  versionedWithoutObjectLock(s3);
  mockMultipartCopyOf(s3, BYTES);
});

describe('restoreVersion: a multipart copy that fails', () => {
  it("with an error worth retrying (a 500 after the SDK's retries): the upload is aborted and its progress deleted, as the restore moves on", async () => {
    s3.on(UploadPartCopyCommand)
      .resolvesOnce({ CopyPartResult: { ETag: '"p1"' } })
      .rejects(internal());
    await expect(restore()).rejects.toThrow(/internal error/);
    expect(s3).toHaveReceivedCommandWith(AbortMultipartUploadCommand, { Bucket: 'restore-target', Key: 'restored/a.bin', UploadId: 'u1' });
    expect(ledger.uploads.size).toBe(0);
  });

  it('that continues in the next invocation keeps its upload and its progress', async () => {
    s3.on(UploadPartCopyCommand).resolves({ CopyPartResult: { ETag: '"p1"' } });
    let parts = 0;
    await expect(restore(() => ++parts > 1)).rejects.toBeInstanceOf(CopyContinuesError);
    expect(s3).not.toHaveReceivedCommand(AbortMultipartUploadCommand);
    expect([...ledger.uploads.values()]).toEqual([expect.objectContaining({ uploadId: 'u1' })]);
  });
});
