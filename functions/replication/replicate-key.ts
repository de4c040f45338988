import { type LedgerEntry, ledgerVersionId, type PendingVersion, type ReplicationLedger } from '../ledger/ledger.js';
import { replicaKeyFor } from '../policy/assets.js';
import { DEFAULT_MULTIPART, type MultipartPolicy } from '../policy/multipart.js';
import type { ObjectAsset } from '../policy/schema.js';
import { REPLICA_METADATA } from '../storage/replica-metadata.js';
import { hashingThrough } from '../storage/hashing.js';
import type { VersionEntry, VersionedStore } from '../storage/versioned-store.js';
import { ChecksumMismatchError, CopyContinuesError, KeyBusyError, ReplicaKeyTooLongError } from './errors.js';
import { copyMultipart, forgetUpload } from './multipart-copy.js';
import { describeError } from '../shared/errors.js';
import { MAX_KEY_BYTES } from '../shared/s3-keys.js';

export interface ReplicationDeps {
  source: VersionedStore;
  replica: VersionedStore;
  ledger: ReplicationLedger;
  now: () => Date;
  /** Identifies this invocation in the key's lease. */
  leaseOwner: string;
  leaseSeconds: number;
  multipart?: MultipartPolicy;
  /**
   * False when the source is on another endpoint or account: nothing can be copied server-side,
   * every version is streamed (read from the source, written to the replica).
   */
  serverSideCopy?: boolean;
  /** Milliseconds left in the invocation (none given: no limit); long copies stop and continue later. */
  remainingMs?: () => number;
  /** Time a long copy leaves itself to record its progress and queue its continuation. Default 30 s. */
  reserveMs?: number;
}

export interface ReplicatedVersionReport {
  asset: string;
  key: string;
  sourceVersionId: string;
  entryType: 'object' | 'delete-marker';
  replicaVersionId: string;
  sha256?: string;
  sha256Composite?: string;
  partSizeBytes?: number;
  /** Requests the SDK repeated (throttling, 5xx) during the copy. */
  copyRetries?: number;
  size: number;
  lagSeconds: number;
  /** The replica already held this version (an earlier attempt crashed before the ledger write). */
  adopted: boolean;
}

export interface KeyOutcome {
  asset: string;
  key: string;
  replicated: ReplicatedVersionReport[];
  /** Source versions that were already replicated (duplicate or late events change nothing). */
  alreadyReplicated: number;
}

/** At most this many extra syncs when other invocations keep flagging the key meanwhile. */
const MAX_RESYNCS = 10;

const idOf = (v: VersionEntry) => ledgerVersionId(v.versionId, v.lastModified);

const pendingOf = (asset: ObjectAsset, key: string, v: VersionEntry): PendingVersion => ({
  asset: asset.name,
  key,
  sourceVersionId: idOf(v),
  entryType: v.kind,
  sourceLastModified: v.lastModified.toISOString(),
  size: v.size,
});

/**
 * Makes the replica of one key match the source, version by version, oldest first. The event that
 * led here is only a hint: the source's version list is the truth, the ledger says which versions
 * are done, so any number of duplicated, late or reordered events end in the same replica.
 * Stops at the first version that fails, so the replica never gets versions out of order.
 */
