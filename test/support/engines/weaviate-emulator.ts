import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort } from '../../../scripts/local-aws/server.js';
import { vectorSums } from '../vector-sums.js';

/**
 * A stateful, in-memory stand-in for a Weaviate 1.25 node, answering the REST API v1 endpoints the
 * Weaviate adapter uses with bodies shaped like Weaviate's (test/fixtures/engines/weaviate/1.25 holds
 * the documented exchanges it is checked against):
 *   POST /v1/schema, GET|DELETE /v1/schema/{class}, POST /v1/batch/objects (with auto-schema),
 *   GET /v1/objects?class&limit&after&include=vector (the cursor API, in UUID order),
 *   POST /v1/graphql for `{ Aggregate { C { meta { count } } } }` and
 *   `{ Get { C(nearVector: {vector: [...]}, limit: k) { props _additional { id distance } } } }`
 *   (answered exactly, by brute force), and the backup API: POST /v1/backups/{backend},
 *   GET /v1/backups/{backend}/{id}, POST|GET /v1/backups/{backend}/{id}/restore.
 * Like Weaviate it stores vectors as float32 and writes them as the shortest decimal of each float32,
 * lower-cases the first letter of property names, upper-cases the first letter of class names, and
 * keeps no null properties. Backups and restores move on one status per poll.
 */
export type BackupOutcome = { kind: 'success' } | { kind: 'failed'; error: string } | { kind: 'stuck' };

export interface RecordedRequest {
  method: string;
  /** Path with the query string. */
  path: string;
  body: unknown;
}

export interface WeaviateEmulator {
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** How backups and restores started from now on end; default success. */
  backupOutcome: BackupOutcome;
  /** Answers the next `times` requests with `status` and a Weaviate error body. */
  failNext(status: number, times?: number): void;
  /** The UUIDs of a class's objects, sorted. */
  objectIds(className: string): string[];
  stop(): Promise<void>;
}

export interface WeaviateEmulatorOptions {
  /** Status polls that report a backup or restore in progress before it ends; default 1. */
  pollsInProgress?: number;
  /** Enabled backup backends; default s3 and filesystem. */
  backends?: string[];
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface StoredObject {
  id: string;
  properties: JsonObject;
  vector: Float32Array;
  creationTimeUnix: number;
  lastUpdateTimeUnix: number;
}
interface ClassState {
  definition: JsonObject & { class: string; properties: JsonObject[] };
  objects: Map<string, StoredObject>;
}
interface Job {
  outcome: BackupOutcome;
  polls: number;
  status: string;
  error?: string;
}
interface Backup extends Job {
  backend: string;
  id: string;
  path: string;
  classes: ClassState[];
  restore?: Job & { classes: string[] };
}

class WeaviateError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const uuidPattern = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const classPattern = /^[A-Z][_0-9A-Za-z]*$/;
const propertyPattern = /^[_A-Za-z][_0-9A-Za-z]{0,230}$/;
const backupIdPattern = /^[a-z0-9_-]+$/;
const distances = new Set(['cosine', 'dot', 'l2-squared', 'hamming', 'manhattan']);
const textTypes = new Set(['text', 'text[]', 'string', 'string[]']);

const upperFirst = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);
const lowerFirst = (name: string) => name.charAt(0).toLowerCase() + name.slice(1);
const errorBody = (message: string) => ({ error: [{ message }] });
const clone = <T>(value: T): T => structuredClone(value);

/** The shortest decimal that reads back as the same float32, as Go's encoding/json writes a float32. */
function float32Json(x: number): number {
  for (let precision = 1; precision <= 9; precision++) {
    const candidate = Number(x.toPrecision(precision));
    if (Math.fround(candidate) === x) return candidate;
  }
  return x;
}

function distance(metric: string, a: Float32Array, b: Float32Array): number {
  const { dot, aa: na, bb: nb, l2 } = vectorSums(a, b);
  if (metric === 'dot') return -dot;
  if (metric === 'l2-squared') return l2;
  return 1 - dot / (Math.sqrt(na) * Math.sqrt(nb) || 1);
}

