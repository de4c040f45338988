/**
 * Weaviate adapter: Weaviate 1.25, REST API v1 (OpenAPI `openapi-specs/schema.json` of weaviate/weaviate,
 * docs https://weaviate.io/developers/weaviate/api/rest), with POST /v1/graphql for counts and kNN.
 * Requests go straight to the API through httpJson; no Weaviate client library.
 *
 * Mapping:
 * - index = a class (collection). Index names must be lowercase letters, digits and hyphens, starting
 *   with a letter (at most 255 characters); the class is the name with its first letter upper-cased and
 *   hyphens turned into underscores: "contract-12-ab" -> "Contract_12_ab". The mapping is one-to-one on
 *   those names (they have no underscores and no upper case), so two indexes never share a class; any
 *   other name is refused with an EngineError.
 * - metric = vectorIndexConfig.distance: cosine <-> cosine, euclidean <-> l2-squared (the squared distance
 *   orders neighbours exactly like the euclidean one), dot <-> dot. A class with another distance
 *   (hamming, manhattan) describes with metric undefined.
 * - dimensions: Weaviate keeps none in the schema. createIndex writes them into the class description
 *   ("dimensions=16"); for a class created elsewhere describe reads the length of one stored vector
 *   (0 while it has none).
 * - ids: Weaviate ids are UUIDs. A canonical lower-case UUID is used as is; any other id becomes the
 *   name-based UUIDv5 of the id in the DNS namespace (what Weaviate's Python client `generate_uuid5(id)`
 *   gives) and the original id is kept in the reserved text property "drSourceId", which scans and
 *   queries turn back into the id and strip from the metadata.
 * - metadata = the object's properties (added by Weaviate's auto-schema, which must be on, as it is by
 *   default). Keys must be valid property names that Weaviate keeps as they are: a lower-case letter,
 *   then letters, digits or underscores; not "id" (reserved) nor "drSourceId". Other keys are refused
 *   with an EngineError. Weaviate stores no null properties: a null value is left out on write.
 *   Vectors are float32 in Weaviate and come back through a Float32Array, bit for bit.
 *
 * Scan: the cursor API, GET /v1/objects?class=C&limit=N&after=<uuid>&include=vector, which lists a
 * class in UUID order; the cursor is the last UUID of the page (base64url JSON). Nothing pins a version
 * while writes continue: an object written during the scan is read if its UUID sorts after the cursor
 * and missed otherwise, so consistency is 'window'. Counts are an Aggregate meta count; queries are
 * Get nearVector on the HNSW index (approximate, exactSearch false).
 *
 * Native snapshots are Weaviate backups of the one class: POST /v1/backups/{backend} {id, include},
 * polled on GET /v1/backups/{backend}/{id} until SUCCESS; a backup still STARTED after backupTimeoutMs
 * is reported as stuck (a known Weaviate failure when a node restarts during a backup,
 * weaviate/weaviate#5986). Restores POST /v1/backups/{backend}/{id}/restore {include} and poll its
 * status. The 1.25 restore request (include, exclude, config, node_mapping) cannot rename a class, so a
 * backup restores only into the index it was taken from, and only while that class does not exist.
 * Weaviate neither hands out a backup's bytes nor restores from a URL. Status polls start at backoffMs
 * (at least 10 ms) and double up to 5 s.
 */
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpStatusError, httpJson } from './http-json.js';
import type { JsonValue } from '../../shared/json.js';
import {
  EngineError,
  IndexExistsError,
  IndexNotFoundError,
  type IndexDescription,
  type IndexSpec,
  type Metadata,
  type Metric,
  type NativeSnapshotRef,
  type Neighbour,
  type ScanPage,
  type VectorRecord,
  type VectorStore,
} from '../vector-store.js';

export interface WeaviateConfig {
  url: string;
  apiKey?: string;
  /** Backup backend module without its "backup-" prefix; default "s3". */
  backupBackend?: string;
  timeoutMs?: number;
  attempts?: number;
  backoffMs?: number;
  /** How long a backup or restore may take; default 10 minutes. */
  backupTimeoutMs?: number;
}

export const weaviateBackupFormat = 'weaviate-backup';
const engine = 'weaviate';
/** The reserved property holding an id that is not a UUID. */
const sourceIdProperty = 'drSourceId';
/** Objects a batch request; the docs advise batches of about a hundred. */
const batchSize = 100;
/** QUERY_MAXIMUM_RESULTS defaults to 10,000; a scan page asks for one object more than it returns. */
const maxPageLimit = 9_999;
const maxPollMs = 5_000;

