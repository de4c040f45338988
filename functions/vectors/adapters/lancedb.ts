/**
 * VectorStore adapter for LanceDB, embedded (`@lancedb/lancedb` 0.31, Lance format; Arrow 18).
 *
 * - Index = a table under `uri` (a local directory or s3://bucket/prefix). Tables the adapter creates
 *   have the columns id (utf8), vector (FixedSizeList<Float32>[dimensions]) and metadata (utf8, the
 *   record's metadata as JSON, so any metadata fits one schema). Any other table is read as is:
 *   metadata = every column but id and vector (and written back the same way).
 * - Metric: Lance tables carry none. The adapter records it in the Arrow schema metadata
 *   ("dr.metric") of the tables it creates; other tables describe with no metric and are queried
 *   with LanceDB's default (l2). cosine/euclidean/dot map to cosine/l2/dot.
 * - Ids: any string (the id column is utf8); ids of other tables are written in decimal.
 * - Scan is point-in-time: the first page pins the table version it read, later pages check that
 *   version out and read the next range of row offsets (`offset`/`limit` become a row range on a
 *   fixed version, so pages never shift), whatever is written meanwhile. The version must survive
 *   until the scan ends (`optimize` cleans up old versions, by default after 7 days).
 * - write = merge insert on id (upsert); query = exact kNN (brute force, any ANN index bypassed).
 * - Native snapshots ("lancedb-version"): create tags the current version (a tagged version is
 *   never cleaned up); restore checks the tagged version out and commits it as the newest version
 *   of the same table (Lance's restore). A tag lives in its table: a dropped table loses its tags,
 *   and restoring from a URL is unsupported.
 */
import { type Connection, connect, type Table } from '@lancedb/lancedb';
import { DataType, Field, FixedSizeList, Float32, Schema, Utf8 } from 'apache-arrow';
import type { JsonValue } from '../../shared/json.js';
import {
  EngineError,
  IndexExistsError,
  IndexNotFoundError,
  type Metadata,
  type Metric,
  metrics,
  type NativeSnapshotRef,
  offsetRanges,
  type VectorRecord,
  type VectorStore,
} from '../vector-store.js';

export interface LanceDbConfig {
  /** A local directory or s3://bucket/prefix. */
  uri: string;
  /** LanceDB storage options, e.g. aws_endpoint, aws_region, allow_http. */
  storageOptions?: Record<string, string>;
}

const engine = 'lancedb';
const metricKey = 'dr.metric';
const distanceTypes = { cosine: 'cosine', euclidean: 'l2', dot: 'dot' } as const;
const nativeFormat = 'lancedb-version';

interface Position {
  version: number;
  offset: number;
  /** Where a part of a partitioned scan ends (exclusive); none: the end of the table. */
  end?: number;
}
const encodeCursor = (position: Position) => Buffer.from(JSON.stringify(position)).toString('base64url');
const decodeCursor = (cursor: string) => JSON.parse(Buffer.from(cursor, 'base64url').toString()) as Position;

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Tables the adapter created (marked by the metric key) keep metadata as one JSON column. */
const isJsonLayout = (schema: Schema) => schema.metadata.has(metricKey);

function metricOf(schema: Schema): Metric | undefined {
  const metric = schema.metadata.get(metricKey);
  return metrics.find((m) => m === metric);
}

/**
 * An Arrow value of another table's column as JSON (bigints beyond 2^53 and binaries as strings).
 * Duck-typed: LanceDB (CommonJS) and this module (ESM) load different copies of apache-arrow.
 */
function toJson(value: unknown): JsonValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (typeof value !== 'object') return value as JsonValue;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (ArrayBuffer.isView(value) || Array.isArray(value)) return Array.from(value as ArrayLike<unknown>, toJson);
  if ('toJSON' in value && typeof value.toJSON === 'function') return toJson(value.toJSON());
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]));
}

