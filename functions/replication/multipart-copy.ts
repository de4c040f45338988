import { createHash } from 'node:crypto';
import type { ReplicationLedger } from '../ledger/ledger.js';
import type { CopiedPart, CopyRequest, CopyResult, ObjectRef, PartRange, VersionedStore } from '../storage/versioned-store.js';
import { hashingThrough } from '../storage/hashing.js';
import { ChecksumMismatchError, CopyContinuesError } from './errors.js';

/** S3's limits for a multipart upload. */
export const MAX_PARTS = 10_000;
const MIB = 1024 ** 2;

export interface MultipartSettings {
  partSizeBytes: number;
  partConcurrency: number;
  /**
   * "copy": UploadPartCopy, server-side (same provider and credentials). "stream": each part is read
   * from the source and uploaded (another endpoint or account); memory holds no more than the
   * stream buffers of `partConcurrency` parts, whatever the object's size.
   */
  mode: 'copy' | 'stream';
}

/** The configured part size, raised (to a whole MiB) when the object would need more than 10,000 parts. */
export function partSizeFor(size: number, configured: number): number {
  const needed = Math.ceil(size / MAX_PARTS);
  return needed <= configured ? configured : Math.ceil(needed / MIB) * MIB;
}

export function planParts(size: number, partSize: number): PartRange[] {
  const parts: PartRange[] = [];
  for (let start = 0, n = 1; start < size; start += partSize, n++) {
    parts.push({ partNumber: n, start, end: Math.min(size, start + partSize) - 1 });
  }
  return parts;
}

/** S3's composite checksum: SHA-256 of the concatenated part digests, "-<parts>". Hex here. */
export function compositeSha256(partDigestsHex: string[]): string {
  const hash = createHash('sha256');
  for (const digest of partDigestsHex) hash.update(Buffer.from(digest, 'hex'));
  return `${hash.digest('hex')}-${partDigestsHex.length}`;
}

