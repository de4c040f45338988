/**
 * Chroma adapter: the HTTP API v2 (`/api/v2`) of Chroma 1.x, tested against `chroma run` from PyPI
 * chromadb 1.5.9. Requests go straight to the REST API through httpJson; no Chroma client library.
 *
 * - index = collection (by name) in one tenant/database (default `default_tenant`/`default_database`).
 *   Record endpoints take the collection's UUID, so each call first reads the collection by name.
 * - metric = the collection's HNSW space (`configuration_json.hnsw.space`; Chroma 1.5 folds the legacy
 *   `hnsw:space` metadata into it): cosine <-> cosine, l2 <-> euclidean, ip <-> dot.
 * - dimensions = the collection's `dimension`, which Chroma sets with the first write; a collection
 *   created here also keeps them in its metadata (`dr:dimensions`) for while it is empty. An empty
 *   collection created elsewhere has no dimensions yet and is described with 0.
 * - ids are Chroma's string ids, unchanged.
 * - vectors: written as base64 float32 bytes (JSON numbers would lose -0), read as JSON numbers that
 *   Chroma prints as the shortest float32 text: bit for bit in l2 and ip collections. Not in cosine
 *   collections: Chroma keeps those vectors normalised and scales them back on read, so some
 *   components come back 1-2 ulp off (and move again when written back); nothing here can undo that.
 * - metadata: Chroma's flat metadata (it also keeps arrays). Chroma stores `{}` as null; a scan gives
 *   `{}`. Chroma's upsert merges metadata into the stored record, so a write first reads the stored
 *   keys and sends null for each key the new record lacks (null deletes a key): a write replaces, and
 *   null values cannot be stored. Chroma parses JSON numbers with serde_json's fast float parser, twice
 *   (request, then its write-ahead log), which is exact only when the decimal significand is below 2^53
 *   and the power of ten at most 22; 17-digit values (most float32-derived ones) can move by an ulp.
 *   So a record with such values also carries their written form in `dr:exact` (JSON text), which a
 *   scan puts back and removes; Chroma's own copy stays within an ulp for its filters.
 *
 * Scan pages with `get` (limit/offset), which Chroma orders by its internal insertion order, so offset
 * pages of an unchanged collection neither repeat nor skip; the cursor holds the collection id and the
 * offset. Writes during a scan can shift records across page boundaries: consistency is 'window'.
 * A scan asks for the page after its own at once (offsets are known ahead): Chroma serves two `get`s
 * at a time about 1.5 times as fast as one after the other, and its JSON, not the tool, set a
 * snapshot's pace (docs/benchmarks.md).
 * Queries run on Chroma's HNSW index: approximate (exact in practice on small collections).
 */
import { HttpStatusError, httpJson } from './http-json.js';
import type { JsonValue } from '../../shared/json.js';
import {
  EngineError,
  IndexExistsError,
  offsetRanges,
  IndexNotFoundError,
  type IndexDescription,
  type Metadata,
  type Metric,
  type Neighbour,
  type ScanPage,
  type VectorRecord,
  type VectorStore,
} from '../vector-store.js';

export interface ChromaConfig {
  url: string;
  tenant?: string;
  database?: string;
  /** Sent as the `x-chroma-token` header. */
  apiKey?: string;
  timeoutMs?: number;
  attempts?: number;
  backoffMs?: number;
}

type Space = 'cosine' | 'l2' | 'ip';
const spaceOf: Record<Metric, Space> = { cosine: 'cosine', euclidean: 'l2', dot: 'ip' };
const metricOf: Record<Space, Metric> = { cosine: 'cosine', l2: 'euclidean', ip: 'dot' };
const dimensionsKey = 'dr:dimensions';
const exactKey = 'dr:exact';

interface Collection {
  id: string;
  dimension?: number | null;
  metadata?: Metadata | null;
  configuration_json: { hnsw?: { space?: Space | null } | null; spann?: { space?: Space | null } | null };
}

interface GetResponse {
  ids: string[];
  embeddings?: number[][];
  metadatas?: (Metadata | null)[] | null;
}

/** What the server accepts per write: records per request, and embeddings as base64 float32 (little-endian). */
interface PreFlight {
  max_batch_size: number;
  supports_base64_encoding?: boolean;
}

interface Cursor {
  collection: string;
  offset: number;
  /** Where a part of a partitioned scan ends (exclusive); none: the end of the collection. */
  end?: number;
}

