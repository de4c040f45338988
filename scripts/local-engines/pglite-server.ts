import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import pg from 'pg';

/** PGlite (Postgres 18 in WASM) with pgvector, served over the Postgres wire protocol on 127.0.0.1. */
export interface PgliteServer {
  connectionString: string;
  stop(): Promise<void>;
}

/**
 * Starts an in-memory PGlite with `CREATE EXTENSION vector` and serves it with PGLiteSocketServer
 * on a port the OS picks. PGlite is one backend session: by default the socket server accepts one
 * client and cuts off a second one (pg sees "Connection terminated unexpectedly"). With
 * maxConnections > 1 it multiplexes clients over that one session, one protocol message at a time,
 * holding the others back while one is inside a transaction; session settings are shared.
 */
export async function startPglite(options: { maxConnections?: number } = {}): Promise<PgliteServer> {
  const db = await PGlite.create({ extensions: { vector } });
  await db.exec('CREATE EXTENSION IF NOT EXISTS vector');
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: options.maxConnections ?? 1 });
  await server.start();
  return {
    connectionString: `postgres://postgres:postgres@${server.getServerConn()}/postgres`,
    stop: async () => {
      await server.stop();
      await db.close();
    },
  };
}

/**
 * Benchmark baseline: `COPY (SELECT id, embedding, metadata FROM table) TO STDOUT` (text format)
 * through `pg`, counting the rows and the CopyData bytes without parsing them. pg ignores CopyData
 * in a plain query, so the bytes are counted on the connection's copyData events.
 */
export async function copyOutBaseline(connectionString: string, table: string): Promise<{ rows: number; bytes: number }> {
  if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(table)) throw new Error(`not a simple table name: ${table}`);
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    let bytes = 0;
    client.connection.on('copyData', (message: { chunk: Buffer }) => {
      bytes += message.chunk.length;
    });
    const result = await client.query(`COPY (SELECT id, embedding, metadata FROM "${table}") TO STDOUT`);
    return { rows: result.rowCount ?? 0, bytes };
  } finally {
    await client.end();
  }
}
