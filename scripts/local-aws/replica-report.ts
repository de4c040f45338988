import type { S3Client } from '@aws-sdk/client-s3';
import type { LedgerEntry } from '../../functions/ledger/ledger.js';
import { replicaKeyFor } from '../../functions/policy/assets.js';
import type { ObjectAsset } from '../../functions/policy/schema.js';
import { compositeSha256, planParts } from '../../functions/replication/multipart-copy.js';
import { S3VersionedStore } from '../../functions/storage/s3-versioned-store.js';

/** One source version and what the replica holds in its place, checked independently of the replicator. */
export interface ReplicaRow {
  asset: string;
  key: string;
  kind: 'object' | 'delete-marker';
  sourceVersionId: string;
  replicaVersionId?: string;
  sourceSha256?: string;
  replicaSha256?: string;
  ledgerState?: string;
  lagSeconds?: number;
  verified: boolean;
}

/**
 * Compares the replica with the source version by version: the replica's history of each key must
 * be the source's history (same order, delete markers where the source has them, byte-identical
 * content by SHA-256 of both sides read back), and the ledger must say "replicated" for each.
 */
export async function replicaReport(
  s3: S3Client,
  asset: ObjectAsset,
  ledgerEntries: (key: string) => Promise<LedgerEntry[]>,
): Promise<ReplicaRow[]> {
  const store = new S3VersionedStore(s3);
  const rows: ReplicaRow[] = [];
  const keys: string[] = [];
  for await (const history of store.keysUnder(asset.source.bucket, asset.source.prefix)) keys.push(history.key);
  for (const key of keys) {
    const replicaKey = replicaKeyFor(asset, key);
    const [source, replica, ledger] = await Promise.all([
      store.listVersions(asset.source.bucket, key),
      store.listVersions(asset.replica.bucket, replicaKey),
      ledgerEntries(key),
    ]);
    for (const [i, version] of source.entries()) {
      const copy = replica[i];
      const entry = ledger.find((e) => e.sourceVersionId === version.versionId);
      const row: ReplicaRow = {
        asset: asset.name,
        key,
        kind: version.kind,
        sourceVersionId: version.versionId,
        replicaVersionId: copy?.versionId,
        ledgerState: entry?.state,
        lagSeconds: entry?.lagSeconds,
        verified: false,
      };
      if (version.kind === 'object' && copy?.kind === 'object') {
        row.sourceSha256 = await store.sha256({ bucket: asset.source.bucket, key, versionId: version.versionId });
        row.replicaSha256 = await store.sha256({ bucket: asset.replica.bucket, key: replicaKey, versionId: copy.versionId });
      }
      // The ledger's checksum must be the source's: the full SHA-256, or for multipart copies the
      // composite of the part digests.
      const ledgerChecksumAgrees = async () => {
        if (version.kind === 'delete-marker' || !entry) return true;
        if (entry.sha256) return entry.sha256 === row.sourceSha256;
        if (!entry.sha256Composite || !entry.partSizeBytes) return false;
        const ref = { bucket: asset.source.bucket, key, versionId: version.versionId };
        const digests = [];
        for (const p of planParts(version.size, entry.partSizeBytes)) digests.push(await store.sha256Range(ref, p.start, p.end));
        return compositeSha256(digests) === entry.sha256Composite;
      };
      row.verified =
        copy !== undefined &&
        copy.kind === version.kind &&
        row.sourceSha256 === row.replicaSha256 &&
        entry?.state === 'replicated' &&
        entry.replicaVersionId === copy.versionId &&
        (await ledgerChecksumAgrees());
      rows.push(row);
    }
    if (replica.length > source.length) {
      rows.push({
        asset: asset.name,
        key,
        kind: 'object',
        sourceVersionId: '(none)',
        replicaVersionId: replica[source.length]?.versionId,
        verified: false,
      });
    }
  }
  return rows;
}
