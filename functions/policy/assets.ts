import type { ObjectAsset, Policy } from './schema.js';
import { isObjectAsset, replicatedKinds } from './schema.js';

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
