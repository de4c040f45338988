/**
 * The replication ledger: one item per asset, key and source version, with its state. The port is
 * what replication, RPO measurement, restores and restore tests use; DynamoLedger is its adapter.
 */

export type LedgerState = 'pending' | 'replicated' | 'failed' | 'source-deleted';

/**
 * The ledger's id of a source version: its version id, except for the "null" version of an
 * unversioned or suspended bucket, which is overwritten in place and so is told apart by its time.
 */
export const ledgerVersionId = (versionId: string, lastModified: Date) =>
  versionId === 'null' ? `null@${lastModified.toISOString()}` : versionId;

export interface LedgerEntry {
  asset: string;
  key: string;
  sourceVersionId: string;
  /** "key" is a failure of the key as a whole, before any version was known (e.g. listing denied). */
  entryType: 'object' | 'delete-marker' | 'key';
  state: LedgerState;
  /** Source write time (ISO 8601): what the live RPO is measured from. */
  sourceLastModified: string;
  size: number;
  sha256?: string;
  /** Multipart copies: SHA-256 of the part digests, "-<parts>", and the part size it was taken with. */
  sha256Composite?: string;
  partSizeBytes?: number;
  /** Requests the SDK repeated (throttling, 5xx) during the copy that succeeded. */
  copyRetries?: number;
  replicaKey?: string;
  replicaVersionId?: string;
  replicatedAt?: string;
  lagSeconds?: number;
  attempts: number;
  /** When replication (or reconcile) first recorded the version. */
  firstSeenAt?: string;
  lastError?: string;
  lastAttemptAt?: string;
  /** While an invocation works on the version: who holds its claim, and until when (epoch ms). */
  claimOwner?: string;
  claimExpiresAt?: number;
  /**
   * Set by entriesFor (never stored on the entry): the version has saved multipart progress
   * (UploadProgress), so a sync that finds the version gone from the source aborts and forgets it.
   */
  uploadSaved?: true;
}

/**
 * A multipart copy in progress, and the verification of its result, as far as it got: what the
 * next invocation needs to continue without repeating finished parts.
 */
export interface UploadProgress {
  /** The replica's multipart upload; "" when no upload of this copy exists (an earlier attempt's complete copy is being verified). */
  uploadId: string;
  partSizeBytes: number;
  startedAt: string;
  /** The source version's ETag when the copy began: digests of an overwritten "null" version are not reused. */
  sourceEtag?: string;
  /** Hex SHA-256 of each source part hashed so far (parts of `partSizeBytes`), by part number. */
  sourcePartSha256?: Record<number, string>;
  /** Set once the upload is complete (or an earlier attempt's complete copy was found): the replica version under verification. */
  replicaVersionId?: string;
  /** Parts of `replicaVersionId` read back and found equal to the source's part, by part number. */
  verifiedParts?: number[];
  /** `replicaVersionId` was left by an earlier attempt whose ledger write was lost (an adoption). */
  adopted?: boolean;
}

export interface ReplicatedSummary {
  key: string;
  sourceVersionId: string;
  replicatedAt: string;
  lagSeconds: number;
}

export interface PendingVersion {
  asset: string;
  key: string;
  sourceVersionId: string;
  entryType: 'object' | 'delete-marker';
  sourceLastModified: string;
  size: number;
}

export interface ReplicatedVersion {
  replicaKey: string;
  replicaVersionId: string;
  sha256?: string;
  sha256Composite?: string;
  partSizeBytes?: number;
  copyRetries?: number;
  replicatedAt: string;
  lagSeconds: number;
  /** Attempts at this version, the one that succeeded included. */
  attempts: number;
  firstSeenAt: string;
}

/** A version's replicated state, as replication records it (written in batches). */
export interface ReplicatedRecord {
  version: PendingVersion;
  result: ReplicatedVersion;
}

/**
 * The outcome of claiming a version. Claimed: the caller holds it (and its entry is pending, or
 * keeps its failed state); `previous` is the entry before the claim, if there was one. Not claimed:
 * `entry` says why: it is replicated (or its source version is gone), or another invocation holds
 * a claim that has not expired.
 */
export type VersionClaim = { claimed: true; previous?: LedgerEntry } | { claimed: false; entry: LedgerEntry };

