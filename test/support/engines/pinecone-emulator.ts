import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { vectorSums } from '../vector-sums.js';

/**
 * A stateful stand-in for Pinecone's REST API version 2025-04, shaped after the official OpenAPI specs
 * (pinecone-io/pinecone-api 2025-04/db_control_2025-04.oas.yaml and db_data_2025-04.oas.yaml) and the
 * docs.pinecone.io 2025-04 reference pages; test/fixtures/engines/pinecone/2025-04 holds the documented
 * exchanges it is replayed against. It implements only what the adapter uses:
 * - control plane: create / describe / delete serverless indexes, create / describe backups, create an
 *   index from a backup, describe restore jobs. Like Pinecone these are asynchronous: a new index is
 *   `Initializing` on its first describe and `Ready` after; a deleted one is `Terminating` once, then 404;
 *   a backup is `Pending` once, then `Ready`; a restore job `Pending` once, then `Completed`.
 * - one data plane per index, on its own port (describe_index returns `127.0.0.1:PORT` as `host`, with
 *   no scheme, like Pinecone): describe_index_stats, vectors/list (bitwise-sorted ids, Pinecone's
 *   `{"skip_past": id}` base64 pagination token), vectors/fetch, vectors/upsert (1000 vectors / 2 MB
 *   per request, dimension and metadata types checked) and query by vector (exact; cosine and
 *   dotproduct scores descending, euclidean as squared distance ascending, `$eq` filters only).
 * Vectors are kept as float32 and written back as the shortest decimal that reads back as that float32.
 * Every request must carry the API key and `X-Pinecone-API-Version: 2025-04`. Error bodies follow the
 * specs: `{error: {code, message}, status}` on the control plane, rpcStatus `{code, message, details}`
 * on the data plane.
 */
export const emulatedApiVersion = '2025-04';

export interface RecordedExchange {
  plane: 'control' | 'data';
  /** The index whose data plane was called. */
  index?: string;
  method: string;
  /** Path and query string as received. */
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
  status: number;
  response: unknown;
}

/** Answers the next `times` matching requests with `status` (nothing applied). */
export interface InjectedFault {
  plane: 'control' | 'data';
  method: string;
  path: RegExp;
  status: number;
  times: number;
}

export interface PineconeEmulator {
  controlPlaneUrl: string;
  apiKey: string;
  exchanges: RecordedExchange[];
  faults: InjectedFault[];
  /** The data-plane base URL of an existing index. */
  dataPlaneUrl(index: string): string;
  stop(): Promise<void>;
}

type MetadataValue = string | number | boolean | string[];
type Metadata = Record<string, MetadataValue>;
type Metric = 'cosine' | 'euclidean' | 'dotproduct';
type Namespaces = Map<string, Map<string, { values: Float32Array; metadata?: Metadata }>>;

interface IndexState {
  id: string;
  name: string;
  dimension: number;
  metric: Metric;
  cloud: string;
  region: string;
  state: 'Initializing' | 'Ready' | 'Terminating';
  namespaces: Namespaces;
  server: Server;
  host: string;
}

interface BackupState {
  backup_id: string;
  source_index_id: string;
  source_index_name: string;
  name: string;
  description: string;
  status: 'Pending' | 'Ready';
  cloud: string;
  region: string;
  dimension: number;
  metric: Metric;
  namespaces: Namespaces;
  created_at: string;
}

interface RestoreJobState {
  restore_job_id: string;
  backup_id: string;
  target_index_name: string;
  target_index_id: string;
  status: 'Pending' | 'Completed';
  created_at: string;
  completed_at: string | null;
  percent_complete: number;
}

class Failure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const grpcCodes: Record<string, number> = { INVALID_ARGUMENT: 3, NOT_FOUND: 5, UNAUTHENTICATED: 16, UNKNOWN: 2, UNAVAILABLE: 14 };
const controlCodes: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  500: 'UNKNOWN',
  503: 'UNAVAILABLE',
};
const maxUpsertBytes = 2 * 1024 * 1024;
const invalid = (message: string) => new Failure(400, 'INVALID_ARGUMENT', message);

/** The shortest decimal that reads back as the same float32 (how Pinecone writes its float32 values). */
function float32Number(value: number): number {
  for (let digits = 1; digits < 9; digits++) {
    const shortest = Number(value.toPrecision(digits));
    if (Math.fround(shortest) === value) return shortest;
  }
  return value;
}

