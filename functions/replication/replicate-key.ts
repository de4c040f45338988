import { type LedgerEntry, ledgerVersionId, type PendingVersion, type ReplicatedRecord, type ReplicationLedger } from '../ledger/ledger.js';
import { replicaKeyFor } from '../policy/assets.js';
import { DEFAULT_MULTIPART, type MultipartPolicy } from '../policy/multipart.js';
import { retainUntil, type LockSettings } from '../policy/object-lock.js';
import type { ObjectAsset } from '../policy/schema.js';
import { REPLICA_METADATA } from '../storage/replica-metadata.js';
import { hashingThrough } from '../storage/hashing.js';
import type { VersionDetails, VersionEntry, VersionedStore } from '../storage/versioned-store.js';
import { ChecksumMismatchError, CopyContinuesError, KeyBusyError, ReplicaKeyTooLongError, SourceChecksumMismatchError } from './errors.js';
import type { GroupCommit } from './group-commit.js';
import { copyMultipart, forgetUpload } from './multipart-copy.js';
import type { CreatedVersion } from './notification.js';
import { describeError } from '../shared/errors.js';
import { MAX_KEY_BYTES } from '../shared/s3-keys.js';

export interface ReplicationDeps {
  source: VersionedStore;
  replica: VersionedStore;
  ledger: ReplicationLedger;
  now: () => Date;
  /** Identifies this invocation in the claims it takes on versions. */
  claimOwner: string;
  /** How long a claim lives: longer than an invocation can run, so an expired claim's holder is dead. */
  claimSeconds: number;
  /**
   * The batch's group commit: syncs run in it and their replicated entries are written together.
   * Without it each version is one write of its own.
   */
  group?: GroupCommit;
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
  /** The Object Lock retention of the asset's replica versions (from each write), where the replica bucket has Object Lock on. */
  lock?: LockSettings;
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
  /** Versions another live invocation holds a claim on: its own message sees each of them through. */
  claimedElsewhere: number;
}

/** What the message said about the key: the version it created, and the key's history if the batch listed it. */
export interface KeyHint {
  version?: CreatedVersion;
  prelisted?: Promise<VersionEntry[] | undefined>;
}

const idOf = (v: VersionEntry) => ledgerVersionId(v.versionId, v.lastModified);

const pendingOf = (asset: ObjectAsset, key: string, v: VersionEntry): PendingVersion => ({
  asset: asset.name,
  key,
  sourceVersionId: idOf(v),
  entryType: v.kind,
  sourceLastModified: v.lastModified.toISOString(),
  size: v.size,
});

/** An event's version as a pending entry: its time is the event's until the listing gives the write time. */
const pendingOfEvent = (asset: ObjectAsset, key: string, v: CreatedVersion, now: Date): PendingVersion => ({
  asset: asset.name,
  key,
  sourceVersionId: v.versionId,
  entryType: v.kind,
  sourceLastModified: v.time ?? now.toISOString(),
  size: v.size ?? 0,
});

/**
 * An earlier attempt may have written a copy of the version whenever its entry existed before this
 * claim (a claim that expired or was let go, a failure, or an entry the protocol before claims
 * wrote as pending before it copied). A version first seen now has none.
 */
const attemptedBefore = (previous: LedgerEntry | undefined) => previous !== undefined;

/**
 * Makes the replica of one key match the source, version by version, oldest first. The event that
 * led here is only a hint: the source's version list is the truth, the ledger says which versions
 * are done, so any number of duplicated, late or reordered events end in the same replica.
 *
 * Each version is claimed before it is copied (one conditional write that is also its pending
 * entry), so no two invocations copy one version. The event's own version is claimed first: a
 * duplicate, or a version another invocation is working on, costs that one request and nothing
 * else. Stops at the first version that fails, so the replica never gets versions out of order;
 * and stops (KeyBusyError: the message is deferred) at a version another live invocation holds,
 * when the event's version comes after it.
 */
