/**
 * VectorStore adapter for PostgreSQL with pgvector (tested against pgvector 0.8.7), over the
 * ordinary `pg` client (8.x) with a pool of one connection per adapter.
 *
 * - Index = a table in `schema` (default public). Names must be simple identifiers, hyphens
 *   allowed; they are always double-quoted. createIndex makes
 *   `(id text primary key, embedding vector(d), metadata jsonb not null default '{}')` plus an HNSW
 *   index whose operator class carries the metric (cosine/euclidean/dot = vector_cosine_ops /
 *   vector_l2_ops / vector_ip_ops); describe reads the metric back from that index (pg_index,
 *   pg_opclass) and the dimensions from the column's typmod. A table with no HNSW/IVFFlat index on
 *   the vector column describes with no metric and is queried with L2 distance.
 * - Other tables: the id column may be any type with an order (text, bigint, uuid...) and must be
 *   unique; ids are read as text. Metadata = the metadata column if the table has one, else every
 *   other column (`to_jsonb(row) - id - embedding`). write needs the layout createIndex makes.
 * - Scan = keyset pagination on the id (`WHERE id > $after ORDER BY id`); the cursor holds the last
 *   id. Vectors are read as pgvector text, which prints each float4 in its shortest round-trip form,
 *   so Float32Array.from(...) gives the stored floats back bit for bit.
 * - Consistency is a `window`: each page is its own statement and sees the writes committed before
 *   it. A point-in-time scan would need one REPEATABLE READ transaction held open across the
 *   invocations of a snapshot, which Lambda cannot do.
 * - write = `INSERT ... ON CONFLICT (id) DO UPDATE` in chunks of 500 rows, all in one transaction.
 * - query is exact: index scans are switched off for the statement (SET LOCAL), so the planner
 *   sorts every row by distance instead of asking the ANN index. Score = pgvector's distance
 *   (`<=>`, `<->`, or `<#>`, the negative inner product), smallest first.
 * - No native snapshots: pg_dump is not available in Lambda.
 */
import pg from 'pg';
import {
  EngineError,
  type IndexDescription,
  IndexExistsError,
  IndexNotFoundError,
  type Metadata,
  type Metric,
  type VectorRecord,
  type VectorStore,
} from '../vector-store.js';

export interface PgvectorConfig {
  /** postgres://user[:password]@host[:port]/database[?options] */
  connectionString: string;
  /** Overrides the connection string's password (e.g. from Secrets Manager). */
  password?: string;
  /** Default public. */
  schema?: string;
  /** Default id. */
  idColumn?: string;
  /** Default embedding. */
  vectorColumn?: string;
  /** Default metadata (jsonb). */
  metadataColumn?: string;
}

const engine = 'pgvector';
const writeChunk = 500;
const opClasses = { cosine: 'vector_cosine_ops', euclidean: 'vector_l2_ops', dot: 'vector_ip_ops' } as const;
const operators = { cosine: '<=>', euclidean: '<->', dot: '<#>' } as const;
const metricOfOpClass = new Map(Object.entries(opClasses).map(([metric, opClass]) => [opClass as string, metric as Metric]));

/** Double-quotes a name after checking it is a simple identifier (hyphens allowed). */
function identifier(name: string, what: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_-]{0,62}$/.test(name)) {
    throw new EngineError(engine, `${what} "${name}" is not a simple identifier (letters, digits, _ and -, at most 63)`);
  }
  return `"${name}"`;
}

/** A scan position: after this id (exclusive), up to `until` (inclusive) in a part of a partitioned scan. */
interface Position {
  after?: string;
  until?: string;
}
const encodeCursor = (position: Position) => Buffer.from(JSON.stringify(position)).toString('base64url');
function decodeCursor(cursor: string): Position {
  let position: { after?: unknown; until?: unknown };
  try {
    position = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as typeof position;
  } catch {
    throw new EngineError(engine, `invalid scan cursor "${cursor}"`);
  }
  const { after, until } = position ?? {};
  if ((after !== undefined && typeof after !== 'string') || (until !== undefined && typeof until !== 'string'))
    throw new EngineError(engine, `invalid scan cursor "${cursor}"`);
  return { ...(after !== undefined && { after }), ...(until !== undefined && { until }) };
}

