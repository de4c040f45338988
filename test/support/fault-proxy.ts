import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fault-injecting HTTP proxy between the code under test and the local AWS: requests that match a
 * rule get the rule's fault instead of (or after) reaching the local AWS; everything else passes.
 *  - "slowdown" / "internal": an S3 error response (503 SlowDown / 500 InternalError), nothing applied;
 *  - "reset-before": the connection is reset before the request reaches the local AWS;
 *  - "reset-after": the request is applied, then the connection is reset instead of the answer
 *    (the ambiguous case: the write happened, the client cannot know);
 *  - "hang": no answer at all (the client's request timeout ends it).
 */
export type Fault = 'slowdown' | 'internal' | 'reset-before' | 'reset-after' | 'hang';

export interface FaultRule {
  /** Which requests: method and a test on the path with query string and the headers. */
  match: (req: { method: string; url: string; headers: IncomingMessage['headers'] }) => boolean;
  fault: Fault;
  /** How many matching requests get the fault (then they pass). */
  times: number;
}

export interface FaultProxy {
  endpoint: string;
  rules: FaultRule[];
  /** Faults injected so far, by kind. */
  injected: Record<Fault, number>;
  stop(): Promise<void>;
}

const s3Error = (status: number, code: string, message: string) =>
  [
    status,
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault</RequestId></Error>`,
  ] as const;

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const injected: Record<Fault, number> = { slowdown: 0, internal: 0, 'reset-before': 0, 'reset-after': 0, hang: 0 };
  const rules: FaultRule[] = [];
  const hanging = new Set<ServerResponse>();

  const forward = (
    req: IncomingMessage,
    body: Buffer,
    onResponse: (status: number, headers: IncomingMessage['headers'], data: Buffer) => void,
  ) => {
    const out = httpRequest(
      { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => onResponse(res.statusCode ?? 502, res.headers, Buffer.concat(chunks)));
      },
    );
    out.end(body);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const rule = rules.find((r) => r.times > 0 && r.match({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers }));
      if (rule) {
        rule.times--;
        injected[rule.fault]++;
      }
      switch (rule?.fault) {
        case 'slowdown':
        case 'internal': {
          const [status, xml] =
            rule.fault === 'slowdown'
              ? s3Error(503, 'SlowDown', 'Please reduce your request rate.')
              : s3Error(500, 'InternalError', 'We encountered an internal error. Please try again.');
          res.writeHead(status, { 'content-type': 'application/xml' }).end(xml);
          return;
        }
        case 'reset-before':
          req.socket.destroy();
          return;
        case 'reset-after':
          forward(req, body, () => req.socket.destroy());
          return;
        case 'hang':
          hanging.add(res);
          return;
        default:
          forward(req, body, (status, headers, data) => {
            res.writeHead(status, headers).end(data);
          });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    rules,
    injected,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.socket?.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