type Distance = 'cosine' | 'l2-squared' | 'dot';
const distanceOf: Record<Metric, Distance> = { cosine: 'cosine', euclidean: 'l2-squared', dot: 'dot' };
const metricOf: Record<string, Metric> = { cosine: 'cosine', 'l2-squared': 'euclidean', dot: 'dot' };

const indexName = /^[a-z][a-z0-9-]{0,254}$/;
const canonicalUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const propertyName = /^[a-z][_0-9A-Za-z]{0,230}$/;
const reservedProperties = new Set(['id', sourceIdProperty]);
/** RFC 4122 DNS namespace, as uuid.NAMESPACE_DNS. */
const dnsNamespace = Buffer.from('6ba7b8109dad11d180b400c04fd430c8', 'hex');

interface WeaviateClass {
  class: string;
  description?: string;
  vectorIndexConfig?: { distance?: string };
  properties?: { name: string }[];
}
interface WeaviateObject {
  id: string;
  properties?: Record<string, JsonValue>;
  vector?: number[];
}
interface ObjectsListResponse {
  objects?: WeaviateObject[];
}
interface BatchResult {
  result?: { status?: string; errors?: { error?: { message?: string }[] } };
}
interface GraphQLResponse<T> {
  data?: T;
  errors?: { message?: string }[];
}
interface BackupStatus {
  status?: string;
  error?: string;
  path?: string;
}

export function classOf(index: string): string {
  if (!indexName.test(index)) {
    throw new EngineError(
      engine,
      `index name "${index}" cannot map to a Weaviate class: use lowercase letters, digits and hyphens, starting with a letter (at most 255 characters)`,
    );
  }
  return index[0]!.toUpperCase() + index.slice(1).replaceAll('-', '_');
}