export async function replicateKey(deps: ReplicationDeps, asset: ObjectAsset, key: string, hint: KeyHint = {}): Promise<KeyOutcome> {
  const replicaKey = replicaKeyFor(asset, key);
  if (Buffer.byteLength(replicaKey, 'utf8') > MAX_KEY_BYTES) {
    const error = new ReplicaKeyTooLongError(`replica key for "${key}" is longer than ${MAX_KEY_BYTES} bytes; shorten replica.prefix`);
    await deps.ledger.markKeyFailed(asset.name, key, describeError(error), deps.now());
    throw error;
  }
  const claims = new Claims(deps);
  const event = hint.version && pendingOfEvent(asset, key, hint.version, deps.now());
  let readAhead: ReadAhead | undefined;
  if (event) {
    const claim = await claims.take(event);
    if (claim !== 'mine') {
      return {
        asset: asset.name,
        key,
        replicated: [],
        alreadyReplicated: claim === 'done' ? 1 : 0,
        claimedElsewhere: claim === 'busy' ? 1 : 0,
      };
    }
    readAhead = startReadAhead(deps, asset, key, hint.version!);
  }
  try {
    const outcome = await syncKey(deps, asset, key, replicaKey, claims, event, hint.prelisted, readAhead);
    if (outcome.claimedElsewhere > 0 && (!event || !outcome.replicated.some((r) => r.sourceVersionId === event.sourceVersionId))) {
      // An earlier version is another invocation's: the event's version must wait for it (or, for a
      // message that names no version, the key's later versions may), so the message comes back.
      throw new KeyBusyError(`another invocation is replicating an earlier version of "${key}" of ${asset.name}; the message waits for it`);
    }
    return outcome;
  } finally {
    await claims.releaseAll();
  }
}

/** The event's version, read (and hashed) while the key is listed: one round trip less per version. */
interface ReadAhead {
  versionId: string;
  read: Promise<VersionDetails & { sha256: string }>;
}

/**
 * Once the event's version is claimed, its read starts beside the key's listing (a small object,
 * copied server-side: the read that would come next anyway), and so does the replica's versioning
 * check. A read the listing makes unnecessary (an earlier version fails first) is dropped.
 */
function startReadAhead(deps: ReplicationDeps, asset: ObjectAsset, key: string, version: CreatedVersion): ReadAhead | undefined {
  deps.replica.prepareWrites?.(asset.replica.bucket);
  const small = version.size !== undefined && version.size <= (deps.multipart ?? DEFAULT_MULTIPART).thresholdBytes;
  if (version.kind !== 'object' || !small || deps.serverSideCopy === false) return undefined;
  const read = deps.source.describeAndHash({ bucket: asset.source.bucket, key, versionId: version.versionId });
  read.catch(() => undefined); // its error, if it is used, is met where it is awaited
  return { versionId: version.versionId, read };
}

type ClaimOutcome = 'mine' | 'done' | 'busy';

/** The claims one sync holds: taken before a version is copied, ended by its ledger write or let go. */
class Claims {
  private readonly held = new Map<string, { version: PendingVersion; previous?: LedgerEntry }>();

  constructor(private readonly deps: ReplicationDeps) {}

  async take(version: PendingVersion): Promise<ClaimOutcome> {
    if (this.held.has(version.sourceVersionId)) return 'mine';
    const claim = await this.deps.ledger.claimVersion(version, this.deps.claimOwner, this.deps.now(), this.deps.claimSeconds);
    if (claim.claimed) {
      this.held.set(version.sourceVersionId, { version, ...(claim.previous && { previous: claim.previous }) });
      return 'mine';
    }
    return claim.entry.state === 'pending' || claim.entry.state === 'failed' ? 'busy' : 'done';
  }