export function chromaStore(config: ChromaConfig): VectorStore {
  const http = httpJson({
    engine: 'chroma',
    baseUrl: config.url,
    headers: config.apiKey === undefined ? undefined : { 'x-chroma-token': config.apiKey },
    timeoutMs: config.timeoutMs,
    attempts: config.attempts,
    backoffMs: config.backoffMs,
  });
  const tenant = encodeURIComponent(config.tenant ?? 'default_tenant');
  const database = encodeURIComponent(config.database ?? 'default_database');
  const collections = `/api/v2/tenants/${tenant}/databases/${database}/collections`;
  let preFlight: Promise<PreFlight> | undefined;
  /** The page after the one a scan last asked for, already asked for: collection id, offset and size, and its answer. */
  let ahead: { key: string; page: Promise<GetResponse> } | undefined;

  /** Runs one operation on `index`, mapping Chroma's "collection does not exist" to IndexNotFoundError. */
  async function on<T>(operation: string, index: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof IndexNotFoundError || error instanceof IndexExistsError) throw error;
      if (isNotFound(error)) throw new IndexNotFoundError('chroma', index);
      const reason = error instanceof Error ? error.message.replace(/^chroma: /, '') : String(error);
      throw new EngineError('chroma', `${operation} of index "${index}" failed: ${reason}`, { cause: error });
    }
  }

  const collection = (index: string) => http.json<Collection>('GET', `${collections}/${encodeURIComponent(index)}`);
  const records = <T>(c: Collection, action: 'get' | 'upsert' | 'query', body: unknown) =>
    http.json<T>('POST', `${collections}/${c.id}/${action}`, body);

  async function upsert(c: Collection, batch: readonly VectorRecord[], base64: boolean): Promise<void> {
    const ids = batch.map((r) => r.id);
    const stored = await records<GetResponse>(c, 'get', { ids, include: ['metadatas'] });
    const storedKeys = new Map(stored.ids.map((id, i) => [id, Object.keys(stored.metadatas?.[i] ?? {})]));
    const metadatas = batch.map((r) => {
      const metadata = toChroma(r.metadata);
      for (const key of storedKeys.get(r.id) ?? []) if (!(key in metadata)) metadata[key] = null;
      return Object.keys(metadata).length === 0 ? null : metadata;
    });
    // Base64 float32 bytes carry every value exactly; JSON numbers would turn -0 into 0.
    const embeddings = batch.map(({ vector: v }) =>
      base64 ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v),
    );
    await records<unknown>(c, 'upsert', { ids, embeddings, metadatas });
  }

  return {
    engine: 'chroma',
    consistency: 'window',
    exactSearch: false,

    describe: (index) =>
      on('describe', index, async (): Promise<IndexDescription> => {
        const c = await collection(index);
        const count = await http.json<number>('GET', `${collections}/${c.id}/count`);
        const space = c.configuration_json.hnsw?.space ?? c.configuration_json.spann?.space ?? 'l2';
        return { dimensions: dimensionsOf(c) ?? 0, metric: metricOf[space], count };
      }),

    scan: (index, { cursor, limit }) =>
      on('scan', index, async (): Promise<ScanPage> => {
        const c = await collection(index);
        const from: Cursor = cursor === undefined ? { collection: c.id, offset: 0 } : decodeCursor(cursor);
        if (from.collection !== c.id) {
          throw new EngineError('chroma', 'the cursor is from an earlier collection of this name (dropped and created again)');
        }
        // One record more than the page tells whether another page follows; a part stops at its end.
        const sizeAt = (offset: number) => (from.end === undefined ? limit : Math.min(limit, from.end - offset));
        const pageAt = (offset: number) => {
          const key = `${c.id}/${offset}/${sizeAt(offset)}`;
          if (ahead?.key === key) return ahead.page;
          return records<GetResponse>(c, 'get', { limit: sizeAt(offset) + 1, offset, include: ['embeddings', 'metadatas'] });
        };
        const take = sizeAt(from.offset);
        const answer = pageAt(from.offset);
        ahead = undefined;
        const nextOffset = from.offset + take;
        if (from.end === undefined || nextOffset < from.end) {
          const next = pageAt(nextOffset);
          next.catch(() => undefined); // a read-ahead never used (the scan stopped) fails unobserved
          ahead = { key: `${c.id}/${nextOffset}/${sizeAt(nextOffset)}`, page: next };
        }
        const page = await answer;
        const found = page.ids.slice(0, take).map((id, i) => ({
          id,
          vector: Float32Array.from(page.embeddings![i]!),
          metadata: fromChroma(page.metadatas?.[i]),
        }));
        const more = page.ids.length > take && (from.end === undefined || from.offset + take < from.end);
        const next = more ? encodeCursor({ ...from, offset: from.offset + take }) : undefined;
        return { records: found, cursor: next };
      }),

    // Offset ranges of the collection as counted now (a window, like the scan itself).
    partitionScan: (index, count) =>
      on('partitionScan', index, async () => {
        const c = await collection(index);
        const total = await http.json<number>('GET', `${collections}/${c.id}/count`);
        return offsetRanges(total, count).map(([offset, end]) =>
          encodeCursor({ collection: c.id, offset, ...(end !== undefined && { end }) }),
        );
      }),

    write: (index, batch) =>
      on('write', index, async () => {
        if (batch.length === 0) return;
        const c = await collection(index);
        const dimensions = dimensionsOf(c);
        const wrong = dimensions === undefined ? undefined : batch.find((r) => r.vector.length !== dimensions);
        if (wrong) {
          throw new EngineError('chroma', `record "${wrong.id}" has ${wrong.vector.length} dimensions, the collection ${dimensions}`);
        }
        preFlight ??= http.json<PreFlight>('GET', '/api/v2/pre-flight-checks');
        const { max_batch_size: size, supports_base64_encoding: base64 = false } = await preFlight;
        for (let start = 0; start < batch.length; start += size) await upsert(c, batch.slice(start, start + size), base64);
      }),

    createIndex: (index, { dimensions, metric }) =>
      on('createIndex', index, async () => {
        try {
          await http.json('POST', collections, {
            name: index,
            configuration: { hnsw: { space: spaceOf[metric] } },
            metadata: { [dimensionsKey]: dimensions },
          });
        } catch (error) {
          if (error instanceof HttpStatusError && error.status === 409) throw new IndexExistsError('chroma', index);
          throw error;
        }
      }),

    dropIndex: async (index) => {
      try {
        await on('dropIndex', index, () => http.json('DELETE', `${collections}/${encodeURIComponent(index)}`));
      } catch (error) {
        if (!(error instanceof IndexNotFoundError)) throw error;
      }
    },

    query: (index, vector, k) =>
      on('query', index, async (): Promise<Neighbour[]> => {
        const c = await collection(index);
        const answer = await records<{ ids: string[][]; distances: number[][] }>(c, 'query', {
          query_embeddings: [Array.from(vector)],
          n_results: k,
          include: ['distances'],
        });
        return answer.ids[0]!.map((id, i) => ({ id, score: answer.distances[0]![i]! }));
      }),

    close: async () => {},
  };
}

