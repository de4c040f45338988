import type { ObjectAsset, Policy, VectorAsset } from './schema.js';
import { DEFAULT_LINEAGE_PREFIX, isObjectAsset, lineageConflicts, replicatedKinds } from './schema.js';

/** The object assets this release replicates (training data and eval sets). */
export function replicatedAssets(policy: Policy): ObjectAsset[] {
  return policy.assets.filter(isObjectAsset).filter((a) => replicatedKinds.includes(a.kind));
}

/** The asset a source key belongs to; prefixes never overlap within a bucket (the schema checks). */
export function assetForKey(policy: Policy, bucket: string, key: string): ObjectAsset | undefined {
  return replicatedAssets(policy).find((a) => a.source.bucket === bucket && key.startsWith(a.source.prefix));
}

/** Where a source key lands in the replica bucket. */
export function replicaKeyFor(asset: ObjectAsset, sourceKey: string): string {
  const prefix = asset.replica.prefix ?? asset.source.prefix;
  return prefix + sourceKey.slice(asset.source.prefix.length);
}

/** The source key a replica key of the asset holds (the inverse of replicaKeyFor). */
export function sourceKeyFor(asset: ObjectAsset, replicaKey: string): string {
  return asset.source.prefix + replicaKey.slice(replicaKeyFor(asset, asset.source.prefix).length);
}

/** The vector indexes snapshot-vectors snapshots, with their position in the policy (for messages). */
export function vectorAssets(policy: Policy): { asset: VectorAsset; path: string }[] {
  return policy.assets.flatMap((asset, i) => (asset.kind === 'vector-index' ? [{ asset, path: `assets[${i}]` }] : []));
}

/** Where the DR report is written: report.bucket, or the first asset's replica bucket (docs/report.md). */
export function reportLocation(policy: Policy): { bucket: string; prefix: string } {
  return { bucket: policy.report.bucket ?? policy.assets[0]!.replica.bucket, prefix: policy.report.prefix };
}

/**
 * The buckets of vault accounts (replica.account), by name, with the account that must own each:
 * every S3 request of the stack to one of them names its owner (DR_EXPECTED_BUCKET_OWNERS, read by
 * functions/shared/aws-clients.ts), so S3 refuses it if the bucket is someone else's.
 */
export function expectedBucketOwners(policy: Policy): Record<string, string> {
  return Object.fromEntries(policy.assets.flatMap((a) => (a.replica.account ? [[a.replica.bucket, a.replica.account]] : [])));
}

/** Where dataset versions are written in each object asset's replica bucket (docs/lineage.md). */
export const lineagePrefix = (policy: Policy) => policy.lineage?.prefix ?? DEFAULT_LINEAGE_PREFIX;

/** The replica buckets dataset versions may be written into: those where the prefix overlaps no replica and not the report (lineageConflicts). */
export function lineageBuckets(policy: Policy): string[] {
  const crowded = new Set(lineageConflicts(policy).map((c) => c.bucket));
  return [...new Set(replicatedAssets(policy).map((a) => a.replica.bucket))].filter((b) => !crowded.has(b));
}