  /** Claims a replicated version to write it again as the key's current state: its entry now (undefined: another invocation is). */
  async takeRestate(version: PendingVersion, entry: LedgerEntry): Promise<LedgerEntry | undefined> {
    const claimed = await this.deps.ledger.claimRestate(entry, this.deps.claimOwner, this.deps.now(), this.deps.claimSeconds);
    if (claimed) this.held.set(version.sourceVersionId, { version });
    return claimed;
  }

  /** The entry as it was before this sync claimed it. */
  previous(sourceVersionId: string): LedgerEntry | undefined {
    return this.held.get(sourceVersionId)?.previous;
  }

  /** The claim ended with the version's ledger write (replicated, failed or gone from the source). */
  ended(sourceVersionId: string): void {
    this.held.delete(sourceVersionId);
  }

  async releaseAll(): Promise<void> {
    const held = [...this.held.values()];
    this.held.clear();
    await Promise.all(held.map(({ version }) => this.deps.ledger.releaseClaim(version, this.deps.claimOwner)));
  }
}

/**
 * `prelisted`: the key's source history as the batch listed it (with other keys of the batch,
 * Replicator.prefetch), used when it holds the event's version. Any listing that lacks a version the
 * ledger knows is taken again after the entries were read: the version was gone from the source, or
 * written (and claimed, or replicated) after the listing, which would misread it as deleted. A
 * version written after the listing and not yet in the ledger is left to its own event.
 *
 * The key's ledger entries are read only when the listing holds a version other than the event's
 * (a key with history, or a message that names no version): a new key's first version needs none.
 */