export async function replicateKey(
  deps: ReplicationDeps,
  asset: ObjectAsset,
  key: string,
  prelisted?: VersionEntry[],
): Promise<KeyOutcome> {
  const replicaKey = replicaKeyFor(asset, key);
  if (Buffer.byteLength(replicaKey, 'utf8') > MAX_KEY_BYTES) {
    const error = new ReplicaKeyTooLongError(`replica key for "${key}" is longer than ${MAX_KEY_BYTES} bytes; shorten replica.prefix`);
    await deps.ledger.markKeyFailed(asset.name, key, describeError(error), deps.now());
    throw error;
  }
  if (!(await deps.ledger.acquireLease(asset.name, key, deps.leaseOwner, deps.now(), deps.leaseSeconds))) {
    // The holder syncs once more before it releases, so this change is not left for the retry.
    await deps.ledger.flagLease(asset.name, key);
    throw new KeyBusyError(`another invocation is replicating "${key}" of ${asset.name}; it will sync again`);
  }
  const outcome: KeyOutcome = { asset: asset.name, key, replicated: [], alreadyReplicated: 0 };
  let released = false;
  try {
    for (let pass = 0; pass <= MAX_RESYNCS; pass++) {
      const sync = await syncKey(deps, asset, key, replicaKey, pass === 0 ? prelisted : undefined);
      outcome.replicated.push(...sync.replicated);
      outcome.alreadyReplicated = sync.alreadyReplicated;
      if ((await deps.ledger.releaseLease(asset.name, key, deps.leaseOwner)) === 'released') {
        released = true;
        break;
      }
    }
    return outcome;
  } finally {
    // On a failure the lease is let go even when flagged (the first call clears the flag): the
    // flagging message is retried, and a continuation queued now must not find the key busy.
    if (!released && (await deps.ledger.releaseLease(asset.name, key, deps.leaseOwner)) === 'flagged') {
      await deps.ledger.releaseLease(asset.name, key, deps.leaseOwner);
    }
  }
}

/**
 * `prelisted`: the key's source history as listed before its lease was taken (with other keys of
 * the batch, Replicator.prefetch). Used only when it holds every version the ledger knows: a
 * version the ledger has and the listing lacks was written (and replicated) after the listing, and
 * such a listing would misread it as deleted from the source; then the key is listed again. A
 * version written after the listing and not yet in the ledger is left to its own event.
 */
async function syncKey(
  deps: ReplicationDeps,
  asset: ObjectAsset,
  key: string,
  replicaKey: string,
  prelisted: VersionEntry[] | undefined,
): Promise<KeyOutcome> {
  let sourceVersions: VersionEntry[];
  let entries: LedgerEntry[];
  try {
    const listing = () => deps.source.listVersions(asset.source.bucket, key);
    [sourceVersions, entries] = await Promise.all([prelisted ?? listing(), deps.ledger.entriesFor(asset.name, key)]);
    if (prelisted) {
      const listed = new Set(prelisted.map(idOf));
      if (entries.some((e) => e.entryType !== 'key' && !listed.has(e.sourceVersionId))) sourceVersions = await listing();
    }
  } catch (error: unknown) {
    // No version is known yet: the failure is recorded on the key, so the RPO still sees it.
    await deps.ledger.markKeyFailed(asset.name, key, describeError(error), deps.now());
    throw error;
  }
  if (entries.some((e) => e.entryType === 'key')) await deps.ledger.clearKeyFailure(asset.name, key);
  const versionEntries = entries.filter((e) => e.entryType !== 'key');
  const entryByVersion = new Map(versionEntries.map((e) => [e.sourceVersionId, e]));
  const inSource = new Set(sourceVersions.map(idOf));

  const goneFromSource = versionEntries.filter((e) => !inSource.has(e.sourceVersionId));
  for (const entry of goneFromSource) {
    // A multipart copy of it that began (and yielded, or failed) can never finish: its upload is
    // aborted and its progress forgotten first, so a failure here leaves the version to the next sync.
    if (entry.uploadSaved)
      await forgetUpload(deps, asset.name, key, entry.sourceVersionId, { bucket: asset.replica.bucket, key: replicaKey });
    if (entry.state !== 'replicated' && entry.state !== 'source-deleted') await deps.ledger.markSourceDeleted(entry, deps.now());
  }

  const todo = sourceVersions.filter((v) => entryByVersion.get(idOf(v))?.state !== 'replicated');
  const outcome: KeyOutcome = {
    asset: asset.name,
    key,
    replicated: [],
    alreadyReplicated: sourceVersions.length - todo.length,
  };
  if (todo.length > 0) {
    const seenAt = deps.now();
    await deps.ledger.markPending(
      todo.map((v) => pendingOf(asset, key, v)),
      seenAt,
      new Set(entryByVersion.keys()),
    );
    // The version being worked on: a failure (of it, or of reading the replica first) is recorded on it.
    let current = pendingOf(asset, key, todo[0]!);
    try {
      // An orphan copy can only come from an earlier attempt at todo[0], and every attempt records
      // the version as pending before it writes: a version the ledger has never seen has none.
      const attemptedBefore = entryByVersion.has(idOf(todo[0]!));
      const orphan = attemptedBefore ? await unclaimedLatestReplica(deps, asset, replicaKey, versionEntries) : undefined;
      for (const [i, version] of todo.entries()) {
        current = pendingOf(asset, key, version);
        const report = await replicateVersion(deps, asset, key, replicaKey, version, i === 0 ? orphan : undefined);
        await recordReplicated(deps, current, replicaKey, report, entryByVersion.get(current.sourceVersionId), seenAt);
        outcome.replicated.push(report);
      }
    } catch (error: unknown) {
      // A copy that continues in the next invocation is pending, not failed.
      if (!(error instanceof CopyContinuesError)) await deps.ledger.markFailed(current, describeError(error), deps.now());
      throw error;
    }
  } else if (goneFromSource.some((e) => e.state === 'replicated')) {
    outcome.replicated.push(...(await restateCurrent(deps, asset, key, replicaKey, sourceVersions, entryByVersion)));
  }
  return outcome;
}

