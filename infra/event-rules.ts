import type { ObjectAsset } from '../functions/policy/schema.js';

/**
 * The EventBridge pattern that routes one asset's S3 events to the replication queue: "Object
 * Created" and "Object Deleted" events of its source bucket under its prefix. Shared by
 * serverless.yml and the local stack.
 */
export function eventPatternFor(asset: ObjectAsset) {
  return {
    source: ['aws.s3'],
    'detail-type': ['Object Created', 'Object Deleted'],
    detail: {
      bucket: { name: [asset.source.bucket] },
      ...(asset.source.prefix ? { object: { key: [{ prefix: asset.source.prefix }] } } : {}),
    },
  };
}

/** The pattern of dataset version request files (policy lineage.requests, docs/lineage.md#request-files) to the lineage function. */
export function datasetRequestPattern(requests: { bucket: string; prefix: string }) {
  return {
    source: ['aws.s3'],
    'detail-type': ['Object Created'],
    detail: { bucket: { name: [requests.bucket] }, object: { key: [{ prefix: requests.prefix }] } },
  };
}

/** CloudFormation logical ids must be alphanumeric. */
export function logicalId(prefix: string, name: string): string {
  return (
    prefix +
    name
      .split(/[^a-zA-Z0-9]/)
      .filter(Boolean)
      .map((w) => w[0]!.toUpperCase() + w.slice(1))
      .join('')
  );
}
