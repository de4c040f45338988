import { z } from 'zod';
import type { ObjectAsset } from '../policy/schema.js';
import { remoteS3Client, s3Client } from '../shared/aws-clients.js';
import { readJsonSecret, SecretFormatError } from '../shared/secrets.js';
import { S3VersionedStore } from './s3-versioned-store.js';

export interface SourceStore {
  store: S3VersionedStore;
  /** False when the source is on another endpoint or behind other credentials: stream, never copy. */
  serverSideCopy: boolean;
}

const secretSchema = z.object({
  accessKeyId: z.string().min(1),
  secretAccessKey: z.string().min(1),
  sessionToken: z.string().optional(),
});

export class SourceCredentialsError extends Error {
  override readonly name = 'SourceCredentialsError';
}

/**
 * The stores replicate and reconcile read and write through: one per region for the stack's own
 * credentials, one per asset for a source on another endpoint or account (its credentials come
 * from a Secrets Manager secret, read once per container).
 */
export function createStores(forcePathStyle: boolean) {
  const regional = new Map<string, S3VersionedStore>();
  const remote = new Map<string, S3VersionedStore>();

  const inRegion = (region: string) => {
    let store = regional.get(region);
    if (!store) {
      store = new S3VersionedStore(s3Client(region, forcePathStyle), s3Client(region, forcePathStyle, { writes: true }));
      regional.set(region, store);
    }
    return store;
  };

  const credentialsFrom = (arn: string) => {
    let cached: Promise<z.infer<typeof secretSchema>> | undefined;
    return () =>
      (cached ??= readJsonSecret(arn, secretSchema, '{"accessKeyId", "secretAccessKey", "sessionToken"?}').catch((error: unknown) => {
        cached = undefined;
        throw error instanceof SecretFormatError ? new SourceCredentialsError(error.message) : error;
      }));
  };

  const sourceOf = (asset: ObjectAsset): SourceStore => {
    const { endpoint, credentialsSecretArn, region } = asset.source;
    if (!endpoint && !credentialsSecretArn) return { store: inRegion(region), serverSideCopy: true };
    let store = remote.get(asset.name);
    if (!store) {
      const options = {
        region,
        ...(endpoint && { endpoint }),
        forcePathStyle: asset.source.forcePathStyle ?? forcePathStyle,
        ...(credentialsSecretArn && { credentials: credentialsFrom(credentialsSecretArn) }),
      };
      store = new S3VersionedStore(remoteS3Client(options), remoteS3Client(options, { writes: true }));
      remote.set(asset.name, store);
    }
    return { store, serverSideCopy: false };
  };

  return { sourceOf, replicaOf: (asset: ObjectAsset) => inRegion(asset.replica.region), inRegion };
}