/** `previous` is the version's entry as read under the lease (none when it was first seen at `seenAt`). */
async function recordReplicated(
  deps: ReplicationDeps,
  version: PendingVersion,
  replicaKey: string,
  report: ReplicatedVersionReport,
  previous: LedgerEntry | undefined,
  seenAt: Date,
) {
  await deps.ledger.markReplicated(version, {
    replicaKey,
    replicaVersionId: report.replicaVersionId,
    sha256: report.sha256,
    sha256Composite: report.sha256Composite,
    partSizeBytes: report.partSizeBytes,
    copyRetries: report.copyRetries,
    replicatedAt: deps.now().toISOString(),
    lagSeconds: report.lagSeconds,
    attempts: (previous?.attempts ?? 0) + 1,
    firstSeenAt: previous?.firstSeenAt ?? seenAt.toISOString(),
  });
}

/**
 * Versions were permanently deleted from the source (DeleteObject with a version id, e.g. an
 * "undelete" that removes a delete marker). The replica keeps every version it has, but its
 * current state must be the source's: the source's latest version is written on top again, or a
 * delete marker when the source's latest is a delete marker or nothing is left.
 */
async function restateCurrent(
  deps: ReplicationDeps,
  asset: ObjectAsset,
  key: string,
  replicaKey: string,
  sourceVersions: VersionEntry[],
  entryByVersion: Map<string, LedgerEntry>,
): Promise<ReplicatedVersionReport[]> {
  const latest = sourceVersions.at(-1);
  const replicaLatest = (await deps.replica.listVersions(asset.replica.bucket, replicaKey)).at(-1);
  const latestEntry = latest && entryByVersion.get(idOf(latest));
  if (!latest || latest.kind === 'delete-marker') {
    if (!replicaLatest || replicaLatest.kind === 'delete-marker') return [];
  } else if (replicaLatest && latestEntry?.replicaVersionId === replicaLatest.versionId) {
    return [];
  }
  if (!latest) {
    await deps.replica.addDeleteMarker(asset.replica.bucket, replicaKey);
    return [];
  }
  const report = await replicateVersion(deps, asset, key, replicaKey, latest, undefined);
  await recordReplicated(deps, pendingOf(asset, key, latest), replicaKey, report, latestEntry, deps.now());
  return [report];
}

interface Orphan {
  entry: VersionEntry;
  sourceVersionId?: string;
  sha256?: string;
}

