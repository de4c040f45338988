import { createHash } from 'node:crypto';
import type { ReplicationLedger, UploadProgress } from '../ledger/ledger.js';
import type { CopiedPart, CopyRequest, CopyResult, PartRange, VersionedStore } from '../storage/versioned-store.js';
import { hashingThrough } from '../storage/hashing.js';
import { ChecksumMismatchError, CopyContinuesError, SourceChangedError } from './errors.js';
import type { InvocationTime } from '../shared/invocation-time.js';

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

/**
 * Runs `work` over the items, `concurrency` at a time. After the first failure no item is started;
 * the ones in flight are awaited (so none writes after the caller has moved on), then it rethrows.
 */
async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (error: unknown) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failure) throw failure.error;
}

/** With less than reserveMs left, the copy records its progress and continues later (CopyContinuesError). */
export interface MultipartDeps extends InvocationTime {
  source: VersionedStore;
  replica: VersionedStore;
  ledger: ReplicationLedger;
  reserveMs: number;
}

const outOfTime = (deps: Pick<MultipartDeps, 'remainingMs' | 'reserveMs'>) => deps.remainingMs() < deps.reserveMs;

export interface MultipartCopy {
  result: CopyResult;
  sha256Composite: string;
  partSizeBytes: number;
  /** The verified replica version was an earlier attempt's complete copy (its ledger write was lost). */
  adopted?: boolean;
}

/**
 * The copy's progress as the ledger keeps it (UPLOAD#<version>): the upload, the SHA-256 of every
 * source part hashed so far, and, once the upload is complete, which parts of the replica version
 * were read back and matched. Saves are serialised: one write in flight, the latest state next.
 */
class Progress {
  uploadId = '';
  startedAt: string;
  sourceEtag: string | undefined;
  readonly source = new Map<number, string>();
  replicaVersionId: string | undefined;
  readonly verified = new Set<number>();
  adopted = false;
  private dirty = false;
  private writing: Promise<void> | undefined;

  constructor(
    private readonly deps: Pick<MultipartDeps, 'ledger' | 'now'>,
    private readonly id: { asset: string; key: string; version: string },
    readonly partSizeBytes: number,
    saved: UploadProgress | undefined,
  ) {
    this.startedAt = saved?.startedAt ?? deps.now().toISOString();
    this.sourceEtag = saved?.sourceEtag;
    if (!saved) return;
    this.uploadId = saved.uploadId;
    for (const [n, digest] of Object.entries(saved.sourcePartSha256 ?? {})) this.source.set(Number(n), digest);
    this.replicaVersionId = saved.replicaVersionId;
    for (const n of saved.verifiedParts ?? []) this.verified.add(n);
    this.adopted = saved.adopted ?? false;
  }

  /** From now on the parts of this replica version are verified (none of them is yet). */
  verifying(replicaVersionId: string, adopted: boolean): void {
    this.replicaVersionId = replicaVersionId;
    this.verified.clear();
    this.adopted = adopted;
  }

  /**
   * The copy gives up (a mismatch, a permanent failure): its upload is aborted, unless it completed
   * (then there is nothing to abort), and nothing of its progress is kept, so the next attempt starts
   * afresh. When the abort fails the progress is kept, so a later attempt aborts it.
   */
  async giveUp(target: { bucket: string; key: string }, replica: VersionedStore): Promise<void> {
    await this.writing?.catch(() => undefined);
    if (this.uploadId && (!this.replicaVersionId || this.adopted)) await abortIfOpen(replica, target, this.uploadId);
    await this.clear();
  }

  /** Nothing of this copy is kept (it succeeded, or gave up). */
  async clear(): Promise<void> {
    await this.writing?.catch(() => undefined);
    this.dirty = false;
    this.uploadId = '';
    this.source.clear();
    this.replicaVersionId = undefined;
    this.verified.clear();
    this.adopted = false;
    await this.deps.ledger.clearUpload(this.id.asset, this.id.key, this.id.version);
  }

