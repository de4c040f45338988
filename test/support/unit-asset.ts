import { assetSchema, type ObjectAsset } from '../../functions/policy/schema.js';

/** The training-data asset the unit tests use: source s3://src/train/ in us-east-1, replica in us-west-2. */
export function unitAsset(replica: { bucket: string; storageClass?: 'STANDARD' } = { bucket: 'dr-replica' }): ObjectAsset {
  return assetSchema.parse({
    name: 'training',
    kind: 'training-data',
    source: { bucket: 'src', prefix: 'train/', region: 'us-east-1' },
    replica: { ...replica, region: 'us-west-2' },
    rpoTargetSeconds: 60,
    rtoTargetSeconds: 60,
    tier: 'high',
  }) as ObjectAsset;
}
