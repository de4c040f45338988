import { S3VectorsClient } from '@aws-sdk/client-s3vectors';
import { z } from 'zod';
import type { VectorAsset } from '../policy/schema.js';
import { readJsonSecret } from '../shared/secrets.js';
import { chromaStore } from './adapters/chroma.js';
import { lanceDbStore } from './adapters/lancedb.js';
import { pgvectorStore } from './adapters/pgvector.js';
import { pineconeStore } from './adapters/pinecone.js';
import { qdrantStore } from './adapters/qdrant.js';
import { s3VectorsStore } from './adapters/s3vectors.js';
import { weaviateStore } from './adapters/weaviate.js';
import type { VectorStore } from './vector-store.js';

const passwordSecret = z.object({ password: z.string().min(1) });
const apiKeySecret = z.object({ apiKey: z.string().min(1) });

/**
 * The adapter for a vector-index asset of the policy. Credentials come from the asset's Secrets
 * Manager secret ({"password"} for pgvector, {"apiKey"} for the HTTP engines); LanceDB on S3 and
 * S3 Vectors use the function's own AWS credentials.
 */
export async function openVectorStore(asset: VectorAsset): Promise<VectorStore> {
  const { engine, endpoint = '', credentialsSecretArn: arn, region } = asset.source;
  const apiKey = async () => (arn ? (await readJsonSecret(arn, apiKeySecret, '{"apiKey"}')).apiKey : undefined);
  switch (engine) {
    case 'pgvector':
      return pgvectorStore({
        connectionString: endpoint,
        ...(arn && { password: (await readJsonSecret(arn, passwordSecret, '{"password"}')).password }),
      });
    case 'qdrant':
      return qdrantStore({ url: endpoint, apiKey: await apiKey() });
    case 'chroma':
      return chromaStore({ url: endpoint, apiKey: await apiKey() });
    case 'weaviate':
      return weaviateStore({ url: endpoint, apiKey: await apiKey() });
    case 'pinecone':
      return pineconeStore({ apiKey: (await apiKey())!, ...(endpoint && { controlPlaneUrl: endpoint }) });
    case 'lancedb':
      return lanceDbStore({ uri: endpoint, ...(endpoint.startsWith('s3://') && { storageOptions: lanceDbS3Options(region) }) });
    case 's3vectors':
      return s3VectorsStore({ vectorBucketName: asset.source.vectorBucket!, client: new S3VectorsClient({ region, maxAttempts: 5 }) });
  }
}

/** LanceDB's object store reads the region here; credentials come from the Lambda environment. */
function lanceDbS3Options(region: string): Record<string, string> {
  const endpoint = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  return { region, ...(endpoint && { endpoint, allow_http: String(endpoint.startsWith('http://')) }) };
}