async function syncKey(
  deps: ReplicationDeps,
  asset: ObjectAsset,
  key: string,
  replicaKey: string,
  claims: Claims,
  event: PendingVersion | undefined,
  prelisted: Promise<VersionEntry[] | undefined> | undefined,
  readAhead: ReadAhead | undefined,
): Promise<KeyOutcome> {
  const listing = () => deps.source.listVersions(asset.source.bucket, key);
  const eventOnly = (versions: VersionEntry[]) =>
    event !== undefined && versions.length === 1 && idOf(versions[0]!) === event.sourceVersionId;
  let sourceVersions: VersionEntry[];
  let entries: LedgerEntry[] | undefined;
  const readEntries = async () => (entries ??= await deps.ledger.entriesFor(asset.name, key));
  try {
    const listed = await prelisted;
    const usable = listed && (!event || listed.some((v) => idOf(v) === event.sourceVersionId)) ? listed : undefined;
    sourceVersions = usable ?? (await listing());
    if (!eventOnly(sourceVersions)) {
      await readEntries();
      // An entry the listing lacks was gone from the source, or written after the listing (by a
      // claim made since): a listing taken after the entries were read tells which.
      const inListing = new Set(sourceVersions.map(idOf));
      if (entries!.some((e) => e.entryType !== 'key' && !inListing.has(e.sourceVersionId))) sourceVersions = await listing();
    }
  } catch (error: unknown) {
    // The failure is recorded on the event's version, or (no version known yet) on the key, so the RPO sees it.
    if (event) {
      await deps.ledger.markFailed(event, describeError(error), deps.now());
      claims.ended(event.sourceVersionId);
    } else {
      await deps.ledger.markKeyFailed(asset.name, key, describeError(error), deps.now());
    }
    throw error;
  }
  const versionEntries = (entries ?? []).filter((e) => e.entryType !== 'key');
  if (entries?.some((e) => e.entryType === 'key')) await deps.ledger.clearKeyFailure(asset.name, key);
  const entryByVersion = new Map(versionEntries.map((e) => [e.sourceVersionId, e]));
  const inSource = new Set(sourceVersions.map(idOf));

  const goneFromSource = versionEntries.filter((e) => !inSource.has(e.sourceVersionId));
  for (const entry of goneFromSource) {
    // A multipart copy of it that began (and yielded, or failed) can never finish: its upload is
    // aborted and its progress forgotten first, so a failure here leaves the version to the next sync.
    if (entry.uploadSaved)
      await forgetUpload(deps, asset.name, key, entry.sourceVersionId, { bucket: asset.replica.bucket, key: replicaKey });
    if (entry.state !== 'replicated' && entry.state !== 'source-deleted') {
      await deps.ledger.markSourceDeleted(entry, deps.now(), deps.claimOwner);
    }
    claims.ended(entry.sourceVersionId);
  }

  const todo = sourceVersions.filter((v) => entryByVersion.get(idOf(v))?.state !== 'replicated');
  const outcome: KeyOutcome = {
    asset: asset.name,
    key,
    replicated: [],
    alreadyReplicated: sourceVersions.length - todo.length,
    claimedElsewhere: 0,
  };
  if (todo.length === 0) {
    if (goneFromSource.some((e) => e.state === 'replicated')) {
      outcome.replicated.push(...(await restateCurrent(deps, asset, key, replicaKey, sourceVersions, entryByVersion, claims)));
    }
    return outcome;
  }
  deps.replica.prepareWrites?.(asset.replica.bucket);
  const seenAt = deps.now();
  // The version being worked on: a failure (of it, or of reading the replica first) is recorded on it.
  let current: PendingVersion | undefined;
  try {
    for (const version of todo) {
      const pending = pendingOf(asset, key, version);
      const claim = await claims.take(pending);
      if (claim === 'done') {
        outcome.alreadyReplicated++;
        continue;
      }
      if (claim === 'busy') {
        outcome.claimedElsewhere++;
        break; // later versions wait for it: never out of order
      }
      current = pending;
      const previous = claims.previous(pending.sourceVersionId); // as it was before this sync's claim
      // An orphan copy can only come from an earlier attempt at this version, and every attempt
      // claims the version before it writes: a version never claimed or failed has none.
      const orphan = attemptedBefore(previous) ? await unclaimedLatestReplica(deps, asset, replicaKey, await readEntries()) : undefined;
      const ahead = readAhead?.versionId === version.versionId ? readAhead.read : undefined;
      const report = await replicateVersion(deps, asset, key, replicaKey, version, orphan, ahead);
      await recordReplicated(deps, pending, replicaKey, report, previous, seenAt);
      claims.ended(pending.sourceVersionId);
      outcome.replicated.push(report);
    }
  } catch (error: unknown) {
    // A copy that continues in the next invocation is pending, not failed (its claim is let go).
    if (current && !(error instanceof CopyContinuesError)) {
      await deps.ledger.markFailed(current, describeError(error), deps.now());
      claims.ended(current.sourceVersionId);
    }
    throw error;
  }
  return outcome;
}

/** `previous` is the version's entry before this sync claimed it (none when it was first seen at `seenAt`). */
async function recordReplicated(
  deps: ReplicationDeps,
  version: PendingVersion,
  replicaKey: string,
  report: ReplicatedVersionReport,
  previous: LedgerEntry | undefined,
  seenAt: Date,
) {
  const record: ReplicatedRecord = {
    version,
    result: {
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
    },
  };
  await (deps.group ? deps.group.record(record) : deps.ledger.markReplicated([record]));
}

/**
 * Versions were permanently deleted from the source (DeleteObject with a version id, e.g. an
 * "undelete" that removes a delete marker). The replica keeps every version it has, but its
 * current state must be the source's: the source's latest version is written on top again, or a
 * delete marker when the source's latest is a delete marker or nothing is left.
 *
 * One invocation at a time restates a key: it claims the latest version's (replicated) entry first,
 * and an invocation that finds it claimed leaves the work to its holder. A version written to the
 * source meanwhile may be copied by another invocation before this write lands, which would leave
 * the replica's current state older than the source's: the source is listed again after the write,
 * and when its latest version changed the message comes back (KeyBusyError), so that the next sync
 * restates the newest.
 */