/**
 * The replica's newest version when no ledger entry claims it: what an attempt that crashed after
 * its copy and before its ledger write leaves behind. Adopting it keeps copies to one per version.
 */
async function unclaimedLatestReplica(
  deps: ReplicationDeps,
  asset: ObjectAsset,
  replicaKey: string,
  entries: LedgerEntry[],
): Promise<Orphan | undefined> {
  const replicaVersions = await deps.replica.listVersions(asset.replica.bucket, replicaKey);
  const latest = replicaVersions.at(-1);
  if (!latest) return undefined;
  const claimed = new Set(entries.map((e) => e.replicaVersionId).filter(Boolean));
  if (claimed.has(latest.versionId)) return undefined;
  if (latest.kind === 'delete-marker') return { entry: latest };
  const details = await deps.replica.describe({ bucket: asset.replica.bucket, key: replicaKey, versionId: latest.versionId });
  return {
    entry: latest,
    sourceVersionId: details.metadata[REPLICA_METADATA.sourceVersionId],
    sha256: details.metadata[REPLICA_METADATA.sha256],
  };
}

async function replicateVersion(
  deps: ReplicationDeps,
  asset: ObjectAsset,
  key: string,
  replicaKey: string,
  version: VersionEntry,
  orphan: Orphan | undefined,
): Promise<ReplicatedVersionReport> {
  const base = { asset: asset.name, key, sourceVersionId: idOf(version), entryType: version.kind, size: version.size };
  const lag = () => Math.max(0, (deps.now().getTime() - version.lastModified.getTime()) / 1000);

  if (version.kind === 'delete-marker') {
    const adopted = orphan?.entry.kind === 'delete-marker';
    const replicaVersionId = adopted ? orphan.entry.versionId : await deps.replica.addDeleteMarker(asset.replica.bucket, replicaKey);
    return { ...base, replicaVersionId, lagSeconds: lag(), adopted };
  }

  const sourceRef = { bucket: asset.source.bucket, key, versionId: version.versionId };
  const multipart = deps.multipart ?? DEFAULT_MULTIPART;
  // A small version is read once for its headers and its hash; a large one is only described here.
  const small = version.size <= multipart.thresholdBytes && deps.serverSideCopy !== false;
  const described = small ? await deps.source.describeAndHash(sourceRef) : await deps.source.describe(sourceRef);
  const { sha256: hashed, ...details } = described as typeof described & { sha256?: string };
  const target = { bucket: asset.replica.bucket, key: replicaKey };
  const request = {
    source: sourceRef,
    target,
    details,
    metadata: {
      ...details.metadata,
      [REPLICA_METADATA.sourceVersionId]: idOf(version),
      [REPLICA_METADATA.asset]: asset.name,
    } as Record<string, string>,
    storageClass: asset.replica.storageClass,
  };
  if (details.size > multipart.thresholdBytes) {
    return { ...base, ...(await replicateLarge(deps, asset.name, key, version, request, orphan, multipart)), lagSeconds: lag() };
  }

  if (deps.serverSideCopy === false) {
    return { ...base, ...(await streamSmall(deps, asset, replicaKey, version, request, orphan)), lagSeconds: lag() };
  }
  const sourceSha256 = hashed ?? details.fullObjectSha256 ?? (await deps.source.sha256(sourceRef));
  if (orphan?.entry.kind === 'object' && orphan.sourceVersionId === idOf(version) && orphan.sha256 === sourceSha256) {
    const verified = await replicaSha256(deps, asset, replicaKey, orphan.entry.versionId);
    if (verified === sourceSha256) {
      return { ...base, replicaVersionId: orphan.entry.versionId, sha256: sourceSha256, lagSeconds: lag(), adopted: true };
    }
  }
  request.metadata[REPLICA_METADATA.sha256] = sourceSha256;
  const copy = await deps.replica.copy(request);
  const copied = copy.sha256 ?? (await replicaSha256(deps, asset, replicaKey, copy.versionId));
  if (copied !== sourceSha256) throw new ChecksumMismatchError(sourceSha256, copied, copy.versionId);
  return { ...base, replicaVersionId: copy.versionId, sha256: sourceSha256, copyRetries: copy.retries, lagSeconds: lag(), adopted: false };
}

