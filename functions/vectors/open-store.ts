import { z } from 'zod';
import type { VectorAsset } from '../policy/schema.js';
import { s3VectorsClient } from '../shared/aws-clients.js';
import { clientEnv } from '../shared/config.js';
import { readJsonSecret } from '../shared/secrets.js';
import type { VectorStore } from './vector-store.js';

const passwordSecret = z.object({ password: z.string().min(1) });
const apiKeySecret = z.object({ apiKey: z.string().min(1) });

/**
 * The adapter for a vector-index asset of the policy, loaded on demand (LanceDB's native module
 * is loaded only where a policy has a LanceDB asset). Credentials come from the asset's Secrets
 * Manager secret ({"password"} for pgvector, {"apiKey"} for the HTTP engines); LanceDB on S3 and
 * S3 Vectors use the function's own AWS credentials.
 */
export async function openVectorStore(asset: VectorAsset): Promise<VectorStore> {
  const { engine, endpoint = '', credentialsSecretArn: arn, region } = asset.source;
  const apiKey = async () => (arn ? (await readJsonSecret(arn, apiKeySecret, '{"apiKey"}')).apiKey : undefined);
  switch (engine) {
    case 'pgvector':
      return (await import('./adapters/pgvector.js')).pgvectorStore({
        connectionString: endpoint,
        ...(arn && { password: (await readJsonSecret(arn, passwordSecret, '{"password"}')).password }),
      });
    case 'qdrant':
      return (await import('./adapters/qdrant.js')).qdrantStore({ url: endpoint, apiKey: await apiKey() });
    case 'chroma':
      return (await import('./adapters/chroma.js')).chromaStore({ url: endpoint, apiKey: await apiKey() });
    case 'weaviate':
      return (await import('./adapters/weaviate.js')).weaviateStore({ url: endpoint, apiKey: await apiKey() });
    case 'pinecone':
      return (await import('./adapters/pinecone.js')).pineconeStore({
        apiKey: (await apiKey())!,
        ...(endpoint && { controlPlaneUrl: endpoint }),
      });
    case 'lancedb':
      return (await import('./adapters/lancedb.js')).lanceDbStore({
        uri: endpoint,
        ...(endpoint.startsWith('s3://') && { storageOptions: lanceDbS3Options(region) }),
      });
    case 's3vectors':
      return (await import('./adapters/s3vectors.js')).s3VectorsStore({
        vectorBucketName: asset.source.vectorBucket!,
        client: s3VectorsClient(region),
      });
  }
}

/** LanceDB's object store reads the region here; credentials come from the Lambda environment. */
function lanceDbS3Options(region: string): Record<string, string> {
  const endpoint = clientEnv().s3Endpoint;
  return { region, ...(endpoint && { endpoint, allow_http: String(endpoint.startsWith('http://')) }) };
}
