import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stateful, in-memory stand-in for a single-node Qdrant 1.13 REST server (no Qdrant runs here). It
 * implements only what the Qdrant adapter uses, with bodies shaped like the v1.13.x OpenAPI spec
 * (`{result, status: "ok", time}`, errors `{status: {error}, time}`, 404 for a missing collection, 409
 * for an existing one), and it behaves like Qdrant where the adapter depends on it:
 * - point ids are unsigned integers or UUIDs (returned lowercase, hyphenated); scroll is in id order
 *   (integers before UUIDs), `offset` inclusive, `next_page_offset` the first id of the next page;
 * - vectors are float32 and go out as the shortest decimal that reads back as the same float32;
 *   Cosine collections store normalised vectors;
 * - scores: Cosine and Dot a dot product (higher first), Euclid the L2 distance (lower first);
 * - DELETE of a missing collection answers 200 with result false;
 * - a snapshot is served only while its collection exists; recover fetches the location over HTTP
 *   (with `api_key` as api-key header), checks the SHA-256 checksum, creates or replaces the collection.
 * Snapshot bytes are a JSON dump of the collection, not Qdrant's tar format.
 */
export interface RecordedRequest {
  method: string;
  /** Path with query string, as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface QdrantEmulator {
  url: string;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  /** The next `times` requests get `status` with Qdrant's error body, and nothing is applied. */
  failNext(times: number, status?: number): void;
  stop(): Promise<void>;
}

type Distance = 'Cosine' | 'Euclid' | 'Dot' | 'Manhattan';
type PointId = number | string;
interface Point {
  id: PointId;
  vector: Float32Array;
  payload: Record<string, unknown>;
  version: number;
}
interface Collection {
  size: number;
  distance: Distance;
  points: Map<PointId, Point>;
  operations: number;
}
interface Dump {
  size: number;
  distance: Distance;
  points: { id: PointId; vector: number[]; payload: Record<string, unknown>; version: number }[];
}

class QdrantError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const distances: readonly string[] = ['Cosine', 'Euclid', 'Dot', 'Manhattan'];
const peerId = 3766212330831337;
const uuidPattern = /^(?:urn:uuid:)?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})$/i;

/** Shortest decimal that reads back as the same float32 (what Rust's f32 Display prints). */
const f32 = (x: number) => {
  for (let digits = 1; digits < 9; digits++) {
    const shortest = Number(x.toPrecision(digits));
    if (Math.fround(shortest) === x) return shortest;
  }
  return x;
};

function pointId(value: unknown): PointId {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  const uuid = typeof value === 'string' ? uuidPattern.exec(value) : null;
  if (uuid) return uuid.slice(1).join('-').toLowerCase();
  throw new QdrantError(
    400,
    `Format error in JSON body: value ${JSON.stringify(value)} is not a valid point ID, valid values are either an unsigned integer or a UUID`,
  );
}

/** Qdrant's id order: integers first, then UUIDs. */
const compareIds = (a: PointId, b: PointId) => (typeof a === typeof b ? (a < b ? -1 : a > b ? 1 : 0) : typeof a === 'number' ? -1 : 1);

function vectorOf(value: unknown, size: number): Float32Array {
  if (!Array.isArray(value) || !value.every((x) => typeof x === 'number')) {
    throw new QdrantError(400, 'Format error in JSON body: data did not match any variant of untagged enum VectorStruct');
  }
  if (value.length !== size) throw new QdrantError(400, `Wrong input: Vector dimension error: expected dim: ${size}, got ${value.length}`);
  return Float32Array.from(value as number[]);
}

function normalised(vector: Float32Array): Float32Array {
  let sum = 0;
  for (const x of vector) sum = Math.fround(sum + Math.fround(x * x));
  const length = Math.fround(Math.sqrt(sum));
  return length < 1.1920929e-7 ? vector : vector.map((x) => x / length);
}

function score(distance: Distance, a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    sum = Math.fround(sum + Math.fround(distance === 'Euclid' ? d * d : distance === 'Manhattan' ? Math.abs(d) : a[i]! * b[i]!));
  }
  return distance === 'Euclid' ? Math.fround(Math.sqrt(sum)) : sum;
}

const selected = (flag: unknown, fallback: boolean) => (flag === undefined || flag === null ? fallback : flag === true);