function toRecord(row: Record<string, unknown>, jsonLayout: boolean): VectorRecord {
  const { id, vector, ...columns } = row;
  const metadata = jsonLayout ? (JSON.parse(columns.metadata as string) as Metadata) : (toJson(columns) as Metadata);
  // An Arrow list value: toArray() is a typed view of its values (iterating it element by element
  // costs far more); the copy gives the record its own memory.
  const values =
    typeof (vector as { toArray?: unknown }).toArray === 'function'
      ? (vector as { toArray(): ArrayLike<number> }).toArray()
      : (vector as ArrayLike<number>);
  return { id: String(id), vector: Float32Array.from(values), metadata };
}

/** The parts of an Arrow record batch read here (duck-typed, as above). */
interface ArrowColumn {
  get(row: number): unknown;
  data: { offset: number; length: number; nullCount: number; children: { offset: number; values: unknown }[] }[];
}
interface ArrowBatch {
  numRows: number;
  getChild(name: string): ArrowColumn | null;
}

/**
 * The records of a page of a table the adapter created, column by column: a vector is a view of its
 * batch's float32 values (no copy, no row object), which is most of a scan's time when read by rows.
 * Undefined when the batch is not laid out that way (a null vector, values that are not float32).
 */
function recordsOfBatch(batch: ArrowBatch, dimensions: number): VectorRecord[] | undefined {
  const ids = batch.getChild('id');
  const vectors = batch.getChild('vector');
  const metadata = batch.getChild('metadata');
  const data = vectors?.data;
  if (!ids || !metadata || data?.length !== 1 || data[0]!.nullCount > 0 || data[0]!.length !== batch.numRows) return undefined;
  const values = data[0]!.children[0];
  if (!(values?.values instanceof Float32Array)) return undefined;
  const first = values.offset + data[0]!.offset * dimensions;
  return Array.from({ length: batch.numRows }, (_, row) => ({
    id: String(ids.get(row)),
    vector: (values.values as Float32Array).subarray(first + row * dimensions, first + (row + 1) * dimensions),
    metadata: JSON.parse(metadata.get(row) as string) as Metadata,
  }));
}

