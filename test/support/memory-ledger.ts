import type {
  Ledger,
  LedgerEntry,
  PendingVersion,
  ReplicatedRecord,
  ReplicatedSummary,
  UploadProgress,
  VersionClaim,
} from '../../functions/ledger/ledger.js';

/**
 * An in-memory Ledger for unit tests of the replication domain. It passes the same contract as
 * DynamoLedger (test/contract/ledger.contract.ts), so a unit test sees what the adapter would do.
 */
export class MemoryLedger implements Ledger {
  readonly entries = new Map<string, LedgerEntry>();
  readonly uploads = new Map<string, UploadProgress>();

  private id = (asset: string, key: string, version: string) => `${asset}\u0000${key}\u0000${version}`;

  async entriesFor(asset: string, key: string): Promise<LedgerEntry[]> {
    return [...this.entries.values()]
      .filter((e) => e.asset === asset && e.key === key)
      .map((e) => ({
        ...e,
        ...(e.entryType !== 'key' && this.uploads.has(this.id(asset, key, e.sourceVersionId)) && { uploadSaved: true as const }),
      }));
  }

  /** `recorded` only saves DynamoLedger a request; the outcome is the same with or without it. */
  async markPending(versions: PendingVersion[], now: Date, _recorded?: ReadonlySet<string>): Promise<void> {
    for (const v of versions) {
      const id = this.id(v.asset, v.key, v.sourceVersionId);
      const existing = this.entries.get(id);
      if (existing?.state === 'replicated') continue;
      this.entries.set(id, {
        ...v,
        state: existing?.state ?? 'pending',
        attempts: existing?.attempts ?? 0,
        firstSeenAt: existing?.firstSeenAt ?? now.toISOString(),
        ...(existing && { lastError: existing.lastError, lastAttemptAt: existing.lastAttemptAt }),
        ...(existing?.claimOwner !== undefined && { claimOwner: existing.claimOwner, claimExpiresAt: existing.claimExpiresAt }),
      });
    }
  }

  async markReplicated(records: ReplicatedRecord[]): Promise<void> {
    for (const { version: v, result: r } of records) {
      this.entries.set(this.id(v.asset, v.key, v.sourceVersionId), { ...v, ...r, state: 'replicated', lastAttemptAt: r.replicatedAt });
    }
  }

  async claimVersion(v: PendingVersion, owner: string, now: Date, ttlSeconds: number): Promise<VersionClaim> {
    const id = this.id(v.asset, v.key, v.sourceVersionId);
    const existing = this.entries.get(id);
    if (existing) {
      const done = existing.state !== 'pending' && existing.state !== 'failed';
      if (done || (existing.claimExpiresAt !== undefined && existing.claimExpiresAt >= now.getTime()))
        return { claimed: false, entry: { ...existing } };
    }
    this.entries.set(id, {
      ...v,
      sourceLastModified: existing?.sourceLastModified ?? v.sourceLastModified,
      state: existing?.state ?? 'pending',
      attempts: existing?.attempts ?? 0,
      firstSeenAt: existing?.firstSeenAt ?? now.toISOString(),
      ...(existing && { lastError: existing.lastError, lastAttemptAt: existing.lastAttemptAt }),
      claimOwner: owner,
      claimExpiresAt: now.getTime() + ttlSeconds * 1000,
    });
    return { claimed: true, ...(existing && { previous: { ...existing } }) };
  }

  async claimRestate(entry: LedgerEntry, owner: string, now: Date, ttlSeconds: number): Promise<LedgerEntry | undefined> {
    const existing = this.entries.get(this.id(entry.asset, entry.key, entry.sourceVersionId));
    if (existing?.state !== 'replicated') return undefined;
    if (existing.claimExpiresAt !== undefined && existing.claimExpiresAt >= now.getTime()) return undefined;
    Object.assign(existing, { claimOwner: owner, claimExpiresAt: now.getTime() + ttlSeconds * 1000 });
    return { ...existing };
  }

