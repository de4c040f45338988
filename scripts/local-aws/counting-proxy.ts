import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RequestCounter, RequestCounts, ServedRequest } from './server.js';

/**
 * A counting HTTP proxy in front of an S3 server that counts nothing itself (SeaweedFS): it
 * forwards every request and response unchanged (the same method, path, headers and bytes; the
 * Host header stays the proxy's, which a server that checks no signatures does not mind) and
 * counts what it forwarded the way the local AWS counts what it serves (request_counter.py): by
 * operation, from the method, the query string and the copy-source header; the response bodies'
 * bytes; each request's start and end. On 127.0.0.1 only.
 */
export interface CountingProxy extends RequestCounter {
  endpoint: string;
  stop(): Promise<void>;
}

/** The S3 REST operation of a request, named as request_counter.py names it (x-id when the SDK sends it, else by subresource). */
export function s3Operation(method: string, path: string, query: URLSearchParams, copies: boolean): string {
  const xId = query.get('x-id');
  if (xId) return xId;
  const hasKey = path.replace(/^\/+|\/+$/g, '').includes('/');
  if (query.has('uploadId')) {
    if (method === 'PUT') return copies ? 'UploadPartCopy' : 'UploadPart';
    return { POST: 'CompleteMultipartUpload', DELETE: 'AbortMultipartUpload', GET: 'ListParts' }[method] ?? method;
  }
  if (query.has('uploads')) return method === 'POST' ? 'CreateMultipartUpload' : 'ListMultipartUploads';
  const subresources: [string, Record<string, string>][] = [
    ['versions', { GET: 'ListObjectVersions' }],
    ['versioning', { GET: 'GetBucketVersioning', PUT: 'PutBucketVersioning' }],
    ['tagging', { GET: 'GetObjectTagging', PUT: 'PutObjectTagging', DELETE: 'DeleteObjectTagging' }],
    ['delete', { POST: 'DeleteObjects' }],
    ['attributes', { GET: 'GetObjectAttributes' }],
    ['notification', { GET: 'GetBucketNotificationConfiguration', PUT: 'PutBucketNotificationConfiguration' }],
    ['location', { GET: 'GetBucketLocation' }],
  ];
  for (const [subresource, names] of subresources) if (query.has(subresource)) return names[method] ?? `${method} ?${subresource}`;
  if (query.has('list-type')) return 'ListObjectsV2';
  if (method === 'HEAD') return hasKey ? 'HeadObject' : 'HeadBucket';
  if (method === 'GET') return hasKey ? 'GetObject' : 'ListObjects';
  if (method === 'PUT') return hasKey ? (copies ? 'CopyObject' : 'PutObject') : 'CreateBucket';
  if (method === 'DELETE') return hasKey ? 'DeleteObject' : 'DeleteBucket';
  return method;
}

/** Seconds since the epoch, with sub-millisecond resolution (the clock request_counter.py's time.time() reads). */
const now = () => (performance.timeOrigin + performance.now()) / 1000;

export async function startCountingProxy(upstream: string): Promise<CountingProxy> {
  const target = new URL(upstream);
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  let timeline: ServedRequest[] = [];
  let counts: RequestCounts = {};

  const server = createServer((req, res) => {
    const start = now();
    const url = new URL(req.url ?? '/', 'http://proxy');
    const operation = s3Operation(req.method ?? 'GET', url.pathname, url.searchParams, 'x-amz-copy-source' in req.headers);
    const key = `s3 ${operation}`;
    counts[key] = (counts[key] ?? 0) + 1;
    // Node's server has already answered "Expect: 100-continue"; the upstream must not wait for the body a second time.
    const { expect: _expect, ...headers } = req.headers;
    const forward = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent }, (response) => {
      res.writeHead(response.statusCode ?? 502, response.rawHeaders);
      let bytes = 0;
      response.on('data', (chunk: Buffer) => (bytes += chunk.length));
      response.pipe(res);
      res.on('finish', () => timeline.push({ service: 's3', operation, start, end: now(), bytes }));
    });
    forward.on('error', (error) => res.destroy(error));
    req.pipe(forward);
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as AddressInfo;

  const sumBy = (value: (r: ServedRequest) => number) => {
    const sums: RequestCounts = {};
    for (const r of timeline) sums[`${r.service} ${r.operation}`] = (sums[`${r.service} ${r.operation}`] ?? 0) + value(r);
    return sums;
  };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    // Counted when a request arrives (as request_counter.py counts), so a request still in flight counts too.
    requests: async () => ({ ...counts }),
    responseBytes: async () => sumBy((r) => r.bytes),
    timeline: async () => [...timeline],
    resetRequests: async () => {
      counts = {};
      timeline = [];
    },
    stop: async () => {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((closed) => server.close(() => closed()));
    },
  };
}