function propertyDefinition(input: JsonObject, description?: string): JsonObject {
  const dataType = input.dataType as string[];
  const text = textTypes.has(dataType[0] ?? '');
  return {
    dataType,
    ...(input.description !== undefined ? { description: input.description } : description ? { description } : {}),
    indexFilterable: input.indexFilterable ?? true,
    indexSearchable: text ? (input.indexSearchable ?? true) : false,
    name: lowerFirst(String(input.name)),
    ...(text ? { tokenization: input.tokenization ?? 'word' } : {}),
  };
}

function classDefinition(input: JsonObject): ClassState['definition'] {
  const name = upperFirst(String(input.class ?? ''));
  if (!classPattern.test(name)) throw new WeaviateError(422, `'${name}' is not a valid class name`);
  const vectorizer = input.vectorizer ?? 'none';
  if (vectorizer !== 'none') throw new WeaviateError(422, `vectorizer: invalid vectorizer "${String(vectorizer)}"`);
  const requested = (input.vectorIndexConfig ?? {}) as JsonObject;
  const distanceName = String(requested.distance ?? 'cosine');
  if (!distances.has(distanceName)) throw new WeaviateError(422, `vector index config: invalid distance "${distanceName}"`);
  const properties = ((input.properties ?? []) as JsonObject[]).map((p) => {
    if (!propertyPattern.test(String(p.name)) || !Array.isArray(p.dataType)) {
      throw new WeaviateError(422, `'${String(p.name)}' is not a valid property name`);
    }
    return propertyDefinition(p);
  });
  return {
    class: name,
    ...(input.description !== undefined ? { description: input.description } : {}),
    invertedIndexConfig: {
      bm25: { b: 0.75, k1: 1.2 },
      cleanupIntervalSeconds: 60,
      stopwords: { additions: null, preset: 'en', removals: null },
    },
    multiTenancyConfig: { autoTenantActivation: false, autoTenantCreation: false, enabled: false },
    properties,
    replicationConfig: { factor: 1 },
    shardingConfig: {
      virtualPerPhysical: 128,
      desiredCount: 1,
      actualCount: 1,
      desiredVirtualCount: 128,
      actualVirtualCount: 128,
      key: '_id',
      strategy: 'hash',
      function: 'murmur3',
    },
    vectorIndexConfig: {
      skip: false,
      cleanupIntervalSeconds: 300,
      maxConnections: 64,
      efConstruction: 128,
      ef: -1,
      dynamicEfMin: 100,
      dynamicEfMax: 500,
      dynamicEfFactor: 8,
      vectorCacheMaxObjects: 1000000000000,
      flatSearchCutoff: 40000,
      distance: distanceName,
      pq: {
        enabled: false,
        bitCompression: false,
        segments: 0,
        centroids: 256,
        trainingLimit: 100000,
        encoder: { type: 'kmeans', distribution: 'log-normal' },
      },
      bq: { enabled: false },
    },
    vectorIndexType: 'hnsw',
    vectorizer: 'none',
  };
}

/** Auto-schema's data type for a value, or undefined where it cannot tell. */
function inferredType(value: Json): string | undefined {
  if (typeof value === 'string') return 'text';
  if (typeof value === 'number') return 'number';
  if (typeof value === 'boolean') return 'boolean';
  if (Array.isArray(value)) {
    const types = new Set(value.map(inferredType));
    const [only] = types;
    return types.size === 1 && only && !only.endsWith('[]') && only !== 'object' ? `${only}[]` : undefined;
  }
  return value === null ? undefined : 'object';
}

function fitsType(type: string, value: Json): boolean {
  if (type === 'int') return Number.isInteger(value);
  if (type === 'int[]') return Array.isArray(value) && value.every((v) => Number.isInteger(v));
  if (type === 'string' || type === 'string[]') return fitsType(type.replace('string', 'text'), value);
  return inferredType(value) === type || (type.endsWith('[]') && Array.isArray(value) && value.length === 0);
}