export async function startQdrantEmulator(options: { apiKey?: string } = {}): Promise<QdrantEmulator> {
  const collections = new Map<string, Collection>();
  /** Snapshot files by collection, then by name: they outlive a dropped collection, as files on disk do. */
  const snapshots = new Map<string, Map<string, Buffer>>();
  const requests: RecordedRequest[] = [];
  const faults = { times: 0, status: 500 };

  const existing = (name: string) => {
    const found = collections.get(name);
    if (!found) throw new QdrantError(404, `Not found: Collection \`${name}\` doesn't exist!`);
    return found;
  };

  /** Validates every point first: like Qdrant, a bad point fails the whole request and nothing is applied. */
  function upsert(target: Collection, raw: unknown, version: number) {
    if (!Array.isArray(raw)) throw new QdrantError(400, 'Format error in JSON body: missing field `points`');
    const points = (raw as { id: unknown; vector: unknown; payload?: unknown }[]).map((point): Point => {
      const vector = vectorOf(point.vector, target.size);
      const payload = point.payload === undefined || point.payload === null ? {} : point.payload;
      if (typeof payload !== 'object' || Array.isArray(payload))
        throw new QdrantError(400, 'Format error in JSON body: payload must be an object');
      return {
        id: pointId(point.id),
        vector: target.distance === 'Cosine' ? normalised(vector) : vector,
        payload: payload as Record<string, unknown>,
        version,
      };
    });
    for (const point of points) target.points.set(point.id, point);
  }

  function info(target: Collection) {
    return {
      status: 'green',
      optimizer_status: 'ok',
      indexed_vectors_count: 0,
      points_count: target.points.size,
      segments_count: 2,
      config: {
        params: {
          vectors: { size: target.size, distance: target.distance },
          shard_number: 1,
          replication_factor: 1,
          write_consistency_factor: 1,
          on_disk_payload: true,
        },
        hnsw_config: { m: 16, ef_construct: 100, full_scan_threshold: 10000, max_indexing_threads: 0, on_disk: false },
        optimizer_config: {
          deleted_threshold: 0.2,
          vacuum_min_vector_number: 1000,
          default_segment_number: 0,
          max_segment_size: null,
          memmap_threshold: null,
          indexing_threshold: 20000,
          flush_interval_sec: 5,
          max_optimization_threads: null,
        },
        wal_config: { wal_capacity_mb: 32, wal_segments_ahead: 0 },
        quantization_config: null,
        strict_mode_config: { enabled: false },
      },
      payload_schema: {},
    };
  }

  function scroll(target: Collection, body: Record<string, unknown>) {
    const limit = body.limit ?? 10;
    if (!Number.isInteger(limit) || (limit as number) < 1)
      throw new QdrantError(422, `Validation error in JSON body: [limit: value ${String(limit)} invalid, must be 1 or larger]`);
    const sorted = [...target.points.values()].sort((a, b) => compareIds(a.id, b.id));
    const offset = body.offset === undefined || body.offset === null ? undefined : pointId(body.offset);
    const start = offset === undefined ? 0 : sorted.findIndex((p) => compareIds(p.id, offset) >= 0);
    const from = start === -1 ? sorted.length : start;
    const page = sorted.slice(from, from + (limit as number));
    return {
      points: page.map((p) => ({
        id: p.id,
        ...(selected(body.with_payload, true) ? { payload: p.payload } : {}),
        ...(selected(body.with_vector, false) ? { vector: Array.from(p.vector, f32) } : {}),
      })),
      next_page_offset: sorted[from + page.length]?.id ?? null,
    };
  }

  function query(target: Collection, body: Record<string, unknown>) {
    const probe = vectorOf(body.query, target.size);
    const against = target.distance === 'Cosine' ? normalised(probe) : probe;
    const lowerFirst = target.distance === 'Euclid' || target.distance === 'Manhattan';
    const scored = [...target.points.values()]
      .sort((a, b) => compareIds(a.id, b.id))
      .map((p) => ({ p, score: score(target.distance, p.vector, against) }))
      .sort((a, b) => (lowerFirst ? a.score - b.score : b.score - a.score));
    return {
      points: scored.slice(0, (body.limit as number | undefined) ?? 10).map(({ p, score }) => ({
        id: p.id,
        version: p.version,
        score: f32(score),
        ...(selected(body.with_payload, false) ? { payload: p.payload } : {}),
        ...(selected(body.with_vector, false) ? { vector: Array.from(p.vector, f32) } : {}),
      })),
    };
  }

  function createSnapshot(name: string, target: Collection) {
    const dump: Dump = {
      size: target.size,
      distance: target.distance,
      points: [...target.points.values()].map((p) => ({ ...p, vector: Array.from(p.vector, f32) })),
    };
    const bytes = Buffer.from(JSON.stringify(dump));
    const now = new Date().toISOString().slice(0, 19);
    const file = `${name}-${peerId}-${now.replace('T', '-').replaceAll(':', '-')}.snapshot`;
    if (!snapshots.has(name)) snapshots.set(name, new Map());
    snapshots.get(name)!.set(file, bytes);
    return { name: file, creation_time: now, size: bytes.length, checksum: createHash('sha256').update(bytes).digest('hex') };
  }

  async function recover(name: string, body: Record<string, unknown>) {
    const { location, checksum, api_key: apiKey } = body;
    if (typeof location !== 'string' || !/^https?:\/\//.test(location)) {
      throw new QdrantError(400, `Bad request: this emulator recovers from http(s) locations only, not ${JSON.stringify(location)}`);
    }
    const response = await fetch(location, { headers: typeof apiKey === 'string' ? { 'api-key': apiKey } : {} }).catch(
      (error: Error) => error,
    );
    if (response instanceof Error || !response.ok) {
      const reason = response instanceof Error ? response.message : `HTTP ${response.status}`;
      throw new QdrantError(500, `Service internal error: failed to download snapshot from ${location}: ${reason}`);
    }
    const bytes = Buffer.from(await response.arrayBuffer());
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (typeof checksum === 'string' && checksum !== actual)
      throw new QdrantError(400, `Wrong input: Snapshot checksum mismatch: expected ${checksum}, got ${actual}`);
    const dump = JSON.parse(bytes.toString('utf8')) as Dump;
    const restored: Collection = { size: dump.size, distance: dump.distance, points: new Map(), operations: 0 };
    for (const p of dump.points) {
      restored.points.set(p.id, { id: p.id, vector: Float32Array.from(p.vector), payload: p.payload, version: p.version });
      restored.operations = Math.max(restored.operations, p.version + 1);
    }
    collections.set(name, restored);
    return true;
  }

  /** Routes one request: the `result` to answer, or a Buffer to send as a file. */
  async function route(method: string, url: URL, body: Record<string, unknown>): Promise<unknown> {
    const [root, name, ...rest] = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (root !== 'collections' || name === undefined) throw new QdrantError(404, `Not found: ${url.pathname}`);
    const endpoint = `${method} ${rest.join('/')}`;
    switch (endpoint) {
      case 'GET ':
        return info(existing(name));
      case 'PUT ': {
        if (collections.has(name)) throw new QdrantError(409, `Wrong input: Collection \`${name}\` already exists!`);
        const vectors = body.vectors as { size?: unknown; distance?: unknown } | undefined;
        if (!Number.isInteger(vectors?.size) || (vectors!.size as number) < 1 || !distances.includes(String(vectors?.distance))) {
          throw new QdrantError(
            400,
            'Format error in JSON body: `vectors` must be {size: integer >= 1, distance: Cosine | Euclid | Dot | Manhattan}',
          );
        }
        collections.set(name, { size: vectors!.size as number, distance: vectors!.distance as Distance, points: new Map(), operations: 0 });
        return true;
      }
      case 'DELETE ':
        return collections.delete(name);
      case 'PUT points': {
        const target = existing(name);
        upsert(target, body.points, target.operations);
        const operation = target.operations++;
        return { operation_id: operation, status: url.searchParams.get('wait') === 'true' ? 'completed' : 'acknowledged' };
      }
      case 'POST points/scroll':
        return scroll(existing(name), body);
      case 'POST points/query':
        return query(existing(name), body);
      case 'POST points/count':
        return { count: existing(name).points.size };
      case 'POST snapshots':
        return createSnapshot(name, existing(name));
      case 'PUT snapshots/recover':
        return recover(name, body);
    }
    if (method === 'GET' && rest[0] === 'snapshots' && rest.length === 2) {
      existing(name);
      const bytes = snapshots.get(name)?.get(rest[1]!);
      if (!bytes) throw new QdrantError(404, `Not found: Snapshot ${rest[1]} not found`);
      return bytes;
    }
    throw new QdrantError(404, `Not found: ${method} ${url.pathname}`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const started = performance.now();
    const time = () => (performance.now() - started) / 1000;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const method = req.method ?? 'GET';
    const recorded: RecordedRequest = { method, url: req.url ?? '/', headers: req.headers, body: text };
    requests.push(recorded);
    const reply = (status: number, json: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
    try {
      recorded.body = text === '' ? undefined : JSON.parse(text);
    } catch (error) {
      return reply(400, { status: { error: `Format error in JSON body: ${(error as Error).message}` }, time: time() });
    }
    if (faults.times > 0) {
      faults.times--;
      return reply(faults.status, { status: { error: 'Service internal error: injected fault' }, time: time() });
    }
    if (options.apiKey !== undefined && req.headers['api-key'] !== options.apiKey) {
      return reply(401, { status: { error: 'Must provide an API key or an Authorization bearer token' }, time: time() });
    }
    try {
      const result = await route(method, new URL(recorded.url, 'http://qdrant'), (recorded.body ?? {}) as Record<string, unknown>);
      if (Buffer.isBuffer(result)) return res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(result);
      return reply(200, { result, status: 'ok', time: time() });
    } catch (error) {
      if (!(error instanceof QdrantError)) throw error;
      return reply(error.status, { status: { error: error.message }, time: time() });
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: Error) => {
      res
        .writeHead(500, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: { error: `Service internal error: ${error.message}` }, time: 0 }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    failNext(times, status = 500) {
      Object.assign(faults, { times, status });
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