  /** Saves the current state; concurrent saves are coalesced into one write after the one in flight. */
  save(): Promise<void> {
    this.dirty = true;
    this.writing ??= this.write();
    return this.writing;
  }

  private async write(): Promise<void> {
    try {
      while (this.dirty) {
        this.dirty = false;
        await this.deps.ledger.saveUpload(this.id.asset, this.id.key, this.id.version, this.snapshot());
      }
    } finally {
      // In the same step as the last check of `dirty`: a save() after it starts a new write.
      this.writing = undefined;
    }
  }

  private snapshot(): UploadProgress {
    return {
      uploadId: this.uploadId,
      partSizeBytes: this.partSizeBytes,
      startedAt: this.startedAt,
      ...(this.sourceEtag && { sourceEtag: this.sourceEtag }),
      sourcePartSha256: Object.fromEntries(this.source),
      ...(this.replicaVersionId && { replicaVersionId: this.replicaVersionId, verifiedParts: [...this.verified] }),
      ...(this.adopted && { adopted: true }),
    };
  }
}

/**
 * Copies a large version with multipart UploadPartCopy (or streams it, see `mode`), parts in
 * parallel, and verifies it part by part; resumable across invocations at every step.
 *
 * Verification is *composite*: each part's source bytes are hashed (as they are streamed, or by a
 * range read next to the part copy) and compared with the replica's part: the digest S3 returns for
 * the copied part when it returns one (checked before CompleteMultipartUpload, so a bad part never
 * becomes visible), else the same byte range read back from the completed replica version. The
 * recorded checksum is SHA-256 over the concatenated part digests, "-<parts>". Every source digest
 * and every verified part is saved in the ledger's upload record as it is known, so an invocation
 * that runs out of time (CopyContinuesError, between parts) or crashes is continued by the next
 * without copying, hashing or reading back a finished part again.
 *
 * `earlier` is an earlier attempt's complete copy of this version that no ledger entry claims (its
 * ledger write was lost): it is verified the same way and adopted, or copied over when it differs.
 * Nothing is visible in the replica until the upload completes. A copy that gives up (a permanent
 * error or a mismatch) aborts its upload and forgets its progress; the replica bucket's lifecycle
 * rule aborts any upload left behind after 7 days.
 */
export async function copyMultipart(
  deps: MultipartDeps,
  asset: string,
  key: string,
  ledgerVersionId: string,
  request: CopyRequest,
  settings: MultipartSettings,
  earlier?: string,
): Promise<MultipartCopy> {
  const size = request.details.size;
  const partSizeBytes = partSizeFor(size, settings.partSizeBytes);
  const parts = planParts(size, partSizeBytes);
  const target = request.target;

  let saved = await deps.ledger.upload(asset, key, ledgerVersionId);
  const etag = request.details.etag;
  if (saved && (saved.partSizeBytes !== partSizeBytes || (saved.sourceEtag && etag && saved.sourceEtag !== etag))) {
    // The part size changed (a new setting), or the source's "null" version was overwritten since:
    // neither the upload nor the digests can be reused.
    await forgetUpload(deps, asset, key, ledgerVersionId, target, saved);
    saved = undefined;
  }
  const progress = new Progress(deps, { asset, key, version: ledgerVersionId }, partSizeBytes, saved);
  progress.sourceEtag ??= etag;

  try {
    if (!progress.replicaVersionId && earlier) {
      progress.verifying(earlier, true);
      await progress.save();
    }
    if (progress.replicaVersionId) {
      // A complete replica version whose verification an earlier invocation began (or an adoption).
      const { replicaVersionId: versionId, adopted, uploadId } = progress;
      try {
        const sha256Composite = await verifyReplica(deps, request, parts, settings, progress);
        if (adopted && uploadId) await deps.replica.abortUpload(target, uploadId).catch(() => undefined);
        await progress.clear();
        return { result: { versionId }, sha256Composite, partSizeBytes, adopted };
      } catch (error: unknown) {
        if (!(error instanceof ChecksumMismatchError && adopted)) throw error;
        // An earlier attempt's copy that differs is not adopted (it stays, unclaimed): copy again.
        await progress.giveUp(target, deps.replica);
      }
    }
    return await copyParts(deps, request, parts, settings, progress);
  } catch (error: unknown) {
    // The copy's own error is what is recorded; a failed abort keeps the progress for a later attempt.
    if (!(error instanceof CopyContinuesError) && isPermanent(error)) await progress.giveUp(target, deps.replica).catch(() => undefined);
    throw error;
  }
}