/**
 * A version at most the multipart threshold from a source that cannot be copied server-side: one
 * streamed PutObject, the bytes hashed on their way through, the replica's SHA-256 checked against
 * that digest (and against the source's stored checksum, when it has one).
 */
async function streamSmall(
  deps: ReplicationDeps,
  asset: ObjectAsset,
  replicaKey: string,
  version: VersionEntry,
  request: Parameters<VersionedStore['copy']>[0],
  orphan: Orphan | undefined,
) {
  const stored = request.details.fullObjectSha256;
  if (orphan?.entry.kind === 'object' && orphan.sourceVersionId === idOf(version)) {
    const [source, replica] = await Promise.all([
      stored ?? deps.source.sha256(request.source),
      replicaSha256(deps, asset, replicaKey, orphan.entry.versionId),
    ]);
    if (source === replica) return { replicaVersionId: orphan.entry.versionId, sha256: source, adopted: true };
  }
  if (stored) request.metadata[REPLICA_METADATA.sha256] = stored;
  const tagging = await deps.source.tagging(request.source);
  const body = hashingThrough(await deps.source.openRange(request.source), request.details.size, 'object');
  const put = await deps.replica.put({ ...request, tagging }, body.stream, request.details.size);
  const read = body.digest();
  if (stored && stored !== read) throw new ChecksumMismatchError(stored, read, put.versionId);
  const written = await replicaSha256(deps, asset, replicaKey, put.versionId);
  if (written !== read) throw new ChecksumMismatchError(read, written, put.versionId);
  return { replicaVersionId: put.versionId, sha256: read, copyRetries: put.retries, adopted: false };
}

/**
 * A version above the multipart threshold: copied part by part and verified part by part, both
 * resumable across invocations (multipart-copy.ts); the ledger gets the composite checksum (and
 * the full SHA-256 when the source stores one). A complete copy whose ledger write was lost is
 * adopted after the same verification.
 */
async function replicateLarge(
  deps: ReplicationDeps,
  asset: string,
  key: string,
  version: VersionEntry,
  request: Parameters<VersionedStore['copy']>[0],
  orphan: Orphan | undefined,
  multipart: MultipartPolicy,
) {
  const full = request.details.fullObjectSha256;
  if (full) request.metadata[REPLICA_METADATA.sha256] = full;
  const earlier =
    orphan?.entry.kind === 'object' && orphan.sourceVersionId === idOf(version) && orphan.entry.size === request.details.size
      ? orphan.entry.versionId
      : undefined;
  const copy = await copyMultipart(
    { ...deps, remainingMs: deps.remainingMs ?? (() => Infinity), reserveMs: deps.reserveMs ?? 30_000 },
    asset,
    key,
    idOf(version),
    request,
    {
      partSizeBytes: multipart.partSizeBytes,
      partConcurrency: multipart.partConcurrency,
      mode: deps.serverSideCopy === false ? 'stream' : 'copy',
    },
    earlier,
  );
  return {
    replicaVersionId: copy.result.versionId,
    sha256: full,
    sha256Composite: copy.sha256Composite,
    partSizeBytes: copy.partSizeBytes,
    copyRetries: copy.result.retries,
    adopted: copy.adopted ?? false,
  };
}

async function replicaSha256(deps: ReplicationDeps, asset: ObjectAsset, replicaKey: string, versionId: string) {
  const ref = { bucket: asset.replica.bucket, key: replicaKey, versionId };
  return (await deps.replica.describe(ref)).fullObjectSha256 ?? (await deps.replica.sha256(ref));
}