/** Ids sampled per part when a scan is partitioned: boundaries are quantiles of the sample. */
const samplePerPart = 200;

/** pgvector's text form; -0 keeps its sign (String(-0) is "0"). */
const vectorText = (vector: Float32Array) => `[${Array.from(vector, (x) => (Object.is(x, -0) ? '-0' : String(x))).join(',')}]`;
/**
 * A vector in pgvector's binary form (`vector_send`): int16 dimensions, int16 unused, then float4
 * big-endian values. Exact, and far cheaper for the server (no float formatting) and for us.
 */
function parseVectorSend(bytes: Buffer): Float32Array {
  const dimensions = bytes.readInt16BE(0);
  const vector = new Float32Array(dimensions);
  for (let i = 0; i < dimensions; i++) vector[i] = bytes.readFloatBE(4 + 4 * i);
  return vector;
}

interface Layout {
  dimensions: number;
  metric?: Metric;
  hasMetadata: boolean;
}

export function pgvectorStore(config: PgvectorConfig): VectorStore {
  let url: URL;
  try {
    url = new URL(config.connectionString);
  } catch (error) {
    throw new EngineError(engine, 'connectionString is not a postgres:// URL', { cause: error });
  }
  // pg lets the connection string's (possibly empty) password win over a separate one.
  if (config.password !== undefined) url.password = config.password;
  const endpoint = `${url.hostname}:${url.port || '5432'}`;
  const schemaName = config.schema ?? 'public';
  const schema = identifier(schemaName, 'schema');
  const columnNames = {
    id: config.idColumn ?? 'id',
    vector: config.vectorColumn ?? 'embedding',
    metadata: config.metadataColumn ?? 'metadata',
  };
  const id = identifier(columnNames.id, 'id column');
  const vec = identifier(columnNames.vector, 'vector column');
  const meta = identifier(columnNames.metadata, 'metadata column');

  const pool = new pg.Pool({ connectionString: url.toString(), max: 1, connectionTimeoutMillis: 10_000 });
  // A pooled connection that dies while idle is dropped; the next statement reconnects and reports
  // its own failure. Without a listener the 'error' event would crash the process.
  pool.on('error', () => {});

  /**
   * Runs one operation on the index's table (its quoted, schema-qualified name), mapping Postgres
   * and connection errors to the port's errors.
   */
  async function run<T>(operation: string, index: string, body: (table: string) => Promise<T>): Promise<T> {
    try {
      return await body(`${schema}.${identifier(index, 'index name')}`);
    } catch (error) {
      if (error instanceof EngineError || error instanceof IndexNotFoundError || error instanceof IndexExistsError) throw error;
      const { code, message } = error as { code?: string; message?: string };
      if (code === '42P01') throw new IndexNotFoundError(engine, index);
      if (code === '42P07') throw new IndexExistsError(engine, index);
      throw new EngineError(engine, `${operation} of index "${index}" at ${endpoint} failed: ${message || code || String(error)}`, {
        cause: error,
      });
    }
  }

  async function transaction<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const result = await body(client);
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (error) {
      // The original error is the one to report; a connection that cannot even roll back is
      // discarded (release with an error) instead of going back to the pool.
      client.release(
        await client.query('ROLLBACK').then(
          () => undefined,
          (rollbackError: Error) => rollbackError,
        ),
      );
      throw error;
    }
  }

  /** Layouts read by describe and scans, so that a scan's pages do not each query the catalog. */
  const layouts = new Map<string, Layout>();

  async function layout(index: string, table: string): Promise<Layout> {
    const found = await readLayout(index, table);
    layouts.set(index, found);
    return found;
  }

  async function readLayout(index: string, table: string): Promise<Layout> {
    const { rows } = await pool.query<{ vector_type: string | null; typmod: number | null; has_metadata: boolean; opclass: string | null }>(
      `SELECT vt.typname AS vector_type, v.atttypmod AS typmod, m.attnum IS NOT NULL AS has_metadata, ann.opcname AS opclass
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_attribute v ON v.attrelid = c.oid AND v.attname = $3 AND NOT v.attisdropped
         LEFT JOIN pg_type vt ON vt.oid = v.atttypid
         LEFT JOIN pg_attribute m ON m.attrelid = c.oid AND m.attname = $4 AND NOT m.attisdropped
         LEFT JOIN LATERAL (
           SELECT opc.opcname FROM pg_index i
             JOIN pg_class ic ON ic.oid = i.indexrelid
             JOIN pg_am am ON am.oid = ic.relam
             JOIN pg_opclass opc ON opc.oid = i.indclass[0]
            WHERE i.indrelid = c.oid AND i.indkey[0] = v.attnum AND am.amname IN ('hnsw', 'ivfflat')
            ORDER BY ic.relname LIMIT 1
         ) ann ON true
        WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
      [schemaName, index, columnNames.vector, columnNames.metadata],
    );
    const row = rows[0];
    if (!row) throw new IndexNotFoundError(engine, index);
    if (row.vector_type !== 'vector') {
      throw new EngineError(engine, `column ${columnNames.vector} of index "${index}" is ${row.vector_type ?? 'missing'}, not vector`);
    }
    let dimensions = row.typmod ?? -1;
    if (dimensions < 1) {
      // An unconstrained `vector` column: take the dimensions of a stored vector (0 when empty).
      const sample = await pool.query<{ d: number }>(`SELECT vector_dims(${vec}) AS d FROM ${table} LIMIT 1`);
      dimensions = sample.rows[0]?.d ?? 0;
    }
    return { dimensions, metric: row.opclass ? metricOfOpClass.get(row.opclass) : undefined, hasMetadata: row.has_metadata };
  }

  return {
    engine,
    consistency: 'window',
    exactSearch: true,

    describe: (index) =>
      run('describe', index, async (table): Promise<IndexDescription> => {
        const { dimensions, metric } = await layout(index, table);
        const { rows } = await pool.query<{ count: string }>(`SELECT count(*) AS count FROM ${table}`);
        return { dimensions, metric, count: Number(rows[0]!.count) };
      }),

    scan: (index, { cursor, limit }) =>
      run('scan', index, async (table) => {
        const { hasMetadata } = layouts.get(index) ?? (await layout(index, table));
        const params: unknown[] = [limit + 1];
        const metadata = hasMetadata
          ? `coalesce(rec.${meta}, '{}')`
          : `to_jsonb(rec.*) - $${params.push([columnNames.id, columnNames.vector])}::text[]`;
        const { after, until } = cursor === undefined ? {} : decodeCursor(cursor);
        const bounds = [
          ...(after !== undefined ? [`rec.${id} > $${params.push(after)}`] : []),
          ...(until !== undefined ? [`rec.${id} <= $${params.push(until)}`] : []),
        ];
        const where = bounds.length > 0 ? `WHERE ${bounds.join(' AND ')}` : '';
        const { rows } = await pool.query<{ id: string; vector: Buffer | null; metadata: Metadata }>(
          `SELECT rec.${id}::text AS id, vector_send(rec.${vec}) AS vector, ${metadata} AS metadata
             FROM ${table} AS rec ${where} ORDER BY rec.${id} LIMIT $1`,
          params,
        );
        const records: VectorRecord[] = rows.slice(0, limit).map((row) => {
          if (row.vector === null) throw new EngineError(engine, `record "${row.id}" of index "${index}" has no vector`);
          return { id: row.id, vector: parseVectorSend(row.vector), metadata: row.metadata };
        });
        return {
          records,
          cursor: rows.length > limit ? encodeCursor({ after: records.at(-1)!.id, ...(until !== undefined && { until }) }) : undefined,
        };
      }),

    // Ranges of ids, cut at quantiles of a sample of them (TABLESAMPLE SYSTEM reads only the sampled
    // pages; the whole table when it is small), in the table's own order of ids. Parts need not be
    // equal: together they hold every id once whatever the sample.
    partitionScan: (index, count) =>
      run('partitionScan', index, async (table) => {
        const { rows: stats } = await pool.query<{ estimate: number }>(
          'SELECT greatest(reltuples, 0)::float8 AS estimate FROM pg_class WHERE oid = $1::regclass',
          [table],
        );
        let rows = stats[0]?.estimate ?? 0;
        if (rows === 0) rows = Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
        const percent = Math.min(100, (100 * samplePerPart * count) / Math.max(rows, 1));
        // At most four times the sample wanted, in the order the sampled pages are read (a stale row
        // estimate of a large table would otherwise sample all of it).
        const { rows: sample } = await pool.query<{ id: string }>(
          `SELECT s.id::text AS id FROM (SELECT rec.${id} AS id FROM ${table} AS rec TABLESAMPLE SYSTEM ($1) LIMIT $2) AS s ORDER BY s.id`,
          [percent, 4 * samplePerPart * count],
        );
        const cuts = [
          ...new Set(Array.from({ length: count - 1 }, (_, i) => sample[Math.floor((sample.length * (i + 1)) / count)]?.id)),
        ].filter((cut): cut is string => cut !== undefined);
        return [...cuts, undefined].map((until, i) =>
          encodeCursor({ ...(i > 0 && { after: cuts[i - 1]! }), ...(until !== undefined && { until }) }),
        );
      }),

    write: (index, records) =>
      run('write', index, (table) =>
        transaction(async (client) => {
          for (let start = 0; start < records.length; start += writeChunk) {
            const chunk = records.slice(start, start + writeChunk);
            await client.query(
              `INSERT INTO ${table} (${id}, ${vec}, ${meta})
               SELECT * FROM unnest($1::text[], $2::vector[], $3::jsonb[])
               ON CONFLICT (${id}) DO UPDATE SET ${vec} = excluded.${vec}, ${meta} = excluded.${meta}`,
              [chunk.map((r) => r.id), chunk.map((r) => vectorText(r.vector)), chunk.map((r) => JSON.stringify(r.metadata))],
            );
          }
        }),
      ),

    createIndex: (index, { dimensions, metric, bulkLoad }) =>
      run('createIndex', index, (table) => {
        layouts.delete(index);
        if (!Number.isInteger(dimensions) || dimensions < 1)
          throw new EngineError(engine, `invalid dimensions ${dimensions} for index "${index}"`);
        return transaction(async (client) => {
          await client.query(
            `CREATE TABLE ${table} (${id} text PRIMARY KEY, ${vec} vector(${dimensions}) NOT NULL, ${meta} jsonb NOT NULL DEFAULT '{}')`,
          );
          // A bulk load builds the HNSW index once at the end (finishLoad): far cheaper than per insert.
          if (!bulkLoad) await client.query(`CREATE INDEX ON ${table} USING hnsw (${vec} ${opClasses[metric]})`);
        });
      }),

    finishLoad: (index, { metric }) =>
      run('finishLoad', index, async (table) => {
        if ((await layout(index, table)).metric !== undefined) return; // built already
        await pool.query(`CREATE INDEX ON ${table} USING hnsw (${vec} ${opClasses[metric]})`);
        layouts.delete(index);
      }),

    dropIndex: (index) =>
      run('dropIndex', index, async (table) => {
        layouts.delete(index);
        await pool.query(`DROP TABLE IF EXISTS ${table}`);
      }),

    query: (index, vector, k) =>
      run('query', index, async (table) => {
        const { metric } = await layout(index, table);
        const distance = `rec.${vec} ${operators[metric ?? 'euclidean']} $1::vector`;
        return transaction(async (client) => {
          // Without index scans the planner reads every row and sorts by distance: exact kNN.
          await client.query('SET LOCAL enable_indexscan = off');
          const { rows } = await client.query<{ id: string; score: number }>(
            `SELECT rec.${id}::text AS id, ${distance} AS score FROM ${table} AS rec ORDER BY ${distance} LIMIT $2`,
            [vectorText(vector), k],
          );
          return rows;
        });
      }),

    close: () => pool.end(),
  };
}
