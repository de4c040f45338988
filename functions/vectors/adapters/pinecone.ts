/**
 * Pinecone adapter: Pinecone's REST API version 2025-04 (sent as `X-Pinecone-API-Version: 2025-04`), as
 * specified by pinecone-io/pinecone-api `2025-04/db_control_2025-04.oas.yaml` (control plane,
 * https://api.pinecone.io) and `2025-04/db_data_2025-04.oas.yaml` (each index's data-plane host).
 * Requests go straight to the REST API through httpJson; no Pinecone client library.
 *
 * Mapping:
 * - index = a serverless index (`spec.serverless` {cloud, region}, default aws / us-east-1); its records
 *   live in one namespace (config.namespace, default "" = the default namespace). createIndex and
 *   dropIndex return once the control plane reports the index ready / gone (status polls).
 * - metric: cosine <-> cosine, euclidean <-> euclidean, dot <-> dotproduct.
 * - ids are Pinecone's own string ids, unchanged. Pinecone stores float32 values; they go out as JSON
 *   numbers and come back through a Float32Array, bit for bit. Metadata passes through unchanged:
 *   Pinecone keeps strings, numbers, booleans and lists of strings and refuses anything else (null too).
 * - The data-plane host is the `host` of describe_index (a bare host name: `dataPlaneScheme` is put in
 *   front); it is cached per index until this adapter creates, drops or restores that index.
 *
 * Scan: a page is one GET /vectors/list (ids in bitwise "C" order, at most 100 a page) plus
 * GET /vectors/fetch of those ids; the cursor is Pinecone's pagination token. While writes continue, a
 * record written behind the cursor is missed, one ahead of it is read, an id deleted between list and
 * fetch is skipped, and serverless indexes are eventually consistent (a write shows up in list, fetch and
 * the stats within seconds): consistency is 'window'. Queries are approximate (exactSearch false).
 *
 * Native snapshots are serverless backups: POST /indexes/{name}/backups, polled until Ready; a restore
 * creates the index from the backup (POST /backups/{id}/create-index) and waits for the restore job and
 * the index. Pinecone neither restores from a URL nor hands out a backup's bytes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpStatusError, httpJson, type HttpJson } from './http-json.js';
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

export interface PineconeConfig {
  apiKey: string;
  /** Default https://api.pinecone.io. */
  controlPlaneUrl?: string;
  /** The namespace holding the records; default "" (the default namespace). */
  namespace?: string;
  /** Serverless spec of createIndex; default aws / us-east-1. */
  cloud?: string;
  region?: string;
  timeoutMs?: number;
  attempts?: number;
  backoffMs?: number;
  /** How long index creation, deletion, backups and restores may take; default 10 minutes. */
  readyTimeoutMs?: number;
  /** Pause between the status polls of those; default 2 s. */
  pollMs?: number;
  /** Scheme put in front of the data-plane host describe_index returns; default https. */
  dataPlaneScheme?: 'https' | 'http';
}

export const pineconeApiVersion = '2025-04';
export const pineconeBackupFormat = 'pinecone-backup';
const engine = 'pinecone';
/** Documented upsert limits: 1000 vectors and 2 MB per request. */
const maxUpsertVectors = 1000;
const maxUpsertBytes = 2 * 1024 * 1024 - 1024;
/** Pages ask list for at most its documented default of 100 ids. */
const maxListLimit = 100;
/** fetch takes its ids in the query string: keep each URL well below common limits. */
const maxFetchQueryChars = 4000;

type PineconeMetric = 'cosine' | 'euclidean' | 'dotproduct';
const pineconeMetric: Record<Metric, PineconeMetric> = { cosine: 'cosine', euclidean: 'euclidean', dot: 'dotproduct' };
const metricOf: Record<PineconeMetric, Metric> = { cosine: 'cosine', euclidean: 'euclidean', dotproduct: 'dot' };

interface IndexModel {
  dimension?: number;
  metric: PineconeMetric;
  host: string;
  status: { ready: boolean; state: string };
}
interface BackupModel {
  backup_id: string;
  name?: string;
  status: string;
  record_count?: number | null;
}
interface StatsResponse {
  namespaces?: Record<string, { vectorCount?: number }>;
}
interface ListResponse {
  vectors?: { id: string }[];
  pagination?: { next?: string };
}
interface FetchResponse {
  vectors?: Record<string, { values?: number[]; metadata?: Metadata }>;
}
interface QueryResponse {
  matches?: { id: string; score?: number }[];
}
interface RestoreJob {
  status: string;
}