export function lanceDbStore(config: LanceDbConfig): VectorStore {
  let connection: Promise<Connection> | undefined;
  const db = () => (connection ??= connect(config.uri, { storageOptions: config.storageOptions }));

  const failure = (operation: string, index: string, error: unknown) =>
    error instanceof EngineError || error instanceof IndexNotFoundError || error instanceof IndexExistsError
      ? error
      : new EngineError(engine, `${operation} on table "${index}" failed: ${message(error)}`, { cause: error });

  /** Opens `index` (IndexNotFoundError if it does not exist), runs `use` and closes the table. */
  async function withTable<T>(index: string, operation: string, use: (table: Table) => Promise<T>): Promise<T> {
    let table: Table;
    try {
      table = await (await db()).openTable(index);
    } catch (error) {
      if (/was not found/.test(message(error))) throw new IndexNotFoundError(engine, index);
      throw failure(operation, index, error);
    }
    try {
      return await use(table);
    } catch (error) {
      throw failure(operation, index, error);
    } finally {
      table.close();
    }
  }

  return {
    engine,
    consistency: 'point-in-time',
    exactSearch: true,

    describe: (index) =>
      withTable(index, 'describe', async (table) => {
        const schema = await table.schema();
        const vector = schema.fields.find((f) => f.name === 'vector')?.type;
        if (!DataType.isFixedSizeList(vector)) {
          throw new EngineError(engine, `table "${index}" has no fixed-size vector column`);
        }
        return { dimensions: vector.listSize, metric: metricOf(schema), count: await table.countRows() };
      }),

    scan: (index, { cursor, limit }) =>
      withTable(index, 'scan', async (table) => {
        const { version, offset, end } = cursor ? decodeCursor(cursor) : { version: await table.version(), offset: 0, end: undefined };
        await table.checkout(version);
        const schema = await table.schema();
        const jsonLayout = isJsonLayout(schema);
        // One row more than the page tells whether another follows; a part stops at its end.
        const take = end === undefined ? limit : Math.min(limit, end - offset);
        const page = await table
          .query()
          .offset(offset)
          .limit(take + 1)
          .toArrow();
        const dimensions = (schema.fields.find((f) => f.name === 'vector')?.type as { listSize?: number } | undefined)?.listSize ?? 0;
        let records: VectorRecord[] = [];
        for (const batch of page.batches as unknown as ArrowBatch[]) {
          const columns = jsonLayout ? recordsOfBatch(batch, dimensions) : undefined;
          const rows =
            columns ?? (batch as unknown as { toArray(): Record<string, unknown>[] }).toArray().map((row) => toRecord(row, jsonLayout));
          records = records.length === 0 ? rows : records.concat(rows);
        }
        const more = records.length > take && (end === undefined || offset + take < end);
        records = records.slice(0, take);
        return { records, cursor: more ? encodeCursor({ version, offset: offset + take, ...(end !== undefined && { end }) }) : undefined };
      }),

    // Offset ranges of one version: every part reads the same version (point-in-time).
    partitionScan: (index, count) =>
      withTable(index, 'partitionScan', async (table) => {
        const version = await table.version();
        await table.checkout(version); // counted at that version, whatever is written meanwhile
        return offsetRanges(await table.countRows(), count).map(([offset, end]) =>
          encodeCursor({ version, offset, ...(end !== undefined && { end }) }),
        );
      }),

    write: (index, records) =>
      withTable(index, 'write', async (table) => {
        if (records.length === 0) return;
        const jsonLayout = isJsonLayout(await table.schema());
        const rows = records.map(({ id, vector, metadata }) =>
          jsonLayout ? { id, vector, metadata: JSON.stringify(metadata) } : { ...metadata, id, vector },
        );
        await table.mergeInsert('id').whenMatchedUpdateAll().whenNotMatchedInsertAll().execute(rows);
      }),

    async createIndex(index, { dimensions, metric }) {
      const schema = new Schema(
        [
          new Field('id', new Utf8(), false),
          new Field('vector', new FixedSizeList(dimensions, new Field('item', new Float32(), true)), false),
          new Field('metadata', new Utf8(), false),
        ],
        new Map([[metricKey, metric]]),
      );
      try {
        (await (await db()).createEmptyTable(index, schema, { mode: 'create' })).close();
      } catch (error) {
        if (/already exists/.test(message(error))) throw new IndexExistsError(engine, index);
        throw failure('createIndex', index, error);
      }
    },

    async dropIndex(index) {
      try {
        await (await db()).dropTable(index);
      } catch (error) {
        if (!/was not found/.test(message(error))) throw failure('dropIndex', index, error);
      }
    },

    query: (index, vector, k) =>
      withTable(index, 'query', async (table) => {
        const metric = metricOf(await table.schema());
        let search = table.vectorSearch(vector).column('vector').bypassVectorIndex().select(['id']).limit(k);
        if (metric) search = search.distanceType(distanceTypes[metric]);
        const rows = (await search.toArray()) as { id: unknown; _distance: number }[];
        return rows.map((row) => ({ id: String(row.id), score: row._distance }));
      }),

    native: {
      restoreCreatesIndex: false,
      create: (index) =>
        withTable(index, 'native snapshot', async (table): Promise<NativeSnapshotRef> => {
          const version = await table.version();
          const tag = `dr-v${version}-${Date.now().toString(36)}`;
          await (await table.tags()).create(tag, version);
          return { format: nativeFormat, id: tag, details: { version } };
        }),

      async restore(index, from) {
        if (!('ref' in from)) throw new EngineError(engine, `restore of table "${index}" from a URL is unsupported`);
        if (from.ref.format !== nativeFormat) {
          throw new EngineError(engine, `restore of table "${index}": unknown snapshot format "${from.ref.format}"`);
        }
        await withTable(index, 'native restore', async (table) => {
          await table.checkout(from.ref.id);
          await table.restore();
        });
      },
    },

    async close() {
      if (connection) (await connection).close();
      connection = undefined;
    },
  };
}