/** The object UUID of a record id: canonical UUIDs as they are, anything else its UUIDv5. */
function uuidOf(id: string): string {
  if (canonicalUuid.test(id)) return id;
  const hash = createHash('sha1').update(dnsNamespace).update(id, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function encodeCursor(after: string): string {
  return Buffer.from(JSON.stringify({ after })).toString('base64url');
}

function decodeCursor(cursor: string, index: string): string {
  try {
    const { after } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof after === 'string' && canonicalUuid.test(after)) return after;
  } catch {
    // reported below
  }
  throw new EngineError(engine, `scan of index "${index}": "${cursor}" is not a cursor of this adapter`);
}

/** GraphQL takes the vector inline: each float32 as the shortest decimal that reads back as itself. */
function vectorLiteral(vector: Float32Array): string {
  return `[${Array.from(vector, (x) => String(x)).join(', ')}]`;
}

export function weaviateStore(config: WeaviateConfig): VectorStore {
  const backupBackend = config.backupBackend ?? 's3';
  const backupTimeoutMs = config.backupTimeoutMs ?? 600_000;
  const firstPollMs = Math.max(config.backoffMs ?? 200, 10);
  const http = httpJson({
    engine,
    baseUrl: config.url,
    headers: config.apiKey ? { authorization: `Bearer ${config.apiKey}` } : {},
    timeoutMs: config.timeoutMs,
    attempts: config.attempts,
    backoffMs: config.backoffMs,
  });

  /** Runs `operation` on `index`: a 404 means the index is missing; any other failure names both. */
  async function call<T>(operation: string, index: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof IndexNotFoundError || error instanceof IndexExistsError) throw error;
      if (error instanceof HttpStatusError && error.status === 404) throw new IndexNotFoundError(engine, index);
      const reason = error instanceof Error ? error.message.replace(/^weaviate: /, '') : String(error);
      throw new EngineError(engine, `${operation} of index "${index}" failed: ${reason}`, { cause: error });
    }
  }

  const schemaPath = (cls: string) => `/v1/schema/${encodeURIComponent(cls)}`;
  const getClass = (cls: string) => http.json<WeaviateClass>('GET', schemaPath(cls));

  async function classExists(cls: string): Promise<boolean> {
    try {
      await getClass(cls);
      return true;
    } catch (error) {
      if (error instanceof HttpStatusError && error.status === 404) return false;
      throw error;
    }
  }

  async function graphql<T>(query: string): Promise<T> {
    const response = await http.json<GraphQLResponse<T>>('POST', '/v1/graphql', { query });
    if (response.errors?.length || !response.data) {
      throw new EngineError(engine, `GraphQL answered: ${(response.errors ?? []).map((e) => e.message).join('; ') || 'no data'}`);
    }
    return response.data;
  }

  async function listObjects(cls: string, limit: number, after?: string): Promise<WeaviateObject[]> {
    const query = new URLSearchParams({ class: cls, limit: String(limit), ...(after ? { after } : {}), include: 'vector' });
    const response = await http.json<ObjectsListResponse>('GET', `/v1/objects?${query}`);
    return response.objects ?? [];
  }

  function toRecord(object: WeaviateObject): VectorRecord {
    const { [sourceIdProperty]: sourceId, ...metadata } = object.properties ?? {};
    return {
      id: typeof sourceId === 'string' ? sourceId : object.id,
      vector: Float32Array.from(object.vector ?? []),
      metadata: metadata as Metadata,
    };
  }

  function toObject(cls: string, index: string, record: VectorRecord) {
    const properties: Record<string, JsonValue> = {};
    for (const [key, value] of Object.entries(record.metadata)) {
      if (!propertyName.test(key) || reservedProperties.has(key)) {
        throw new EngineError(
          engine,
          `write to index "${index}": metadata key "${key}" of record "${record.id}" is not a Weaviate property name this adapter ` +
            `can keep (a lower-case letter, then letters, digits or underscores; not "id" or "${sourceIdProperty}")`,
        );
      }
      if (value !== null) properties[key] = value;
    }
    const id = uuidOf(record.id);
    if (id !== record.id) properties[sourceIdProperty] = record.id;
    return { class: cls, id, properties, vector: Array.from(record.vector) };
  }

  /** A backup request, where a 404 means the backup (not the index) is missing. */
  async function backupRequest<T>(what: string, method: string, path: string, body?: unknown): Promise<T> {
    try {
      return await http.json<T>(method, path, body);
    } catch (error) {
      if (error instanceof HttpStatusError && error.status === 404) {
        throw new EngineError(engine, `${what}: Weaviate knows no such backup (${error.message.replace(/^weaviate: /, '')})`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  /** Polls a backup or restore status until SUCCESS; FAILED, CANCELED or the timeout end it with an EngineError. */
  async function awaitBackup(what: string, index: string, path: string): Promise<BackupStatus> {
    const deadline = Date.now() + backupTimeoutMs;
    for (let delay = firstPollMs; ; delay = Math.min(delay * 2, maxPollMs)) {
      const status = await backupRequest<BackupStatus>(what, 'GET', path);
      if (status.status === 'SUCCESS') return status;
      if (status.status === 'FAILED' || status.status === 'CANCELED') {
        throw new EngineError(engine, `${what} of index "${index}" ended ${status.status}: ${status.error ?? 'no error given'}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        const stuck =
          status.status === 'STARTED'
            ? ': the backup is stuck in STARTED, a known Weaviate failure after a node restarts during a backup (weaviate/weaviate#5986)'
            : '';
        throw new EngineError(engine, `${what} of index "${index}" is still ${status.status} after ${backupTimeoutMs} ms${stuck}`);
      }
      await sleep(Math.min(delay, left));
    }
  }

  return {
    engine,
    consistency: 'window',
    exactSearch: false,

    describe: (index) =>
      call('describe', index, async (): Promise<IndexDescription> => {
        const cls = classOf(index);
        const schema = await getClass(cls);
        const recorded = /\bdimensions=(\d+)\b/.exec(schema.description ?? '');
        const dimensions = recorded ? Number(recorded[1]) : ((await listObjects(cls, 1))[0]?.vector?.length ?? 0);
        const data = await graphql<{ Aggregate?: Record<string, { meta?: { count?: number } }[]> }>(
          `{ Aggregate { ${cls} { meta { count } } } }`,
        );
        const count = data.Aggregate?.[cls]?.[0]?.meta?.count;
        if (typeof count !== 'number') throw new EngineError(engine, `Aggregate answered no count for class ${cls}`);
        return { dimensions, metric: metricOf[schema.vectorIndexConfig?.distance ?? ''], count };
      }),

    scan: (index, { cursor, limit }) =>
      call('scan', index, async (): Promise<ScanPage> => {
        const cls = classOf(index);
        if (!Number.isInteger(limit) || limit < 1) throw new EngineError(engine, `scan limit must be a positive integer, not ${limit}`);
        const pageLimit = Math.min(limit, maxPageLimit);
        const objects = await listObjects(cls, pageLimit + 1, cursor === undefined ? undefined : decodeCursor(cursor, index));
        const page = objects.slice(0, pageLimit);
        return {
          records: page.map(toRecord),
          cursor: objects.length > pageLimit ? encodeCursor(page[page.length - 1]!.id) : undefined,
        };
      }),

    write: (index, records) =>
      call('write', index, async () => {
        const cls = classOf(index);
        const objects = records.map((record) => toObject(cls, index, record));
        // Auto-schema would create a missing class with default settings: refuse instead.
        if (!(await classExists(cls))) throw new IndexNotFoundError(engine, index);
        for (let start = 0; start < objects.length; start += batchSize) {
          const chunk = objects.slice(start, start + batchSize);
          const results = await http.json<BatchResult[]>('POST', '/v1/batch/objects', { objects: chunk });
          if (!Array.isArray(results) || results.length !== chunk.length) {
            throw new EngineError(
              engine,
              `batch of ${chunk.length} objects answered ${Array.isArray(results) ? results.length : 'no'} results`,
            );
          }
          const failures = results.flatMap((result, i) => {
            const messages = result.result?.errors?.error?.map((e) => e.message ?? 'unknown error') ?? [];
            return messages.length > 0 || result.result?.status === 'FAILED'
              ? [`"${records[start + i]!.id}": ${messages.join('; ') || 'FAILED'}`]
              : [];
          });
          if (failures.length > 0) {
            throw new EngineError(
              engine,
              `${failures.length} of ${chunk.length} objects were refused: ${failures.slice(0, 5).join(' | ')}`,
            );
          }
        }
      }),

    createIndex: (index, spec: IndexSpec) =>
      call('createIndex', index, async () => {
        const cls = classOf(index);
        if (!Number.isInteger(spec.dimensions) || spec.dimensions < 1) {
          throw new EngineError(engine, `dimensions must be a positive integer, not ${spec.dimensions}`);
        }
        try {
          await http.json('POST', '/v1/schema', {
            class: cls,
            description: `VectorStore index "${index}"; dimensions=${spec.dimensions}`,
            vectorizer: 'none',
            vectorIndexType: 'hnsw',
            vectorIndexConfig: { distance: distanceOf[spec.metric] },
            properties: [{ name: sourceIdProperty, dataType: ['text'], tokenization: 'field', indexSearchable: false }],
          });
        } catch (error) {
          if (error instanceof HttpStatusError && error.status === 422 && /already exists/.test(error.body)) {
            throw new IndexExistsError(engine, index);
          }
          throw error;
        }
      }),

    dropIndex: (index) =>
      call('dropIndex', index, async () => {
        try {
          await http.json('DELETE', schemaPath(classOf(index)));
        } catch (error) {
          if (!(error instanceof HttpStatusError && error.status === 404)) throw error;
        }
      }),

    query: (index, vector, k) =>
      call('query', index, async (): Promise<Neighbour[]> => {
        const cls = classOf(index);
        const schema = await getClass(cls);
        const hasSourceId = schema.properties?.some((p) => p.name === sourceIdProperty) ?? false;
        const data = await graphql<{
          Get?: Record<string, { drSourceId?: string | null; _additional?: { id?: string; distance?: number } }[]>;
        }>(
          `{ Get { ${cls}(nearVector: {vector: ${vectorLiteral(vector)}}, limit: ${k}) { ${hasSourceId ? `${sourceIdProperty} ` : ''}_additional { id distance } } } }`,
        );
        return (data.Get?.[cls] ?? []).map((hit) => ({
          id: hit.drSourceId ?? hit._additional?.id ?? '',
          score: hit._additional?.distance ?? Number.NaN,
        }));
      }),

    native: {
      restoreCreatesIndex: true,
      create: (index) =>
        call('backup', index, async (): Promise<NativeSnapshotRef> => {
          const cls = classOf(index);
          await getClass(cls);
          const id = `${cls.toLowerCase()}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
          await backupRequest(`backup "${id}"`, 'POST', `/v1/backups/${encodeURIComponent(backupBackend)}`, { id, include: [cls] });
          const done = await awaitBackup(`backup "${id}"`, index, `/v1/backups/${encodeURIComponent(backupBackend)}/${id}`);
          return {
            format: weaviateBackupFormat,
            id,
            details: { backend: backupBackend, class: cls, ...(done.path ? { path: done.path } : {}) },
          };
        }),

      restore: (index, from) =>
        call('restore', index, async () => {
          const cls = classOf(index);
          if (!('ref' in from)) throw new EngineError(engine, 'Weaviate restores backups from its own backup backend only, not from a URL');
          const { ref } = from;
          if (ref.format !== weaviateBackupFormat) throw new EngineError(engine, `cannot restore a "${ref.format}" snapshot`);
          const backedUp = ref.details?.class;
          if (backedUp !== undefined && backedUp !== cls) {
            throw new EngineError(
              engine,
              `backup "${ref.id}" holds class ${backedUp}; Weaviate's backup API cannot restore it under another class name (${cls})`,
            );
          }
          if (await classExists(cls)) throw new IndexExistsError(engine, index);
          const backend = encodeURIComponent(String(ref.details?.backend ?? backupBackend));
          const path = `/v1/backups/${backend}/${encodeURIComponent(ref.id)}/restore`;
          await backupRequest(`restore of backup "${ref.id}"`, 'POST', path, { include: [cls] });
          await awaitBackup(`restore of backup "${ref.id}"`, index, path);
        }),
    },

    close: async () => {},
  };
}
