/**
 * VectorStore adapter for Amazon S3 Vectors (API 2025-07-15, `@aws-sdk/client-s3vectors` 3.x).
 *
 * - Index = an S3 Vectors index (float32) in one vector bucket, which must exist. Metrics cosine and
 *   euclidean map one to one; S3 Vectors has no dot product (createIndex refuses it).
 * - Ids = vector keys (any string); metadata = the vector's metadata document, passed through.
 * - describe: GetIndex gives dimension and metric; S3 Vectors has no count API, so the count is
 *   taken by listing every key (ListVectors without data, 1,000 keys a call).
 * - Scan = ListVectors with data and metadata; the cursor is S3 Vectors' own nextToken. A scan is a
 *   window: a vector written or deleted during it may or may not be listed.
 * - partitionScan = ListVectors' parallel segments (segmentCount at most 16, segmentIndex): a part's
 *   cursor names its segment, and the nextToken within it.
 * - write = PutVectors (an upsert by key) in calls of at most 500 vectors.
 * - query = QueryVectors, which is approximate; the score is the distance S3 Vectors returns.
 * - No native snapshots.
 * Errors: NotFoundException -> IndexNotFoundError, ConflictException on create -> IndexExistsError.
 */
import {
  ConflictException,
  CreateIndexCommand,
  DeleteIndexCommand,
  GetIndexCommand,
  ListVectorsCommand,
  NotFoundException,
  PutVectorsCommand,
  QueryVectorsCommand,
  S3VectorsClient,
} from '@aws-sdk/client-s3vectors';
import { EngineError, IndexExistsError, IndexNotFoundError, type Metadata, type Metric, type VectorStore } from '../vector-store.js';

export interface S3VectorsConfig {
  vectorBucketName: string;
  /** In the service, the shared traced client of the asset's region (shared/aws-clients.ts). */
  client: S3VectorsClient;
}

const engine = 's3vectors';
const putLimit = 500;
const listLimit = 1000;
/** ListVectors' most parallel segments (segmentCount 1..16). */
const maxSegments = 16;

/** A cursor of one segment of a split scan: `segment:<count>:<index>:<nextToken, empty at its start>`. */
const segmentCursor = (count: number, index: number, token = '') => `segment:${count}:${index}:${token}`;

function parseCursor(cursor: string | undefined): { nextToken?: string; segment?: { count: number; index: number } } {
  const match = cursor?.match(/^segment:(\d+):(\d+):(.*)$/s);
  if (!match) return cursor ? { nextToken: cursor } : {};
  return { segment: { count: Number(match[1]), index: Number(match[2]) }, ...(match[3] && { nextToken: match[3] }) };
}

export function s3VectorsStore(config: S3VectorsConfig): VectorStore {
  const client = config.client;
  const vectorBucketName = config.vectorBucketName;

  function failure(operation: string, index: string, error: unknown): Error {
    if (error instanceof NotFoundException) return new IndexNotFoundError(engine, index);
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return new EngineError(engine, `${operation} on index "${index}" in "${vectorBucketName}" failed: ${reason}`, {
      cause: error,
    });
  }

  async function call<T>(operation: string, index: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw failure(operation, index, error);
    }
  }

  async function count(indexName: string): Promise<number> {
    let total = 0;
    let nextToken: string | undefined;
    do {
      const page = await call('ListVectors', indexName, () =>
        client.send(new ListVectorsCommand({ vectorBucketName, indexName, maxResults: listLimit, nextToken })),
      );
      total += page.vectors?.length ?? 0;
      nextToken = page.nextToken;
    } while (nextToken);
    return total;
  }

  return {
    engine,
    consistency: 'window',
    exactSearch: false,

    async describe(indexName) {
      const { index } = await call('GetIndex', indexName, () => client.send(new GetIndexCommand({ vectorBucketName, indexName })));
      return {
        dimensions: index!.dimension!,
        metric: index!.distanceMetric as Metric | undefined,
        count: await count(indexName),
      };
    },

    async scan(indexName, { cursor, limit }) {
      const { nextToken, segment } = parseCursor(cursor);
      const page = await call('ListVectors', indexName, () =>
        client.send(
          new ListVectorsCommand({
            vectorBucketName,
            indexName,
            maxResults: Math.min(limit, listLimit),
            nextToken,
            ...(segment && { segmentCount: segment.count, segmentIndex: segment.index }),
            returnData: true,
            returnMetadata: true,
          }),
        ),
      );
      const next = page.nextToken || undefined;
      return {
        records: (page.vectors ?? []).map((v) => ({
          id: v.key!,
          vector: Float32Array.from(v.data?.float32 ?? []),
          metadata: (v.metadata ?? {}) as Metadata,
        })),
        cursor: next && segment ? segmentCursor(segment.count, segment.index, next) : next,
      };
    },

    async partitionScan(indexName, count) {
      await call('GetIndex', indexName, () => client.send(new GetIndexCommand({ vectorBucketName, indexName })));
      const segments = Math.max(1, Math.min(count, maxSegments));
      return Array.from({ length: segments }, (_, i) => segmentCursor(segments, i));
    },

    async write(indexName, records) {
      for (let start = 0; start < records.length; start += putLimit) {
        const vectors = records.slice(start, start + putLimit).map((r) => ({
          key: r.id,
          data: { float32: Array.from(r.vector) },
          metadata: r.metadata,
        }));
        await call('PutVectors', indexName, () => client.send(new PutVectorsCommand({ vectorBucketName, indexName, vectors })));
      }
    },

    async createIndex(indexName, { dimensions, metric }) {
      if (metric === 'dot') throw new EngineError(engine, `index "${indexName}": S3 Vectors has no dot-product metric`);
      try {
        await client.send(
          new CreateIndexCommand({
            vectorBucketName,
            indexName,
            dataType: 'float32',
            dimension: dimensions,
            distanceMetric: metric,
          }),
        );
      } catch (error) {
        if (error instanceof ConflictException) throw new IndexExistsError(engine, indexName);
        throw failure('CreateIndex', indexName, error);
      }
    },

    async dropIndex(indexName) {
      try {
        await client.send(new DeleteIndexCommand({ vectorBucketName, indexName }));
      } catch (error) {
        if (!(error instanceof NotFoundException)) throw failure('DeleteIndex', indexName, error);
      }
    },

    async query(indexName, vector, k) {
      const { vectors } = await call('QueryVectors', indexName, () =>
        client.send(
          new QueryVectorsCommand({
            vectorBucketName,
            indexName,
            topK: k,
            queryVector: { float32: Array.from(vector) },
            returnDistance: true,
          }),
        ),
      );
      return (vectors ?? []).map((v) => ({ id: v.key!, score: v.distance! }));
    },

    async close() {
      if (!config.client) client.destroy();
    },
  };
}