async function restateCurrent(
  deps: ReplicationDeps,
  asset: ObjectAsset,
  key: string,
  replicaKey: string,
  sourceVersions: VersionEntry[],
  entryByVersion: Map<string, LedgerEntry>,
  claims: Claims,
): Promise<ReplicatedVersionReport[]> {
  const latest = sourceVersions.at(-1);
  let latestEntry = latest && entryByVersion.get(idOf(latest));
  const current = async () => {
    const replicaLatest = (await deps.replica.listVersions(asset.replica.bucket, replicaKey)).at(-1);
    if (!latest || latest.kind === 'delete-marker') return !replicaLatest || replicaLatest.kind === 'delete-marker';
    return replicaLatest !== undefined && latestEntry?.replicaVersionId === replicaLatest.versionId;
  };
  if (await current()) return [];
  if (latest && latestEntry) {
    // Claimed, then checked again against the entry as claimed: a restate that ended just before
    // the claim recorded its copy there, and leaves nothing to do.
    latestEntry = await claims.takeRestate(pendingOf(asset, key, latest), latestEntry);
    if (!latestEntry || (await current())) return [];
  }
  let restated: ReplicatedVersionReport[] = [];
  if (!latest) {
    await deps.replica.addDeleteMarker(asset.replica.bucket, replicaKey);
  } else {
    const report = await replicateVersion(deps, asset, key, replicaKey, latest, undefined);
    await recordReplicated(deps, pendingOf(asset, key, latest), replicaKey, report, latestEntry, deps.now());
    claims.ended(idOf(latest));
    restated = [report];
  }
  const now = (await deps.source.listVersions(asset.source.bucket, key)).at(-1);
  if ((now && idOf(now)) !== (latest && idOf(latest))) {
    throw new KeyBusyError(`"${key}" of ${asset.name} changed while its current state was restated; the message runs again`);
  }
  return restated;
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
  readAhead?: Promise<VersionDetails & { sha256: string }>,
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
  const described = small ? await (readAhead ?? deps.source.describeAndHash(sourceRef)) : await deps.source.describe(sourceRef);
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
    ...(deps.lock && { lock: { mode: deps.lock.mode, retainUntil: retainUntil(deps.lock, deps.now()) } }),
  };
  if (details.size > multipart.thresholdBytes) {
    return { ...base, ...(await replicateLarge(deps, asset.name, key, version, request, orphan, multipart)), lagSeconds: lag() };
  }

  if (deps.serverSideCopy === false) {
    return { ...base, ...(await streamSmall(deps, asset, replicaKey, version, request, orphan)), lagSeconds: lag() };
  }
  // The SHA-256 this function hashed from the source's bytes: the one value a copy's checksum (or
  // the replica's bytes) is compared with. A stored full-object SHA-256 must agree with it too.
  const sourceSha256 = hashed ?? (await deps.source.sha256(sourceRef));
  if (details.fullObjectSha256 && details.fullObjectSha256 !== sourceSha256) {
    throw new SourceChecksumMismatchError(details.fullObjectSha256, sourceSha256);
  }
  if (orphan?.entry.kind === 'object' && orphan.sourceVersionId === idOf(version) && orphan.sha256 === sourceSha256) {
    const verified = await deps.replica.sha256({ bucket: asset.replica.bucket, key: replicaKey, versionId: orphan.entry.versionId });
    if (verified === sourceSha256) {
      return { ...base, replicaVersionId: orphan.entry.versionId, sha256: sourceSha256, lagSeconds: lag(), adopted: true };
    }
  }
  request.metadata[REPLICA_METADATA.sha256] = sourceSha256;
  // S3 computes the copy's SHA-256 when the copy asks for one; a store that reports none (SeaweedFS
  // keeps the source's stored value) gets the replica's bytes read and hashed instead.
  const copy = await deps.replica.copy(request);
  const copied = copy.sha256 ?? (await deps.replica.sha256({ ...target, versionId: copy.versionId }));
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
  const tagging = await deps.source.tagging(request.source, request.details);
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
