import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChecksumMismatchError } from '../../functions/replication/errors.js';
import { compositeSha256, copyMultipart, planParts } from '../../functions/replication/multipart-copy.js';
import type { CopiedPart, CopyRequest, PartRange, VersionedStore } from '../../functions/storage/versioned-store.js';
import { MemoryLedger } from '../support/memory-ledger.js';

/**
 * The path the local AWS cannot take: S3 reports a SHA-256 for every copied part, so the copy is
 * verified before CompleteMultipartUpload and a bad part never becomes visible.
 */
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const data = Buffer.from(Array.from({ length: 23 }, (_, i) => i));
const request: CopyRequest = {
  source: { bucket: 'src', key: 'k', versionId: 'v1' },
  target: { bucket: 'dst', key: 'k' },
  details: { size: data.length, metadata: {} },
  metadata: {},
  storageClass: 'STANDARD',
};

function stores(corruptPart?: number) {
  const calls: string[] = [];
  const source = {
    sha256Range: async (_ref: unknown, start: number, end: number) => sha(data.subarray(start, end + 1)),
    tagging: async () => '',
  } as unknown as VersionedStore;
  const replica = {
    createUpload: async () => (calls.push('create'), 'u1'),
    copyPart: async (_r: CopyRequest, _u: string, part: PartRange): Promise<CopiedPart> => {
      calls.push(`part ${part.partNumber}`);
      const bytes = data.subarray(part.start, part.end + 1);
      return {
        partNumber: part.partNumber,
        etag: `e${part.partNumber}`,
        sha256: sha(part.partNumber === corruptPart ? Buffer.from('x') : bytes),
      };
    },
    completeUpload: async () => (calls.push('complete'), { versionId: 'r1' }),
    abortUpload: async () => void calls.push('abort'),
    listParts: async () => [],
    sha256Range: async () => {
      throw new Error('the replica must not be read when S3 reported every part digest');
    },
  } as unknown as VersionedStore;
  return { source, replica, calls };
}

const deps = (s: ReturnType<typeof stores>) => ({
  source: s.source,
  replica: s.replica,
  ledger: new MemoryLedger(),
  now: () => new Date('2026-11-26T12:00:00Z'),
  remainingMs: () => Infinity,
  reserveMs: 30_000,
});

describe('copyMultipart with part digests from S3', () => {
  it('verifies every part before completing, without reading the replica', async () => {
    const s = stores();
    const copy = await copyMultipart(deps(s), 'a', 'k', 'v1', request, { partSizeBytes: 5, partConcurrency: 2, mode: 'copy' });
    expect(s.calls.at(-1)).toBe('complete');
    expect(copy.sha256Composite).toBe(compositeSha256(planParts(data.length, 5).map((p) => sha(data.subarray(p.start, p.end + 1)))));
  });

  it('a part whose digest differs is never completed: the upload is aborted', async () => {
    const s = stores(3);
    await expect(
      copyMultipart(deps(s), 'a', 'k', 'v1', request, { partSizeBytes: 5, partConcurrency: 2, mode: 'copy' }),
    ).rejects.toBeInstanceOf(ChecksumMismatchError);
    expect(s.calls).not.toContain('complete');
    expect(s.calls.at(-1)).toBe('abort');
  });
});
