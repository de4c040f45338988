import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Exchanges recorded from a real MLflow server (scripts/mlflow/record-exchanges.ts,
 * test/fixtures/mlflow/exchanges.json), and a local HTTP server that answers exactly those requests,
 * counts them, and answers any other request with an error the test then reports.
 */
export interface Exchange {
  request: { method: string; path: string };
  response: { status: number; body: unknown };
}
export const mlflowFixture = JSON.parse(readFileSync(new URL('../fixtures/mlflow/exchanges.json', import.meta.url), 'utf8')) as {
  mlflowVersion: string;
  model: string;
  pageSize: number;
  runs: { v1: string; v2: string; v3: string };
  refusedWrite: Exchange;
  exchanges: Exchange[];
};

/** A request the same whatever the order or encoding of its query. */
export const requestKey = (method: string, path: string) => {
  const url = new URL(path, 'http://replay');
  const query = [...url.searchParams].sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : 1) : a < b ? -1 : 1));
  return `${method} ${url.pathname}?${new URLSearchParams(query)}`;
};

export interface Replay {
  url: string;
  /** Requests answered, by requestKey. */
  hits: Map<string, number>;
  /** Requests the fixture does not hold. */
  unexpected: string[];
  headers: IncomingHttpHeaders[];
  stop(): Promise<void>;
}

export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export function stopServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * A server answering the recorded exchanges (or a tampered copy of them); `rewrite` changes each
 * answer's JSON text as it is sent (to name the test's own buckets, dataset versions and digests).
 */
export async function replay(
  exchanges: Exchange[] = mlflowFixture.exchanges,
  rewrite: (json: string) => string = (json) => json,
): Promise<Replay> {
  const answers = new Map(exchanges.map((e) => [requestKey(e.request.method, e.request.path), e.response]));
  const hits = new Map<string, number>();
  const unexpected: string[] = [];
  const headers: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    const key = requestKey(req.method ?? 'GET', req.url ?? '/');
    headers.push(req.headers);
    const answer = answers.get(key);
    if (!answer) unexpected.push(key);
    else hits.set(key, (hits.get(key) ?? 0) + 1);
    res.writeHead(answer?.status ?? 500, { 'content-type': 'application/json' });
    res.end(rewrite(JSON.stringify(answer?.body ?? { error_code: 'NOT_IN_FIXTURE', message: key })));
  });
  return { url: await listen(server), hits, unexpected, headers, stop: () => stopServer(server) };
}
