import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ensureVenv, projectRoot, venvBin } from './venv.js';

/** One request as a server served it: when it arrived and when its response ended (seconds since the epoch), its response body's bytes. */
export interface ServedRequest {
  service: string;
  operation: string;
  start: number;
  end: number;
  bytes: number;
}

/**
 * Counts of what a server served, kept where it is served: by the local AWS itself
 * (request_counter.py), or by a counting proxy in front of another S3 server (counting-proxy.ts).
 */
export interface RequestCounter {
  /** The requests served since the start or the last reset, by service and operation. */
  requests(): Promise<RequestCounts>;
  /** The bytes of their response bodies, by service and operation (for GetObject: the object data served). */
  responseBytes(): Promise<RequestCounts>;
  /** Each request served since the last reset, with its start and end (for sequential round trips). */
  timeline(): Promise<ServedRequest[]>;
  resetRequests(): Promise<void>;
}

/** A running local AWS (moto server on 127.0.0.1). */
export interface LocalAws extends RequestCounter {
  endpoint: string;
  /** Environment for code under test: the SDK reads AWS_ENDPOINT_URL; credentials are dummies. */
  env: Record<string, string>;
  /** CPU seconds (user + system) the server has used so far, for benchmarks (Linux /proc). */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** Requests served, keyed "<service> <Operation>" (e.g. "s3 CopyObject", "dynamodb PutItem"). */
export type RequestCounts = Record<string, number>;

/** The counts of one service, keyed by operation; and their sum. */
export function countsOf(counts: RequestCounts, service: string): { total: number; byOperation: Record<string, number> } {
  const byOperation = Object.fromEntries(
    Object.entries(counts)
      .filter(([key]) => key.startsWith(`${service} `))
      .map(([key, n]) => [key.slice(service.length + 1), n]),
  );
  return { total: Object.values(byOperation).reduce((a, b) => a + b, 0), byOperation };
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** Thrown when the server ends before it answers, with what it wrote to stderr (e.g. a wrong moto version). */
export class LocalAwsExitedError extends Error {
  override readonly name = 'LocalAwsExitedError';
}

async function waitUntilReady(endpoint: string, child: ChildProcess, output: () => string): Promise<void> {
  // 'close' comes after the process has ended and its stderr has been read to the end.
  let closed: string | undefined;
  child.once('close', (code: number | null, signal: string | null) => {
    closed = code !== null ? `status ${code}` : `signal ${signal}`;
  });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (closed) {
      throw new LocalAwsExitedError(
        `local AWS (scripts/local-aws/server.py) exited with ${closed} before it answered:\n${output().trim()}`,
      );
    }
    try {
      const response = await fetch(`${endpoint}/moto-api/data.json`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`local AWS did not answer on ${endpoint} within 30 s:\n${output()}`);
}

/** utime + stime of a process, from /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s). */
export function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Starts moto (scripts/local-aws/server.py) on a free 127.0.0.1 port; stop() ends it. */
export async function startLocalAws(): Promise<LocalAws> {
  ensureVenv();
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(venvBin('python'), [join(projectRoot, 'scripts/local-aws/server.py'), '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  await waitUntilReady(endpoint, child, () => stderr);
  const counted = async () => {
    const response = await fetch(`${endpoint}/_local-aws/requests`);
    return ((await response.json()) as { requests: { service: string; operation: string; count: number; bytes: number }[] }).requests;
  };
  return {
    endpoint,
    env: {
      AWS_ENDPOINT_URL: endpoint,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_REGION: 'us-east-1',
      DR_S3_FORCE_PATH_STYLE: 'true',
      POWERTOOLS_TRACE_ENABLED: 'false',
      POWERTOOLS_DEV: 'false',
    },
    cpuSeconds: () => processCpuSeconds(child.pid!),
    requests: async () => Object.fromEntries((await counted()).map((r) => [`${r.service} ${r.operation}`, r.count])),
    responseBytes: async () => Object.fromEntries((await counted()).map((r) => [`${r.service} ${r.operation}`, r.bytes])),
    timeline: async () => {
      const response = await fetch(`${endpoint}/_local-aws/requests/timeline`);
      const { requests, truncated } = (await response.json()) as { requests: ServedRequest[]; truncated: boolean };
      if (truncated) throw new Error('local AWS: the request timeline was truncated (request_counter.py TIMELINE_LIMIT)');
      return requests;
    },
    resetRequests: async () => {
      await fetch(`${endpoint}/_local-aws/requests`, { method: 'DELETE' });
    },
    stop: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGTERM');
      }),
  };
}