  async releaseClaim(v: PendingVersion, owner: string): Promise<void> {
    const existing = this.entries.get(this.id(v.asset, v.key, v.sourceVersionId));
    if (existing?.claimOwner !== owner) return;
    delete existing.claimExpiresAt;
  }

  async markFailed(v: PendingVersion, error: string, now: Date): Promise<void> {
    const id = this.id(v.asset, v.key, v.sourceVersionId);
    const existing = this.entries.get(id);
    if (existing?.state === 'replicated') return;
    this.entries.set(id, {
      ...v,
      state: 'failed',
      attempts: (existing?.attempts ?? 0) + 1,
      firstSeenAt: existing?.firstSeenAt ?? now.toISOString(),
      lastError: error,
      lastAttemptAt: now.toISOString(),
    });
  }

  async markSourceDeleted(entry: LedgerEntry, now: Date, owner?: string): Promise<void> {
    const id = this.id(entry.asset, entry.key, entry.sourceVersionId);
    const existing = this.entries.get(id);
    if (existing?.state === 'replicated') return;
    const held = existing?.claimExpiresAt !== undefined && existing.claimExpiresAt >= now.getTime() && existing.claimOwner !== owner;
    if (held) return;
    const { claimOwner: _owner, claimExpiresAt: _until, uploadSaved: _saved, ...rest } = entry;
    this.entries.set(id, {
      ...rest,
      state: 'source-deleted',
      lastAttemptAt: now.toISOString(),
      lastError: 'version was permanently deleted from the source before it was copied',
    });
  }

  async upload(asset: string, key: string, versionId: string) {
    return this.uploads.get(this.id(asset, key, versionId));
  }

  async saveUpload(asset: string, key: string, versionId: string, progress: UploadProgress) {
    this.uploads.set(this.id(asset, key, versionId), progress);
  }

  async clearUpload(asset: string, key: string, versionId: string) {
    this.uploads.delete(this.id(asset, key, versionId));
  }

  async markKeyFailed(asset: string, key: string, error: string, now: Date): Promise<void> {
    const id = this.id(asset, key, '(key)');
    const existing = this.entries.get(id);
    this.entries.set(id, {
      asset,
      key,
      sourceVersionId: '(unknown)',
      entryType: 'key',
      state: 'failed',
      sourceLastModified: existing?.sourceLastModified ?? now.toISOString(),
      size: 0,
      attempts: (existing?.attempts ?? 0) + 1,
      lastError: error,
    });
  }

  async clearKeyFailure(asset: string, key: string): Promise<void> {
    this.entries.delete(this.id(asset, key, '(key)'));
  }

  async unreplicated(asset: string, limit?: number): Promise<LedgerEntry[]> {
    const open = [...this.entries.values()].filter((e) => e.asset === asset && (e.state === 'pending' || e.state === 'failed'));
    open.sort((a, b) => a.sourceLastModified.localeCompare(b.sourceLastModified));
    return open.slice(0, limit).map((e) => ({ ...e }));
  }

  async replicatedSince(asset: string, since: Date, limit: number): Promise<ReplicatedSummary[]> {
    return this.replicatedNewestFirst(asset)
      .filter((e) => e.replicatedAt >= since.toISOString())
      .slice(0, limit);
  }

  async lastReplicated(asset: string): Promise<ReplicatedSummary | undefined> {
    return this.replicatedNewestFirst(asset)[0];
  }

  private replicatedNewestFirst(asset: string): ReplicatedSummary[] {
    return [...this.entries.values()]
      .filter((e) => e.asset === asset && e.state === 'replicated')
      .map((e) => ({ key: e.key, sourceVersionId: e.sourceVersionId, replicatedAt: e.replicatedAt!, lagSeconds: e.lagSeconds! }))
      .sort((a, b) => b.replicatedAt.localeCompare(a.replicatedAt));
  }
}