/** Chroma answers a missing collection (or database) with 404 and `"error":"NotFoundError"`; a wrong URL with a bare 404. */
function isNotFound(error: unknown): boolean {
  return error instanceof HttpStatusError && error.status === 404 && error.body.includes('NotFoundError');
}

/** Whether Chroma's float parser keeps `value` exactly (see the doc comment at the top). */
function parsedExactly(value: JsonValue): boolean {
  if (Array.isArray(value)) return value.every(parsedExactly);
  if (typeof value !== 'number' || Number.isSafeInteger(value)) return true;
  const [mantissa, exponent] = Math.abs(value).toExponential().split('e') as [string, string];
  const digits = mantissa.replace('.', '');
  return Number(digits) < 2 ** 53 && Math.abs(Number(exponent) - (digits.length - 1)) <= 22;
}

function toChroma(metadata: Metadata): Metadata {
  const inexact = Object.entries(metadata).filter(([, value]) => !parsedExactly(value));
  return inexact.length === 0 ? { ...metadata } : { ...metadata, [exactKey]: JSON.stringify(Object.fromEntries(inexact)) };
}

function fromChroma(stored: Metadata | null | undefined): Metadata {
  const { [exactKey]: exact, ...metadata } = stored ?? {};
  return typeof exact === 'string' ? { ...metadata, ...(JSON.parse(exact) as Metadata) } : metadata;
}

function dimensionsOf(c: Collection): number | undefined {
  const stored = c.metadata?.[dimensionsKey];
  return c.dimension ?? (typeof stored === 'number' ? stored : undefined);
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeCursor(cursor: string): Cursor {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Partial<Cursor>;
    if (typeof parsed.collection === 'string' && Number.isInteger(parsed.offset) && parsed.offset! >= 0) return parsed as Cursor;
  } catch {
    // reported below
  }
  throw new EngineError('chroma', `not a Chroma scan cursor: ${cursor.slice(0, 80)}`);
}
