/**
 * Qdrant adapter: Qdrant's REST API as of Qdrant 1.13 (qdrant/qdrant `docs/redoc/v1.13.x/openapi.json`,
 * https://api.qdrant.tech/v-1-13-x/), through httpJson; no Qdrant client library. An `api-key` header
 * goes with every request when `apiKey` is set.
 *
 * Mapping:
 * - index = a collection with one unnamed dense vector (`vectors: {size, distance}`); collections with
 *   named vectors, or with a distance the port has no name for (Manhattan), are refused.
 * - metric: cosine <-> Cosine, euclidean <-> Euclid, dot <-> Dot. Qdrant normalises vectors of Cosine
 *   collections when they are written, so a scan of a Cosine collection returns the unit vectors Qdrant
 *   stores, not the ones written; Euclid and Dot vectors round-trip bit for bit as float32.
 * - ids: Qdrant takes unsigned integers and UUIDs only. Decimal ids up to 2^53 - 1 go as integers and
 *   lowercase hyphenated UUIDs as themselves; any other id becomes a name-based UUID (SHA-1 over
 *   `idNamespace` and the id, version 5 layout) and the original id is kept in the payload under
 *   `idPayloadKey`, which scans and queries read back and strip. Metadata is the rest of the payload.
 * - count is an exact POST /points/count; `points_count` of the collection info is approximate.
 *
 * Scan: POST /points/scroll in id order; the cursor is the `next_page_offset` point id (base64url JSON),
 * so another process can resume. A scroll is not a point-in-time read: a record written behind the
 * cursor is missed, one ahead of it is read: consistency is 'window'. Queries pass `params.exact`, so
 * they are exact (a full scan, not HNSW).
 *
 * Native snapshots: POST /collections/{name}/snapshots?wait=true creates one (format "qdrant-snapshot",
 * id = the snapshot file name, details = source collection, size, checksum), GET .../snapshots/{name}
 * streams its bytes, and PUT /collections/{name}/snapshots/recover (priority "snapshot") restores it into
 * `index` (created or overwritten): from a URL the Qdrant server fetches, or from a ref, whose location is
 * the snapshot's download URL on this same server (`url` of the config must be reachable from the
 * server itself), sent with the checksum and, when set, the api key. Qdrant serves a collection's
 * snapshots only while that collection exists: once it is dropped, restore from a stored copy's URL.
 */
import { createHash } from 'node:crypto';
import { HttpStatusError, httpJson } from './http-json.js';
import type { JsonValue } from '../../shared/json.js';
import {
  EngineError,
  IndexExistsError,
  IndexNotFoundError,
  type Metadata,
  type Metric,
  type NativeSnapshotRef,
  type VectorRecord,
  type VectorStore,
} from '../vector-store.js';

export interface QdrantConfig {
  url: string;
  apiKey?: string;
  timeoutMs?: number;
  attempts?: number;
  backoffMs?: number;
}

export const qdrantSnapshotFormat = 'qdrant-snapshot';
/** Payload key holding an id that Qdrant cannot take as a point id. */
export const idPayloadKey = '__dr_point_id';
/** Namespace of the name-based point UUIDs (changing it would change every mapped point id). */
export const idNamespace = '8f2c6d1e-4b7a-4e39-9c0d-5a1f3e7b2c64';
const engine = 'qdrant';
/** Points per upsert request: keeps bodies well below Qdrant's default 32 MB request limit. */
const upsertBatch = 256;

type Distance = 'Cosine' | 'Euclid' | 'Dot';
const distanceOf: Record<Metric, Distance> = { cosine: 'Cosine', euclidean: 'Euclid', dot: 'Dot' };
const metricOf: Record<string, Metric | undefined> = { Cosine: 'cosine', Euclid: 'euclidean', Dot: 'dot' };