export async function startWeaviateEmulator(options: WeaviateEmulatorOptions = {}): Promise<WeaviateEmulator> {
  const pollsInProgress = options.pollsInProgress ?? 1;
  const backends = new Set(options.backends ?? ['s3', 'filesystem']);
  const classes = new Map<string, ClassState>();
  const backups = new Map<string, Backup>();
  const requests: RecordedRequest[] = [];
  const failures: number[] = [];
  let clock = 1_718_000_000_000;

  const findClass = (name: string) => classes.get(upperFirst(name));
  function requireBackend(backend: string) {
    if (!backends.has(backend)) throw new WeaviateError(422, `no backup backend "backup-${backend}", did you enable the right module?`);
  }

  function createClass(input: JsonObject): ClassState['definition'] {
    const definition = classDefinition(input);
    for (const existing of classes.keys()) {
      if (existing === definition.class) throw new WeaviateError(422, `class name "${definition.class}" already exists`);
      if (existing.toLowerCase() === definition.class.toLowerCase()) {
        throw new WeaviateError(
          422,
          `class name "${definition.class}" already exists as a permutation of: "${existing}". class names must be unique when lowercased`,
        );
      }
    }
    classes.set(definition.class, { definition, objects: new Map() });
    return definition;
  }

  function objectJson(className: string, object: StoredObject, withVector: boolean): JsonObject {
    return {
      class: className,
      creationTimeUnix: object.creationTimeUnix,
      id: object.id,
      lastUpdateTimeUnix: object.lastUpdateTimeUnix,
      properties: clone(object.properties),
      ...(withVector ? { vector: Array.from(object.vector, float32Json) } : {}),
      vectorWeights: null,
    };
  }

  /** Stores one batch object, or gives the error message where Weaviate would refuse it. */
  function putObject(input: JsonObject): { object: StoredObject; className: string } | { className: string; error: string } {
    const className = upperFirst(String(input.class ?? ''));
    let state = classes.get(className);
    if (!state) {
      createClass({ class: className }); // auto-schema
      state = classes.get(className)!;
    }
    const vector = Float32Array.from((input.vector ?? []) as number[]);
    const existing = [...state.objects.values()].find((o) => o.vector.length > 0);
    if (existing && vector.length > 0 && existing.vector.length !== vector.length) {
      return {
        className,
        error: `new node has a vector with length ${vector.length}. Existing nodes have vectors with length ${existing.vector.length}`,
      };
    }
    const properties: JsonObject = {};
    for (const [rawName, value] of Object.entries((input.properties ?? {}) as JsonObject)) {
      if (value === null) continue;
      const name = lowerFirst(rawName);
      if (!propertyPattern.test(name) || ['id', '_id', '_additional'].includes(name)) {
        return { className, error: `'${rawName}' is not a valid property name` };
      }
      let definition = state.definition.properties.find((p) => String(p.name).toLowerCase() === name.toLowerCase());
      if (!definition) {
        const type = inferredType(value);
        if (!type) return { className, error: `property '${name}' on class '${className}': could not infer a data type` };
        definition = propertyDefinition(
          { name, dataType: [type] },
          `This property was generated by Weaviate's auto-schema feature on ${new Date(clock).toString()}`,
        );
        state.definition.properties.push(definition);
      }
      const type = (definition.dataType as string[])[0]!;
      if (!fitsType(type, value)) return { className, error: `invalid ${type} property '${name}' on class '${className}'` };
      properties[String(definition.name)] = clone(value);
    }
    const id = input.id === undefined ? randomUUID() : String(input.id).toLowerCase();
    const now = ++clock;
    const object = { id, properties, vector, creationTimeUnix: state.objects.get(id)?.creationTimeUnix ?? now, lastUpdateTimeUnix: now };
    state.objects.set(id, object);
    return { object, className };
  }

  function graphql(query: string): JsonObject {
    const cannotQuery = (field: string, type: string) => ({
      errors: [{ locations: [{ column: 1, line: 1 }], message: `Cannot query field "${field}" on type "${type}".`, path: null }],
    });
    const aggregate = /^\s*\{\s*Aggregate\s*\{\s*(\w+)\s*\{\s*meta\s*\{\s*count\s*\}\s*\}\s*\}\s*\}\s*$/.exec(query);
    if (aggregate) {
      const state = classes.get(aggregate[1]!);
      if (!state) return cannotQuery(aggregate[1]!, 'AggregateObjectsObj');
      return { data: { Aggregate: { [state.definition.class]: [{ meta: { count: state.objects.size } }] } } };
    }
    const get =
      /^\s*\{\s*Get\s*\{\s*(\w+)\s*\(\s*nearVector\s*:\s*\{\s*vector\s*:\s*\[([^\]]*)\]\s*\}\s*,\s*limit\s*:\s*(\d+)\s*\)\s*\{([\w\s]*)_additional\s*\{([\w\s]*)\}\s*\}\s*\}\s*\}\s*$/.exec(
        query,
      );
    if (!get) return { errors: [{ message: `the Weaviate emulator does not answer this query: ${query.slice(0, 200)}` }] };
    const [, className, vectorText, limitText, propertyText, additionalText] = get;
    const state = classes.get(className!);
    if (!state) return cannotQuery(className!, 'GetObjectsObj');
    const selected = propertyText!.split(/\s+/).filter(Boolean);
    for (const name of selected) {
      if (!state.definition.properties.some((p) => p.name === name)) return cannotQuery(name, className!);
    }
    const additional = additionalText!.split(/\s+/).filter(Boolean);
    const probe = Float32Array.from(
      vectorText!
        .split(',')
        .filter((x) => x.trim() !== '')
        .map(Number),
    );
    const candidates = [...state.objects.values()].filter((o) => o.vector.length > 0);
    if (candidates.some((o) => o.vector.length !== probe.length)) {
      return {
        errors: [
          {
            message: `explorer: get class: vector search: object vector search at index ${className!.toLowerCase()}: vector lengths don't match: ${candidates[0]!.vector.length} vs ${probe.length}`,
          },
        ],
      };
    }
    const metric = String((state.definition.vectorIndexConfig as JsonObject).distance);
    const hits = candidates
      .map((object) => ({ object, distance: Math.fround(distance(metric, object.vector, probe)) }))
      .sort((a, b) => a.distance - b.distance || (a.object.id < b.object.id ? -1 : 1))
      .slice(0, Number(limitText));
    return {
      data: {
        Get: {
          [className!]: hits.map(({ object, distance: d }) => ({
            _additional: Object.fromEntries(
              additional.map((field) => [field, field === 'id' ? object.id : field === 'distance' ? float32Json(d) : null]),
            ),
            ...Object.fromEntries(selected.map((name) => [name, object.properties[name] ?? null])),
          })),
        },
      },
    };
  }

  /** Moves a backup or restore on by one poll. */
  function advance(job: Job, onSuccess?: () => string | undefined): { status: string; error?: string } {
    if (job.status !== 'SUCCESS' && job.status !== 'FAILED' && job.outcome.kind !== 'stuck') {
      if (job.polls++ < pollsInProgress) {
        job.status = 'TRANSFERRING';
      } else {
        job.error = job.outcome.kind === 'failed' ? job.outcome.error : onSuccess?.();
        job.status = job.error === undefined ? 'SUCCESS' : 'FAILED';
      }
    }
    return { status: job.status, ...(job.error !== undefined ? { error: job.error } : {}) };
  }

  function route(method: string, url: URL, body: Json): { status: number; body?: unknown } {
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] !== 'v1') throw new WeaviateError(404, `no route ${method} ${url.pathname}`);
    const [, resource, a, b, c] = parts;

    if (resource === 'schema' && a === undefined && method === 'POST') return { status: 200, body: createClass(body as JsonObject) };
    if (resource === 'schema' && a !== undefined && b === undefined) {
      if (method === 'GET') {
        const state = findClass(a);
        return state ? { status: 200, body: state.definition } : { status: 404 };
      }
      if (method === 'DELETE') {
        classes.delete(upperFirst(a));
        return { status: 200 };
      }
    }

    if (resource === 'batch' && a === 'objects' && method === 'POST') {
      const objects = ((body as JsonObject).objects ?? []) as JsonObject[];
      objects.forEach((o, i) => {
        if (o.id !== undefined && !uuidPattern.test(String(o.id))) {
          throw new WeaviateError(422, `validation failure list:\nobjects.${i}.id in body must be of type uuid: "${String(o.id)}"`);
        }
      });
      return {
        status: 200,
        body: objects.map((input) => {
          const stored = putObject(input);
          const { className } = stored;
          const object = 'object' in stored ? stored.object : undefined;
          const error = 'error' in stored ? stored.error : undefined;
          return {
            class: className,
            creationTimeUnix: object?.creationTimeUnix ?? clock,
            id: object?.id ?? input.id,
            lastUpdateTimeUnix: object?.lastUpdateTimeUnix ?? clock,
            properties: object ? clone(object.properties) : input.properties,
            vector: object ? Array.from(object.vector, float32Json) : input.vector,
            deprecations: null,
            result: error === undefined ? { status: 'SUCCESS' } : { errors: errorBody(error), status: 'FAILED' },
          };
        }),
      };
    }

    if (resource === 'objects' && a === undefined && method === 'GET') {
      const className = url.searchParams.get('class');
      const after = url.searchParams.get('after');
      if (after !== null && className === null) throw new WeaviateError(422, "'after' parameter requires 'class' parameter");
      if (after !== null && url.searchParams.has('offset'))
        throw new WeaviateError(422, "'after' parameter cannot be used with 'offset' parameter");
      const state = className === null ? undefined : findClass(className);
      if (className !== null && !state) return { status: 404 };
      const limit = Number(url.searchParams.get('limit') ?? 25);
      const withVector = (url.searchParams.get('include') ?? '').split(',').includes('vector');
      const all = state ? [state] : [...classes.values()];
      const listed = all
        .flatMap((s) => [...s.objects.values()].map((o) => ({ className: s.definition.class, object: o })))
        .sort((x, y) => (x.object.id < y.object.id ? -1 : x.object.id > y.object.id ? 1 : 0))
        .filter(({ object }) => !after || object.id > after.toLowerCase())
        .slice(0, limit);
      return {
        status: 200,
        body: {
          deprecations: null,
          objects: listed.map(({ className: name, object }) => objectJson(name, object, withVector)),
          totalResults: listed.length,
        },
      };
    }

    if (resource === 'graphql' && a === undefined && method === 'POST')
      return { status: 200, body: graphql(String((body as JsonObject).query ?? '')) };

    if (resource === 'backups' && a !== undefined) {
      requireBackend(a);
      if (b === undefined && method === 'POST') {
        const request = body as JsonObject;
        const id = String(request.id ?? '');
        if (!backupIdPattern.test(id))
          throw new WeaviateError(422, `invalid backup id: "${id}" must be lowercase letters, numbers, underscore or minus`);
        if (backups.has(`${a}/${id}`)) throw new WeaviateError(422, `backup ${id} already exists`);
        const include = ((request.include ?? [...classes.keys()]) as string[]).map(upperFirst);
        const missing = include.filter((name) => !classes.has(name));
        if (missing.length > 0) throw new WeaviateError(422, `class list ${JSON.stringify(missing)} contains unknown classes`);
        const path = a === 's3' ? `s3://weaviate-backups/${id}` : `/var/lib/weaviate/backups/${id}`;
        const snapshot = include.map((name) => clone(classes.get(name)!));
        backups.set(`${a}/${id}`, { backend: a, id, path, classes: snapshot, outcome: backupOutcome(), polls: 0, status: 'STARTED' });
        return { status: 200, body: { backend: a, classes: include, id, path, status: 'STARTED' } };
      }
      const backup = b === undefined ? undefined : backups.get(`${a}/${b}`);
      if (b !== undefined && c === undefined && method === 'GET') {
        if (!backup) throw new WeaviateError(404, `backup "${b}" not found`);
        return { status: 200, body: { backend: a, id: b, path: backup.path, ...advance(backup) } };
      }
      if (b !== undefined && c === 'restore' && method === 'POST') {
        if (!backup) throw new WeaviateError(404, `backup "${b}" not found`);
        if (backup.status !== 'SUCCESS') throw new WeaviateError(422, `backup "${b}" is not finished: ${backup.status}`);
        if (backup.restore && backup.restore.status !== 'SUCCESS' && backup.restore.status !== 'FAILED') {
          throw new WeaviateError(422, `restoration of "${b}" already in progress`);
        }
        const names = backup.classes.map((s) => s.definition.class);
        const include = ((body as JsonObject).include ?? names) as string[];
        const unknown = include.filter((name) => !names.includes(name));
        if (unknown.length > 0) throw new WeaviateError(422, `backup "${b}" does not contain classes ${JSON.stringify(unknown)}`);
        backup.restore = { classes: include, outcome: backupOutcome(), polls: 0, status: 'STARTED' };
        return { status: 200, body: { backend: a, classes: include, id: b, path: backup.path, status: 'STARTED' } };
      }
      if (b !== undefined && c === 'restore' && method === 'GET') {
        if (!backup?.restore) throw new WeaviateError(404, `restore of backup "${b}" not found`);
        const restore = backup.restore;
        const state = advance(restore, () => {
          const existing = restore.classes.find((name) => classes.has(name));
          if (existing) return `restore class "${existing}": class name "${existing}" already exists`;
          for (const saved of backup.classes.filter((s) => restore.classes.includes(s.definition.class))) {
            classes.set(saved.definition.class, clone(saved));
          }
          return undefined;
        });
        return { status: 200, body: { backend: a, id: b, path: backup.path, ...state } };
      }
    }
    throw new WeaviateError(404, `no route ${method} ${url.pathname}`);
  }

  let outcome: BackupOutcome = { kind: 'success' };
  const backupOutcome = () => clone(outcome);

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const method = req.method ?? 'GET';
    const answer = (status: number, body?: unknown) => {
      if (body === undefined) {
        res.writeHead(status).end();
      } else {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      }
    };
    let body: Json = null;
    try {
      body = text === '' ? null : (JSON.parse(text) as Json);
    } catch {
      requests.push({ method, path: req.url ?? '/', body: text });
      return answer(400, errorBody('body is not JSON'));
    }
    requests.push({ method, path: req.url ?? '/', body });
    const failure = failures.shift();
    if (failure !== undefined) return answer(failure, errorBody('emulated failure'));
    try {
      const { status, body: responseBody } = route(method, new URL(req.url ?? '/', 'http://weaviate'), body);
      answer(status, responseBody);
    } catch (error) {
      if (error instanceof WeaviateError) return answer(error.status, errorBody(error.message));
      answer(500, errorBody(error instanceof Error ? error.message : String(error)));
    }
  }

  const server = createServer((req, res) => void handle(req, res));
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: boundPort } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${boundPort}`,
    requests,
    get backupOutcome() {
      return outcome;
    },
    set backupOutcome(value: BackupOutcome) {
      outcome = value;
    },
    failNext(status: number, times = 1) {
      for (let i = 0; i < times; i++) failures.push(status);
    },
    objectIds: (className: string) => [...(findClass(className)?.objects.keys() ?? [])].sort(),
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