/** Splits items into runs of at most maxCount items whose costs add up to at most maxCost. */
function batches<T>(items: readonly T[], cost: (item: T) => number, maxCost: number, maxCount: number): T[][] {
  const runs: T[][] = [];
  let run: T[] = [];
  let total = 0;
  for (const item of items) {
    const itemCost = cost(item);
    if (run.length > 0 && (run.length === maxCount || total + itemCost > maxCost)) {
      runs.push(run);
      run = [];
      total = 0;
    }
    run.push(item);
    total += itemCost;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/** The answer, or undefined where Pinecone answered 404. */
async function unlessMissing<T>(request: Promise<T>): Promise<T | undefined> {
  try {
    return await request;
  } catch (error) {
    if (error instanceof HttpStatusError && error.status === 404) return undefined;
    throw error;
  }
}

export function pineconeStore(config: PineconeConfig): VectorStore {
  const namespace = config.namespace ?? '';
  const readyTimeoutMs = config.readyTimeoutMs ?? 600_000;
  const pollMs = config.pollMs ?? 2_000;
  const client = (baseUrl: string) =>
    httpJson({
      engine,
      baseUrl,
      headers: { 'Api-Key': config.apiKey, 'X-Pinecone-API-Version': pineconeApiVersion },
      timeoutMs: config.timeoutMs,
      attempts: config.attempts,
      backoffMs: config.backoffMs,
    });
  const control = client(config.controlPlaneUrl ?? 'https://api.pinecone.io');
  const dataPlanes = new Map<string, HttpJson>();
  const indexPath = (index: string) => `/indexes/${encodeURIComponent(index)}`;

  /**
   * Runs the exchanges of `operation` on `index`. A 404 means the index is missing (unless the call
   * says a 404 means something else), a 409 that it exists (where the call says so); any other
   * failure becomes an EngineError naming the operation and the index.
   */
  async function call<T>(
    operation: string,
    index: string,
    run: () => Promise<T>,
    { notFoundIsIndex = true, conflictIsIndex = false } = {},
  ): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof IndexNotFoundError || error instanceof IndexExistsError) throw error;
      if (error instanceof HttpStatusError && error.status === 404 && notFoundIsIndex) throw new IndexNotFoundError(engine, index);
      if (error instanceof HttpStatusError && error.status === 409 && conflictIsIndex) throw new IndexExistsError(engine, index);
      const reason = error instanceof Error ? error.message.replace(/^pinecone: /, '') : String(error);
      throw new EngineError(engine, `${operation} of index "${index}" failed: ${reason}`, { cause: error });
    }
  }

  async function until<T>(what: string, index: string, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      const value = await read();
      if (done(value)) return value;
      if (Date.now() >= deadline) throw new EngineError(engine, `index "${index}": ${what} did not happen within ${readyTimeoutMs} ms`);
      await sleep(pollMs);
    }
  }

  const describeIndex = (operation: string, index: string) =>
    call(operation, index, () => control.json<IndexModel>('GET', indexPath(index)));

  function remember(index: string, model: IndexModel): HttpJson {
    const dataPlane = client(`${config.dataPlaneScheme ?? 'https'}://${model.host}`);
    dataPlanes.set(index, dataPlane);
    return dataPlane;
  }

  async function dataPlane(operation: string, index: string): Promise<HttpJson> {
    return dataPlanes.get(index) ?? remember(index, await describeIndex(operation, index));
  }

  const waitUntilReady = (operation: string, index: string) =>
    until(
      'becoming ready',
      index,
      () => describeIndex(operation, index),
      (model) => model.status.ready,
    );

  async function fetchRecords(plane: HttpJson, ids: readonly string[]): Promise<VectorRecord[]> {
    const found = new Map<string, { values?: number[]; metadata?: Metadata }>();
    for (const run of batches(ids, (id) => encodeURIComponent(id).length + 5, maxFetchQueryChars, maxListLimit)) {
      const query = new URLSearchParams(run.map((id): [string, string] => ['ids', id]));
      query.set('namespace', namespace);
      const response = await plane.json<FetchResponse>('GET', `/vectors/fetch?${query}`);
      for (const [id, vector] of Object.entries(response.vectors ?? {})) found.set(id, vector);
    }
    return ids.flatMap((id) => {
      const vector = found.get(id);
      return vector ? [{ id, vector: Float32Array.from(vector.values ?? []), metadata: vector.metadata ?? {} }] : [];
    });
  }

  return {
    engine,
    consistency: 'window',
    exactSearch: false,

    async describe(index: string): Promise<IndexDescription> {
      const model = await describeIndex('describe', index);
      const stats = await call('describe', index, () => remember(index, model).json<StatsResponse>('POST', '/describe_index_stats', {}));
      return {
        dimensions: model.dimension ?? 0,
        metric: metricOf[model.metric],
        count: stats.namespaces?.[namespace]?.vectorCount ?? 0,
      };
    },

    async scan(index: string, options: { cursor?: string; limit: number }): Promise<ScanPage> {
      const plane = await dataPlane('scan', index);
      return call('scan', index, async () => {
        const query = new URLSearchParams({ namespace, limit: String(Math.min(options.limit, maxListLimit)) });
        if (options.cursor !== undefined) query.set('paginationToken', options.cursor);
        const page = await plane.json<ListResponse>('GET', `/vectors/list?${query}`);
        const records = await fetchRecords(
          plane,
          (page.vectors ?? []).map((vector) => vector.id),
        );
        return { records, cursor: page.pagination?.next || undefined };
      });
    },

    async write(index: string, records: readonly VectorRecord[]): Promise<void> {
      if (records.length === 0) return;
      const plane = await dataPlane('write', index);
      const vectors = records.map(({ id, vector, metadata }) =>
        Object.keys(metadata).length === 0 ? { id, values: Array.from(vector) } : { id, values: Array.from(vector), metadata },
      );
      const size = (vector: object) => Buffer.byteLength(JSON.stringify(vector)) + 1;
      for (const run of batches(vectors, size, maxUpsertBytes, maxUpsertVectors)) {
        await call('write', index, () => plane.json('POST', '/vectors/upsert', { vectors: run, namespace }));
      }
    },

    async createIndex(index: string, spec: IndexSpec): Promise<void> {
      const body = {
        name: index,
        dimension: spec.dimensions,
        metric: pineconeMetric[spec.metric],
        spec: { serverless: { cloud: config.cloud ?? 'aws', region: config.region ?? 'us-east-1' } },
      };
      // A 404 here means an unknown cloud or region.
      await call('createIndex', index, () => control.json('POST', '/indexes', body), { notFoundIsIndex: false, conflictIsIndex: true });
      dataPlanes.delete(index);
      await waitUntilReady('createIndex', index);
    },

    async dropIndex(index: string): Promise<void> {
      dataPlanes.delete(index);
      const accepted = await call('dropIndex', index, () => unlessMissing(control.json('DELETE', indexPath(index)).then(() => true)));
      if (!accepted) return;
      await until(
        'deletion',
        index,
        () => call('dropIndex', index, () => unlessMissing(control.json<IndexModel>('GET', indexPath(index)))),
        (model) => model === undefined,
      );
    },

    async query(index: string, vector: Float32Array, k: number): Promise<Neighbour[]> {
      const plane = await dataPlane('query', index);
      const body = { vector: Array.from(vector), topK: k, namespace, includeValues: false };
      const response = await call('query', index, () => plane.json<QueryResponse>('POST', '/query', body));
      return (response.matches ?? []).map((match) => ({ id: match.id, score: match.score ?? 0 }));
    },

    native: {
      restoreCreatesIndex: true,
      async create(index: string): Promise<NativeSnapshotRef> {
        const request = { name: `${index}-${Date.now()}`, description: 'Native snapshot taken by ai-data-dr' };
        const created = await call('backup', index, () => control.json<BackupModel>('POST', `${indexPath(index)}/backups`, request));
        const backupPath = `/backups/${encodeURIComponent(created.backup_id)}`;
        const backup = await until(
          'backup becoming Ready',
          index,
          () => call('backup', index, () => control.json<BackupModel>('GET', backupPath), { notFoundIsIndex: false }),
          (model) => {
            if (model.status === 'Failed') throw new EngineError(engine, `backup ${model.backup_id} of index "${index}" failed`);
            return model.status === 'Ready';
          },
        );
        const details: Record<string, string | number> = { name: backup.name ?? request.name, index };
        if (typeof backup.record_count === 'number') details.recordCount = backup.record_count;
        return { format: pineconeBackupFormat, id: backup.backup_id, details };
      },

      async restore(index: string, from: { ref: NativeSnapshotRef } | { url: string }): Promise<void> {
        if (!('ref' in from)) {
          throw new EngineError(
            engine,
            `cannot restore index "${index}" from a URL: Pinecone restores only from its own backups (pass the backup reference)`,
          );
        }
        if (from.ref.format !== pineconeBackupFormat) {
          throw new EngineError(
            engine,
            `cannot restore index "${index}" from a "${from.ref.format}" snapshot: expected "${pineconeBackupFormat}"`,
          );
        }
        const started = await call(
          'restore',
          index,
          () =>
            control.json<{ restore_job_id: string }>('POST', `/backups/${encodeURIComponent(from.ref.id)}/create-index`, { name: index }),
          { notFoundIsIndex: false, conflictIsIndex: true }, // a 404 here means an unknown backup
        );
        dataPlanes.delete(index);
        const jobPath = `/restore-jobs/${encodeURIComponent(started.restore_job_id)}`;
        await until(
          'restore job completing',
          index,
          () => call('restore', index, () => control.json<RestoreJob>('GET', jobPath), { notFoundIsIndex: false }),
          (job) => {
            if (job.status === 'Failed') throw new EngineError(engine, `restore job ${started.restore_job_id} of index "${index}" failed`);
            return job.status === 'Completed';
          },
        );
        await waitUntilReady('restore', index);
      },
    },

    async close(): Promise<void> {
      dataPlanes.clear();
    },
  };
}