function copyNamespaces(namespaces: Namespaces): Namespaces {
  return new Map(
    [...namespaces].map(([name, records]) => [name, new Map([...records].map(([id, r]) => [id, { ...r, values: r.values.slice() }]))]),
  );
}

const namespaceOf = (name: unknown) => (typeof name !== 'string' || name === '__default__' ? '' : name);
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
const isMetadataValue = (value: unknown) =>
  typeof value === 'string' ||
  typeof value === 'boolean' ||
  (typeof value === 'number' && Number.isFinite(value)) ||
  (Array.isArray(value) && value.every((item) => typeof item === 'string'));

function score(metric: Metric, a: Float32Array, b: Float32Array): number {
  const { dot, aa, bb, l2: squared } = vectorSums(a, b);
  if (metric === 'euclidean') return squared;
  return metric === 'dotproduct' ? dot : dot / (Math.sqrt(aa * bb) || 1);
}

function matchesFilter(metadata: Metadata | undefined, filter: unknown): boolean {
  if (filter === undefined) return true;
  if (typeof filter !== 'object' || filter === null) throw invalid('filter must be an object');
  return Object.entries(filter).every(([key, condition]) => {
    const wanted = typeof condition === 'object' && condition !== null ? (condition as Record<string, unknown>) : { $eq: condition };
    const operators = Object.keys(wanted);
    if (operators.length !== 1 || operators[0] !== '$eq')
      throw invalid(`the emulator supports only $eq filters, not ${operators.join(', ')}`);
    return metadata?.[key] === wanted.$eq;
  });
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

export async function startPineconeEmulator(options: { apiKey?: string } = {}): Promise<PineconeEmulator> {
  const apiKey = options.apiKey ?? 'emulator-api-key';
  const indexes = new Map<string, IndexState>();
  const backups = new Map<string, BackupState>();
  const restoreJobs = new Map<string, RestoreJobState>();
  const exchanges: RecordedExchange[] = [];
  const faults: InjectedFault[] = [];
  const closing: Promise<void>[] = [];

  const indexModel = (index: IndexState) => ({
    name: index.name,
    dimension: index.dimension,
    metric: index.metric,
    host: index.host,
    spec: { serverless: { cloud: index.cloud, region: index.region } },
    status: { ready: index.state === 'Ready', state: index.state },
    vector_type: 'dense',
  });

  const backupModel = (backup: BackupState) => {
    const ready = backup.status === 'Ready';
    const records = [...backup.namespaces.values()].reduce((sum, records) => sum + records.size, 0);
    return {
      backup_id: backup.backup_id,
      source_index_id: backup.source_index_id,
      source_index_name: backup.source_index_name,
      tags: {},
      name: backup.name,
      description: backup.description,
      status: backup.status,
      cloud: backup.cloud,
      region: backup.region,
      dimension: ready ? backup.dimension : null,
      record_count: ready ? records : null,
      namespace_count: ready ? backup.namespaces.size : null,
      size_bytes: ready ? records * backup.dimension * 4 : null,
      created_at: backup.created_at,
    };
  };

  async function createIndex(name: string, dimension: number, metric: Metric, cloud: string, region: string, namespaces: Namespaces) {
    const index = { id: randomUUID(), name, dimension, metric, cloud, region, state: 'Initializing', namespaces } as IndexState;
    index.server = createServer((req, res) => void serve('data', req, res, index));
    indexes.set(name, index);
    index.host = `127.0.0.1:${await listen(index.server)}`;
    return index;
  }

  function existingIndex(name: string): IndexState {
    const index = indexes.get(name);
    if (!index) throw new Failure(404, 'NOT_FOUND', `Index ${name} not found.`);
    return index;
  }

  function readVectors(index: IndexState, body: Record<string, unknown>) {
    const vectors = body.vectors;
    if (!Array.isArray(vectors) || vectors.length === 0) throw invalid('vectors must be a non-empty array');
    if (vectors.length > 1000) throw invalid(`Upsert of ${vectors.length} vectors exceeds the maximum of 1000 vectors per request`);
    return vectors.map((vector: { id?: unknown; values?: unknown; metadata?: unknown }) => {
      const { id, values, metadata } = vector;
      if (typeof id !== 'string' || id.length < 1 || id.length > 512) throw invalid('Vector ID must be a string of 1 to 512 characters');
      if (!Array.isArray(values) || !values.every((x) => typeof x === 'number' && Number.isFinite(x)))
        throw invalid(`Vector ${id}: values must be an array of numbers`);
      if (values.length !== index.dimension)
        throw invalid(`Vector dimension ${values.length} does not match the dimension of the index ${index.dimension}`);
      if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)))
        throw invalid(`Vector ${id}: metadata must be an object`);
      for (const [key, value] of Object.entries(metadata ?? {})) {
        if (!isMetadataValue(value))
          throw invalid(`Metadata value for field "${key}" must be a string, number, boolean or list of strings`);
      }
      return { id, values: Float32Array.from(values), metadata: metadata as Metadata | undefined };
    });
  }

  async function control(method: string, url: URL, body: Record<string, unknown>): Promise<[number, unknown]> {
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const route = `${method} /${parts.map((part, i) => (i % 2 === 1 ? '*' : part)).join('/')}`;
    switch (route) {
      case 'POST /indexes': {
        const {
          name,
          dimension,
          metric = 'cosine',
          spec,
        } = body as {
          name?: unknown;
          dimension?: unknown;
          metric?: unknown;
          spec?: { serverless?: { cloud?: unknown; region?: unknown } };
        };
        if (typeof name !== 'string' || !/^[a-z0-9]([a-z0-9-]{0,43}[a-z0-9])?$/.test(name))
          throw invalid(
            "Resource name must be 1-45 characters long, start and end with an alphanumeric character, and consist only of lower case alphanumeric characters or '-'.",
          );
        if (!Number.isInteger(dimension) || (dimension as number) < 1 || (dimension as number) > 20000)
          throw invalid('dimension must be an integer from 1 to 20000');
        if (metric !== 'cosine' && metric !== 'euclidean' && metric !== 'dotproduct') throw invalid(`Unknown metric ${String(metric)}`);
        const serverless = spec?.serverless;
        if (typeof serverless?.cloud !== 'string' || typeof serverless.region !== 'string')
          throw invalid('the emulator implements serverless indexes only (spec.serverless with cloud and region)');
        if (indexes.has(name)) throw new Failure(409, 'ALREADY_EXISTS', 'Resource already exists.');
        return [201, indexModel(await createIndex(name, dimension as number, metric, serverless.cloud, serverless.region, new Map()))];
      }
      case 'GET /indexes/*': {
        const index = existingIndex(parts[1]!);
        const model = indexModel(index);
        if (index.state === 'Initializing') index.state = 'Ready';
        else if (index.state === 'Terminating') indexes.delete(index.name);
        return [200, model];
      }
      case 'DELETE /indexes/*': {
        const index = existingIndex(parts[1]!);
        if (index.state !== 'Terminating') closing.push(close(index.server));
        index.state = 'Terminating';
        return [202, undefined];
      }
      case 'POST /indexes/*/backups': {
        const index = existingIndex(parts[1]!);
        const backup: BackupState = {
          backup_id: randomUUID(),
          source_index_id: index.id,
          source_index_name: index.name,
          name: typeof body.name === 'string' ? body.name : '',
          description: typeof body.description === 'string' ? body.description : '',
          status: 'Pending',
          cloud: index.cloud,
          region: index.region,
          dimension: index.dimension,
          metric: index.metric,
          namespaces: copyNamespaces(index.namespaces),
          created_at: new Date().toISOString(),
        };
        backups.set(backup.backup_id, backup);
        return [201, backupModel(backup)];
      }
      case 'GET /backups/*': {
        const backup = backups.get(parts[1]!);
        if (!backup) throw new Failure(404, 'NOT_FOUND', `Backup ${parts[1]} not found.`);
        const model = backupModel(backup);
        backup.status = 'Ready';
        return [200, model];
      }
      case 'POST /backups/*/create-index': {
        const backup = backups.get(parts[1]!);
        if (!backup) throw new Failure(404, 'NOT_FOUND', `Backup ${parts[1]} not found.`);
        if (typeof body.name !== 'string') throw invalid('name is required');
        if (backup.status !== 'Ready') throw invalid(`Backup ${backup.backup_id} is not ready`);
        if (indexes.has(body.name)) throw new Failure(409, 'ALREADY_EXISTS', 'Resource already exists.');
        const index = await createIndex(
          body.name,
          backup.dimension,
          backup.metric,
          backup.cloud,
          backup.region,
          copyNamespaces(backup.namespaces),
        );
        const job: RestoreJobState = {
          restore_job_id: randomUUID(),
          backup_id: backup.backup_id,
          target_index_name: index.name,
          target_index_id: index.id,
          status: 'Pending',
          created_at: new Date().toISOString(),
          completed_at: null,
          percent_complete: 0,
        };
        restoreJobs.set(job.restore_job_id, job);
        return [202, { restore_job_id: job.restore_job_id, index_id: index.id }];
      }
      case 'GET /restore-jobs/*': {
        const job = restoreJobs.get(parts[1]!);
        if (!job) throw new Failure(404, 'NOT_FOUND', `Restore job ${parts[1]} not found.`);
        const model = { ...job };
        Object.assign(job, { status: 'Completed', completed_at: new Date().toISOString(), percent_complete: 100 });
        return [200, model];
      }
      default:
        throw new Failure(404, 'NOT_FOUND', `${method} ${url.pathname} is not part of the emulated API`);
    }
  }

  function data(index: IndexState, method: string, url: URL, body: Record<string, unknown>): [number, unknown] {
    if (indexes.get(index.name) !== index) throw new Failure(404, 'NOT_FOUND', `Index ${index.name} not found`);
    const records = (name: string) => index.namespaces.get(name) ?? new Map();
    switch (`${method} ${url.pathname}`) {
      case 'POST /describe_index_stats': {
        const namespaces = Object.fromEntries(
          [...index.namespaces].filter(([, r]) => r.size > 0).map(([name, r]) => [name, { vectorCount: r.size }]),
        );
        const total = Object.values(namespaces).reduce((sum, n) => sum + n.vectorCount, 0);
        return [
          200,
          { namespaces, dimension: index.dimension, indexFullness: 0, totalVectorCount: total, metric: index.metric, vectorType: 'dense' },
        ];
      }
      case 'GET /vectors/list': {
        const namespace = url.searchParams.get('namespace') ?? '';
        const limit = Number(url.searchParams.get('limit') ?? 100);
        if (!Number.isInteger(limit) || limit < 1) throw invalid('limit must be a positive integer');
        const token = url.searchParams.get('paginationToken');
        let after: string | undefined;
        if (token !== null) {
          const decoded = Buffer.from(token, 'base64');
          try {
            after = (JSON.parse(decoded.toString('utf8')) as { skip_past: string }).skip_past;
          } catch {
            throw invalid('Invalid pagination token');
          }
          if (typeof after !== 'string' || decoded.toString('base64') !== token) throw invalid('Invalid pagination token');
        }
        const prefix = url.searchParams.get('prefix') ?? '';
        const ids = [...records(namespaceOf(namespace)).keys()]
          .filter((id) => id.startsWith(prefix) && (after === undefined || byteOrder(id, after) > 0))
          .sort(byteOrder);
        const page = ids.slice(0, limit);
        const next = ids.length > limit ? Buffer.from(JSON.stringify({ skip_past: page.at(-1) })).toString('base64') : undefined;
        return [
          200,
          { vectors: page.map((id) => ({ id })), ...(next ? { pagination: { next } } : {}), namespace, usage: { readUnits: 1 } },
        ];
      }
      case 'GET /vectors/fetch': {
        const namespace = url.searchParams.get('namespace') ?? '';
        const ids = url.searchParams.getAll('ids');
        if (ids.length === 0 || ids.length > 1000) throw invalid('ids must hold 1 to 1000 vector IDs');
        const stored = records(namespaceOf(namespace));
        const vectors = Object.fromEntries(
          ids.flatMap((id) => {
            const record = stored.get(id);
            if (!record) return [];
            return [
              [id, { id, values: Array.from(record.values, float32Number), ...(record.metadata ? { metadata: record.metadata } : {}) }],
            ];
          }),
        );
        return [200, { vectors, namespace, usage: { readUnits: 1 } }];
      }
      case 'POST /vectors/upsert': {
        const vectors = readVectors(index, body);
        const namespace = namespaceOf(body.namespace);
        if (!index.namespaces.has(namespace)) index.namespaces.set(namespace, new Map());
        for (const { id, values, metadata } of vectors) index.namespaces.get(namespace)!.set(id, { values, metadata });
        return [200, { upsertedCount: vectors.length }];
      }
      case 'POST /query': {
        const { vector, topK, filter, includeValues, includeMetadata } = body;
        if (body.id !== undefined || !Array.isArray(vector)) throw invalid('the emulator answers queries by vector only');
        if (vector.length !== index.dimension)
          throw invalid(`Vector dimension ${vector.length} does not match the dimension of the index ${index.dimension}`);
        if (!Number.isInteger(topK) || (topK as number) < 1 || (topK as number) > 10000)
          throw invalid('topK must be an integer from 1 to 10000');
        const probe = Float32Array.from(vector as number[]);
        const sign = index.metric === 'euclidean' ? 1 : -1;
        const matches = [...records(namespaceOf(body.namespace))]
          .filter(([, record]) => matchesFilter(record.metadata, filter))
          .map(([id, record]) => ({ id, record, score: Math.fround(score(index.metric, probe, record.values)) }))
          .sort((a, b) => sign * (a.score - b.score) || byteOrder(a.id, b.id))
          .slice(0, topK as number)
          .map(({ id, record, score }) => ({
            id,
            score,
            ...(includeValues === true ? { values: Array.from(record.values, float32Number) } : {}),
            ...(includeMetadata === true && record.metadata ? { metadata: record.metadata } : {}),
          }));
        return [200, { matches, namespace: namespaceOf(body.namespace), usage: { readUnits: 1 } }];
      }
      default:
        throw new Failure(404, 'NOT_FOUND', `${method} ${url.pathname} is not part of the emulated API`);
    }
  }

  async function serve(plane: 'control' | 'data', req: IncomingMessage, res: ServerResponse, index?: IndexState) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const url = new URL(path, 'http://emulator');
    let body: unknown;
    let status: number;
    let response: unknown;
    try {
      try {
        body = raw.length === 0 ? undefined : JSON.parse(raw.toString('utf8'));
      } catch {
        throw invalid('The request body is not valid JSON');
      }
      const fault = faults.find((f) => f.times > 0 && f.plane === plane && f.method === method && f.path.test(path));
      if (fault) {
        fault.times--;
        throw new Failure(fault.status, controlCodes[fault.status] ?? 'UNKNOWN', 'Injected fault');
      }
      if (req.headers['api-key'] !== apiKey) throw new Failure(401, 'UNAUTHENTICATED', 'Invalid API key.');
      if (req.headers['x-pinecone-api-version'] !== emulatedApiVersion) {
        throw invalid(
          `The emulator implements X-Pinecone-API-Version ${emulatedApiVersion} only, got ${String(req.headers['x-pinecone-api-version'])}`,
        );
      }
      if (raw.length > maxUpsertBytes)
        throw invalid(`Request size ${(raw.length / 1024 / 1024).toFixed(1)}MB exceeds the maximum supported size of 2MB`);
      const fields = (body ?? {}) as Record<string, unknown>;
      [status, response] = plane === 'control' ? await control(method, url, fields) : data(index!, method, url, fields);
    } catch (error) {
      const failure = error instanceof Failure ? error : new Failure(500, 'UNKNOWN', String(error));
      status = failure.status;
      response =
        plane === 'control'
          ? { error: { code: failure.code, message: failure.message }, status: failure.status }
          : { code: grpcCodes[failure.code] ?? grpcCodes.UNKNOWN, message: failure.message, details: [] };
    }
    exchanges.push({ plane, index: index?.name, method, path, headers: req.headers, body, status, response });
    res.writeHead(status, response === undefined ? {} : { 'content-type': 'application/json' });
    res.end(response === undefined ? undefined : JSON.stringify(response));
  }

  const controlServer = createServer((req, res) => void serve('control', req, res));
  const port = await listen(controlServer);

  return {
    controlPlaneUrl: `http://127.0.0.1:${port}`,
    apiKey,
    exchanges,
    faults,
    dataPlaneUrl(name: string) {
      return `http://${existingIndex(name).host}`;
    },
    async stop() {
      await Promise.all([
        close(controlServer),
        ...closing,
        ...[...indexes.values()].filter((i) => i.server.listening).map((i) => close(i.server)),
      ]);
    },
  };
}