/**
 * Aborts an upload; one that is gone already (aborted, expired by the lifecycle rule, completed) is
 * fine. Any other failure is thrown: the caller then keeps the progress that names the upload.
 */
async function abortIfOpen(replica: VersionedStore, target: { bucket: string; key: string }, uploadId: string): Promise<void> {
  try {
    await replica.abortUpload(target, uploadId);
  } catch (error: unknown) {
    const name = (error as { name?: string })?.name;
    if (name !== 'NoSuchUpload' && name !== 'NotFound') throw error;
  }
}

/**
 * Gives up the saved multipart copy of a version, whatever state it reached: aborts its upload
 * unless the upload completed (a replica version under verification stays, unclaimed: the replica
 * never loses a version), then deletes the saved progress. For a version that is gone from the
 * source (permanently deleted between attempts) and for saved progress that cannot be reused.
 * Without saved progress it does nothing; repeated, it does nothing more.
 */
export async function forgetUpload(
  deps: Pick<MultipartDeps, 'replica' | 'ledger'>,
  asset: string,
  key: string,
  ledgerVersionId: string,
  target: { bucket: string; key: string },
  saved?: UploadProgress,
): Promise<void> {
  const progress = saved ?? (await deps.ledger.upload(asset, key, ledgerVersionId));
  if (!progress) return;
  if (progress.uploadId && (!progress.replicaVersionId || progress.adopted)) await abortIfOpen(deps.replica, target, progress.uploadId);
  await deps.ledger.clearUpload(asset, key, ledgerVersionId);
}

/** Resumes (or creates) the upload, copies and hashes the parts it lacks, completes it, verifies the result. */
async function copyParts(
  deps: MultipartDeps,
  request: CopyRequest,
  parts: PartRange[],
  settings: MultipartSettings,
  progress: Progress,
): Promise<MultipartCopy> {
  const target = request.target;
  let listed: CopiedPart[] = [];
  if (progress.uploadId) {
    try {
      listed = await deps.replica.listParts(target, progress.uploadId);
    } catch (error: unknown) {
      if ((error as { name?: string })?.name !== 'NoSuchUpload') throw error;
      progress.uploadId = ''; // aborted or expired: start over (the source digests still hold)
    }
  }
  if (!progress.uploadId) {
    const tagging = await deps.source.tagging(request.source, request.details);
    progress.uploadId = await deps.replica.createUpload({ ...request, tagging, checksums: settings.mode === 'copy' });
    progress.startedAt = deps.now().toISOString();
    await progress.save();
  }
  const uploadId = progress.uploadId;
  const copied = new Map(listed.map((p) => [p.partNumber, p]));

  await pool(parts, settings.partConcurrency, async (part) => {
    const n = part.partNumber;
    let have = copied.get(n);
    let digest = progress.source.get(n);
    if (!have || !digest) {
      if (outOfTime(deps)) throw new CopyContinuesError(`${copied.size} of ${parts.length} parts copied`);
      if (settings.mode === 'stream' && !have) {
        const streamed = await streamPart(deps, request, uploadId, part);
        if (digest && digest !== streamed.digest) {
          throw new ChecksumMismatchError(`part ${n} ${digest}`, `part ${n} read again ${streamed.digest}`, `(upload ${uploadId})`);
        }
        [have, digest] = [streamed.part, streamed.digest];
      } else {
        [have, digest] = await Promise.all([
          have ?? deps.replica.copyPart(request, uploadId, part),
          digest ?? deps.source.sha256Range(request.source, part.start, part.end),
        ]);
      }
      copied.set(n, have);
      progress.source.set(n, digest);
      await progress.save();
    }
    // A digest S3 reported for the part is checked now, before anything becomes visible.
    if (have.sha256 !== undefined && have.sha256 !== digest) {
      throw new ChecksumMismatchError(`part ${n} ${digest}`, `part ${n} ${have.sha256}`, `(upload ${uploadId})`);
    }
  });

  const done = parts.map((p) => copied.get(p.partNumber)!);
  if (request.source.versionId === 'null') {
    // Only a "null" version can change under the copy: parts from two contents would each match.
    const now = (await deps.source.describe(request.source)).etag;
    if (now !== progress.sourceEtag)
      throw new SourceChangedError(`${request.source.key}: overwritten during its copy (ETag ${progress.sourceEtag} became ${now})`);
  }
  const result = await deps.replica.completeUpload(target, uploadId, done);
  progress.verifying(result.versionId, false);
  // Every part already checked against the digest S3 reported for it: nothing to read back.
  for (const p of done) if (p.sha256 !== undefined) progress.verified.add(p.partNumber);
  if (progress.verified.size < parts.length) await progress.save();
  const sha256Composite = await verifyReplica(deps, request, parts, settings, progress);
  await progress.clear();
  const retries = (result.retries ?? 0) + done.reduce((n, p) => n + (p.retries ?? 0), 0);
  return { result: { ...result, retries }, sha256Composite, partSizeBytes: progress.partSizeBytes, adopted: false };
}

