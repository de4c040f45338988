/** User metadata the replicator writes on every replica version (x-amz-meta-dr-*). */
export const REPLICA_METADATA = {
  sourceVersionId: 'dr-source-version-id',
  sha256: 'dr-source-sha256',
  asset: 'dr-asset',
} as const;