async function pool<T, R>(items: T[], concurrency: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

export interface MultipartDeps {
  source: VersionedStore;
  replica: VersionedStore;
  ledger: ReplicationLedger;
  clock: () => Date;
  shouldYield: () => boolean;
}

export interface MultipartCopy {
  result: CopyResult;
  sha256Composite: string;
  partSizeBytes: number;
}

/**
 * Per-part verification: each part of the source version is hashed and compared with the same
 * byte range of the replica (the digest S3 reported for the copied part, or the range read back).
 * A source and a replica agree on every part exactly when their composite checksums agree.
 */
export async function verifyParts(
  deps: Pick<MultipartDeps, 'source' | 'replica'>,
  source: ObjectRef,
  replica: ObjectRef,
  parts: PartRange[],
  concurrency: number,
  reported: Map<number, string | undefined> = new Map(),
  sourceDigests: Map<number, string> = new Map(),
): Promise<string> {
  const digests = await pool(parts, concurrency, async (part) => {
    const [expected, actual] = await Promise.all([
      sourceDigests.get(part.partNumber) ?? deps.source.sha256Range(source, part.start, part.end),
      reported.get(part.partNumber) ?? deps.replica.sha256Range(replica, part.start, part.end),
    ]);
    return { expected, actual };
  });
  const sourceComposite = compositeSha256(digests.map((d) => d.expected));
  const replicaComposite = compositeSha256(digests.map((d) => d.actual));
  if (sourceComposite !== replicaComposite) {
    throw new ChecksumMismatchError(`composite ${sourceComposite}`, `composite ${replicaComposite}`, replica.versionId);
  }
  return sourceComposite;
}

/**
 * Copies a large version with multipart UploadPartCopy, parts in parallel, resumable: the upload id
 * is kept in the ledger, so an invocation that runs out of time (CopyContinuesError) or crashes is
 * continued by the next one from the parts S3 already holds. Nothing is visible in the replica
 * until the upload completes. A copy that gives up (a permanent error) aborts its upload; the
 * replica bucket's lifecycle rule aborts any upload left behind after 7 days.
 */
export async function copyMultipart(
  deps: MultipartDeps,
  asset: string,
  key: string,
  ledgerVersionId: string,
  request: CopyRequest,
  settings: MultipartSettings,
): Promise<MultipartCopy> {
  const size = request.details.size;
  const partSizeBytes = partSizeFor(size, settings.partSizeBytes);
  const parts = planParts(size, partSizeBytes);
  const target = request.target;

  let uploadId: string | undefined;
  let done: CopiedPart[] = [];
  const saved = await deps.ledger.upload(asset, key, ledgerVersionId);
  if (saved && saved.partSizeBytes !== partSizeBytes) {
    // The part size changed (a new setting): the old upload cannot be resumed; do not leave it behind.
    await deps.replica.abortUpload(target, saved.uploadId).catch(() => undefined);
  } else if (saved) {
    try {
      done = await deps.replica.listParts(target, saved.uploadId);
      uploadId = saved.uploadId;
    } catch (error: unknown) {
      if ((error as { name?: string })?.name !== 'NoSuchUpload') throw error; // aborted or expired: start over
    }
  }
  if (!uploadId) {
    const tagging = await deps.source.tagging(request.source);
    uploadId = await deps.replica.createUpload({ ...request, tagging, checksums: settings.mode === 'copy' });
    await deps.ledger.saveUpload(asset, key, ledgerVersionId, { uploadId, partSizeBytes, startedAt: deps.clock().toISOString() });
  }

  try {
    const have = new Set(done.map((p) => p.partNumber));
    const todo = parts.filter((p) => !have.has(p.partNumber));
    const streamed = new Map<number, string>();
    await pool(todo, settings.partConcurrency, async (part) => {
      if (deps.shouldYield()) throw new CopyContinuesError(`${done.length} of ${parts.length} parts copied`);
      done.push(
        settings.mode === 'copy'
          ? await deps.replica.copyPart(request, uploadId, part)
          : await streamPart(deps, request, uploadId, part, streamed),
      );
    });
    const reported = new Map(done.map((p) => [p.partNumber, p.sha256]));
    const serverSide = parts.every((p) => reported.get(p.partNumber) !== undefined);
    // With part digests from S3, verify before completing: a bad part never becomes visible.
    const early = serverSide
      ? await verifyParts(deps, request.source, { ...target, versionId: '' }, parts, settings.partConcurrency, reported, streamed)
      : undefined;
    const result = await deps.replica.completeUpload(target, uploadId, done);
    await deps.ledger.clearUpload(asset, key, ledgerVersionId);
    const replicaRef = { ...target, versionId: result.versionId };
    const sha256Composite =
      early ?? (await verifyParts(deps, request.source, replicaRef, parts, settings.partConcurrency, new Map(), streamed));
    const retries = (result.retries ?? 0) + done.reduce((n, p) => n + (p.retries ?? 0), 0);
    return { result: { ...result, retries }, sha256Composite, partSizeBytes };
  } catch (error: unknown) {
    if (!(error instanceof CopyContinuesError) && isPermanent(error)) {
      await deps.replica.abortUpload(target, uploadId).catch(() => undefined);
      await deps.ledger.clearUpload(asset, key, ledgerVersionId);
    }
    throw error;
  }
}

/**
 * Reads one part of the source and uploads it, hashing the bytes on their way through: the digest
 * is the source part's (no second read of the source to verify it).
 */
async function streamPart(
  deps: Pick<MultipartDeps, 'source' | 'replica'>,
  request: CopyRequest,
  uploadId: string,
  part: PartRange,
  digests: Map<number, string>,
): Promise<CopiedPart> {
  const source = await deps.source.openRange(request.source, part.start, part.end);
  const body = hashingThrough(source, part.end - part.start + 1, `part ${part.partNumber}`);
  const uploaded = await deps.replica.uploadPart(request.target, uploadId, part, body.stream);
  digests.set(part.partNumber, body.digest());
  return uploaded;
}

/** Errors after which resuming the same upload cannot succeed. */
function isPermanent(error: unknown): boolean {
  const name = (error as { name?: string })?.name ?? '';
  return ['NoSuchKey', 'NoSuchVersion', 'AccessDenied', 'InvalidRange', 'ChecksumMismatchError', 'NoSuchBucket'].includes(name);
}