type PointId = number | string;
type Payload = Record<string, JsonValue>;
interface CollectionInfo {
  config: { params: { vectors?: { size?: unknown; distance?: unknown } } };
}
interface ScrollResult {
  points: { id: PointId; payload?: Payload; vector?: unknown }[];
  next_page_offset?: PointId | null;
}
interface QueryResponse {
  points: { id: PointId; score: number; payload?: Payload }[];
}
interface SnapshotDescription {
  name: string;
  size: number;
  creation_time?: string | null;
  checksum?: string | null;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const namespaceBytes = Buffer.from(idNamespace.replaceAll('-', ''), 'hex');

/** The Qdrant point id of a record id: itself when Qdrant takes it back unchanged, else a name-based UUID. */
export function pointIdOf(id: string): PointId {
  if (/^(0|[1-9]\d*)$/.test(id) && Number.isSafeInteger(Number(id))) return Number(id);
  if (uuidPattern.test(id)) return id;
  const hash = createHash('sha1').update(namespaceBytes).update(id, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function qdrantStore(config: QdrantConfig): VectorStore {
  const http = httpJson({
    engine,
    baseUrl: config.url,
    headers: config.apiKey === undefined ? {} : { 'api-key': config.apiKey },
    timeoutMs: config.timeoutMs,
    attempts: config.attempts,
    backoffMs: config.backoffMs,
  });
  const collection = (index: string) => `/collections/${encodeURIComponent(index)}`;

  const failure = (operation: string, index: string, error: unknown) =>
    new EngineError(
      engine,
      `${operation} of index "${index}" failed: ${error instanceof Error ? error.message.replace(`${engine}: `, '') : String(error)}`,
      {
        cause: error,
      },
    );

  /** One API call; its `result`. 404 means the collection is missing, 409 that it exists. */
  async function call<T>(operation: string, index: string, method: string, path: string, body?: unknown): Promise<T> {
    try {
      return (await http.json<{ result: T }>(method, path, body)).result;
    } catch (error) {
      if (error instanceof HttpStatusError && error.status === 404) throw new IndexNotFoundError(engine, index);
      if (error instanceof HttpStatusError && error.status === 409) throw new IndexExistsError(engine, index);
      throw failure(operation, index, error);
    }
  }

  function recordId(operation: string, index: string, id: PointId, payload: Payload | undefined): string {
    const original = payload?.[idPayloadKey];
    if (typeof original === 'string') return original;
    if (typeof id === 'number' && !Number.isSafeInteger(id)) {
      throw new EngineError(
        engine,
        `${operation} of index "${index}": point id ${id} is above 2^53 - 1 and cannot be read exactly from JSON`,
      );
    }
    return String(id);
  }

  function toPoint(index: string, record: VectorRecord) {
    if (idPayloadKey in record.metadata) {
      throw new EngineError(
        engine,
        `write to index "${index}": metadata key "${idPayloadKey}" is reserved by the adapter (record "${record.id}")`,
      );
    }
    const id = pointIdOf(record.id);
    const payload = String(id) === record.id ? record.metadata : { ...record.metadata, [idPayloadKey]: record.id };
    return { id, vector: Array.from(record.vector), payload };
  }

  function decodeCursor(index: string, cursor: string): PointId {
    try {
      const { offset } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { offset?: unknown };
      if (
        (typeof offset === 'number' && Number.isSafeInteger(offset) && offset >= 0) ||
        (typeof offset === 'string' && uuidPattern.test(offset))
      )
        return offset;
    } catch {
      // reported below
    }
    throw new EngineError(engine, `scan of index "${index}": cursor "${cursor}" is not one this adapter issued`);
  }

  function recoverFrom(index: string, ref: NativeSnapshotRef) {
    if (ref.format !== qdrantSnapshotFormat) {
      throw new EngineError(engine, `restore of index "${index}": a ${ref.format} snapshot is not a ${qdrantSnapshotFormat}`);
    }
    const source = String(ref.details?.collection ?? index);
    return {
      location: `${http.baseUrl}${collection(source)}/snapshots/${encodeURIComponent(ref.id)}`,
      priority: 'snapshot',
      ...(ref.details?.checksum === undefined ? {} : { checksum: String(ref.details.checksum) }),
      ...(config.apiKey === undefined ? {} : { api_key: config.apiKey }),
    };
  }

  return {
    engine,
    consistency: 'window',
    exactSearch: true,

    async describe(index) {
      const info = await call<CollectionInfo>('describe', index, 'GET', collection(index));
      const { size, distance } = info.config.params.vectors ?? {};
      const metric = metricOf[String(distance)];
      if (typeof size !== 'number' || metric === undefined) {
        throw new EngineError(
          engine,
          `describe of index "${index}": only one unnamed vector with Cosine, Euclid or Dot distance is supported, not ${JSON.stringify(info.config.params.vectors)}`,
        );
      }
      const { count } = await call<{ count: number }>('describe', index, 'POST', `${collection(index)}/points/count`, { exact: true });
      return { dimensions: size, metric, count };
    },

    async scan(index, { cursor, limit }) {
      const offset = cursor === undefined ? undefined : decodeCursor(index, cursor);
      const page = await call<ScrollResult>('scan', index, 'POST', `${collection(index)}/points/scroll`, {
        limit,
        with_payload: true,
        with_vector: true,
        ...(offset === undefined ? {} : { offset }),
      });
      const records = page.points.map(({ id, payload, vector }): VectorRecord => {
        if (!Array.isArray(vector)) throw new EngineError(engine, `scan of index "${index}": point ${id} has no unnamed dense vector`);
        const { [idPayloadKey]: _original, ...metadata } = payload ?? {};
        return { id: recordId('scan', index, id, payload), vector: Float32Array.from(vector as number[]), metadata: metadata as Metadata };
      });
      const next = page.next_page_offset;
      return {
        records,
        cursor: next === null || next === undefined ? undefined : Buffer.from(JSON.stringify({ offset: next })).toString('base64url'),
      };
    },

    async write(index, records) {
      for (let start = 0; start < records.length; start += upsertBatch) {
        const points = records.slice(start, start + upsertBatch).map((record) => toPoint(index, record));
        await call('write', index, 'PUT', `${collection(index)}/points?wait=true`, { points });
      }
    },

    async createIndex(index, spec) {
      await call('createIndex', index, 'PUT', collection(index), { vectors: { size: spec.dimensions, distance: distanceOf[spec.metric] } });
    },

    async dropIndex(index) {
      // Qdrant answers 200 with result false for a collection that does not exist.
      await call('dropIndex', index, 'DELETE', collection(index));
    },

    async query(index, vector, k) {
      const { points } = await call<QueryResponse>('query', index, 'POST', `${collection(index)}/points/query`, {
        query: Array.from(vector),
        limit: k,
        with_payload: true,
        params: { exact: true },
      });
      return points.map(({ id, score, payload }) => ({ id: recordId('query', index, id, payload), score }));
    },

    native: {
      restoreCreatesIndex: false,
      async create(index) {
        const snapshot = await call<SnapshotDescription>('create snapshot', index, 'POST', `${collection(index)}/snapshots?wait=true`);
        return {
          format: qdrantSnapshotFormat,
          id: snapshot.name,
          details: {
            collection: index,
            size: snapshot.size,
            ...(snapshot.creation_time ? { creationTime: snapshot.creation_time } : {}),
            ...(snapshot.checksum ? { checksum: snapshot.checksum } : {}),
          },
        };
      },

      async download(index, ref) {
        try {
          return await http.stream('GET', `${collection(index)}/snapshots/${encodeURIComponent(ref.id)}`);
        } catch (error) {
          throw failure(`download of snapshot "${ref.id}"`, index, error);
        }
      },

      async restore(index, from) {
        const body = 'url' in from ? { location: from.url, priority: 'snapshot' } : recoverFrom(index, from.ref);
        try {
          await http.json('PUT', `${collection(index)}/snapshots/recover?wait=true`, body);
        } catch (error) {
          throw failure('restore of a snapshot', index, error);
        }
      },
    },

    async close() {},
  };
}