/** What replication writes and reads: entries of one key, and claims on its versions. */
export interface ReplicationLedger {
  /** Every entry of one key of an asset: its versions and, if any, its key-level failure. */
  entriesFor(asset: string, key: string): Promise<LedgerEntry[]>;
  /**
   * Records versions seen in the source and not yet replicated; replicated entries are left alone.
   * `recorded`: source version ids the caller knows have an entry already (updated in place).
   */
  markPending(versions: PendingVersion[], now: Date, recorded?: ReadonlySet<string>): Promise<void>;
  /**
   * One conditional write that is the version's pending entry and its claim at once: it succeeds
   * unless the version is replicated (or gone from the source) or another owner's claim on it has
   * not expired. A claim lives `ttlSeconds`, longer than an invocation can run, so a claim that
   * expired belongs to an invocation that died.
   */
  claimVersion(version: PendingVersion, owner: string, now: Date, ttlSeconds: number): Promise<VersionClaim>;
  /**
   * Lets a claim go without recording an outcome (the work is deferred or continues elsewhere): it
   * can be taken at once, and its owner stays on the entry, the sign that an attempt may have
   * written a copy (the next claimant looks for it).
   */
  releaseClaim(version: PendingVersion, owner: string): Promise<void>;
  /**
   * Claims a replicated version to write it to the replica again as the key's current state (after
   * later versions were permanently deleted from the source): refused while another owner's claim
   * on it is live, so one invocation at a time restates a key. Returns the entry as it is once
   * claimed (a restate that ended meanwhile has recorded its copy there), undefined when refused.
   * It ends like a version claim: with markReplicated (the copy written again), or releaseClaim.
   */
  claimRestate(entry: LedgerEntry, owner: string, now: Date, ttlSeconds: number): Promise<LedgerEntry | undefined>;
  /**
   * Replaces each version's entry with its replicated state (and so ends its claim), in as few
   * requests as the store allows. Only the claim holder calls it, with the attempts and first-seen
   * time of the entry it claimed.
   */
  markReplicated(records: ReplicatedRecord[]): Promise<void>;
  /** Records a failed attempt and ends the caller's claim; a replicated entry is left alone. */
  markFailed(version: PendingVersion, error: string, now: Date): Promise<void>;
  /**
   * A version that was permanently deleted from the source before it could be copied. Left alone
   * when it is replicated, or when an owner other than `owner` holds a live claim on it (a version
   * written after the caller's listing is not gone: its holder is working on it).
   */
  markSourceDeleted(entry: LedgerEntry, now: Date, owner?: string): Promise<void>;
  /**
   * A failure of the whole key before its versions could be read: recorded on the unreplicated
   * index (since the first failure) so the RPO sees it; cleared by the next successful sync.
   */
  markKeyFailed(asset: string, key: string, error: string, now: Date): Promise<void>;
  clearKeyFailure(asset: string, key: string): Promise<void>;
  /**
   * A multipart copy in progress (to resume it in the next invocation instead of starting over),
   * with its per-part digests and verification progress. saveUpload replaces the whole record.
   */
  upload(asset: string, key: string, sourceVersionId: string): Promise<UploadProgress | undefined>;
  saveUpload(asset: string, key: string, sourceVersionId: string, progress: UploadProgress): Promise<void>;
  clearUpload(asset: string, key: string, sourceVersionId: string): Promise<void>;
}

/** What RPO measurement and status read, per asset; each reads only unreplicated or recent items. */
/** A key's versions in the replica that replication verified (object entries, with when they were written there). */
export const verifiedReplicas = (entries: readonly LedgerEntry[]) =>
  entries.filter((e) => e.entryType === 'object' && e.state === 'replicated' && e.replicatedAt !== undefined);

/**
 * Of verified versions, the one written to the replica last: the key's current replica (a version
 * written again after a newer one was deleted at the source is current again).
 */
export const writtenLast = (verified: readonly LedgerEntry[]) =>
  verified.reduce<LedgerEntry | undefined>((a, e) => (!a || e.replicatedAt! > a.replicatedAt! ? e : a), undefined);

export interface LedgerQueries {
  /** Pending or failed entries of an asset, oldest first, at most `limit`; reads only unreplicated items. */
  unreplicated(asset: string, limit?: number): Promise<LedgerEntry[]>;
  /** Entries replicated at or after `since`, newest first (at most `limit`). Reads only those items. */
  replicatedSince(asset: string, since: Date, limit: number): Promise<ReplicatedSummary[]>;
  /** The newest replication of an asset, if any. */
  lastReplicated(asset: string): Promise<ReplicatedSummary | undefined>;
}

export type Ledger = ReplicationLedger & LedgerQueries;