/**
 * Compares every part of the replica version under verification that is not verified yet with the
 * source's part (its saved digest, or the range hashed now), saving each match. Returns the
 * composite checksum once every part matched; throws at the first part that differs.
 */
async function verifyReplica(
  deps: MultipartDeps,
  request: CopyRequest,
  parts: PartRange[],
  settings: MultipartSettings,
  progress: Progress,
): Promise<string> {
  const replica = { ...request.target, versionId: progress.replicaVersionId! };
  const todo = parts.filter((p) => !progress.verified.has(p.partNumber));
  await pool(todo, settings.partConcurrency, async (part) => {
    if (outOfTime(deps)) throw new CopyContinuesError(`${progress.verified.size} of ${parts.length} parts verified`);
    const n = part.partNumber;
    const [expected, actual] = await Promise.all([
      progress.source.get(n) ?? deps.source.sha256Range(request.source, part.start, part.end),
      deps.replica.sha256Range(replica, part.start, part.end),
    ]);
    if (expected !== actual) throw new ChecksumMismatchError(`part ${n} ${expected}`, `part ${n} ${actual}`, replica.versionId);
    progress.source.set(n, expected);
    progress.verified.add(n);
    await progress.save();
  });
  return compositeSha256(parts.map((p) => progress.source.get(p.partNumber)!));
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
): Promise<{ part: CopiedPart; digest: string }> {
  const source = await deps.source.openRange(request.source, part.start, part.end);
  const body = hashingThrough(source, part.end - part.start + 1, `part ${part.partNumber}`);
  const uploaded = await deps.replica.uploadPart(request.target, uploadId, part, body.stream);
  return { part: uploaded, digest: body.digest() };
}

/**
 * Errors after which resuming the same upload cannot succeed. "NotFound" is a 404 without an error
 * code in its body (S3 sends none for HEAD, and a part copy whose source version is gone can come
 * back that way): the SDK names it by its status.
 */
function isPermanent(error: unknown): boolean {
  const name = (error as { name?: string })?.name ?? '';
  return [
    'NoSuchKey',
    'NoSuchVersion',
    'NotFound',
    'AccessDenied',
    'InvalidRange',
    'ChecksumMismatchError',
    'SourceChangedError',
    'NoSuchBucket',
  ].includes(name);
}
