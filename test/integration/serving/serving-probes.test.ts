import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { providerAnswers as fixtures } from '../../support/provider-answers.js';
import { probe, type ProbeTarget } from '../../../functions/serving/probe.js';

/**
 * Probes of model-serving endpoints (docs/serving.md#probes) against a local HTTP server that
 * answers in the shapes the providers document (test/fixtures/serving/provider-answers.json names
 * the pages): every failure class, the headers a probe sends, and no request that generates.
 */

let server: Server;
let base: string;
const seen: IncomingMessage[] = [];

beforeAll(async () => {
  // /<provider>/<answer>/v1/models/<id>: that fixture; /slow/<ms>/…: the healthy answer after ms; /http/<status>: a bare status.
  server = createServer((req, res) => {
    seen.push(req);
    const [, provider, answer, ...rest] = (req.url ?? '').split('/');
    if (provider === 'http') {
      res.writeHead(Number(answer)).end('ok');
      return;
    }
    const delay = provider === 'slow' ? Number(answer) : 0;
    const fixture = provider === 'slow' ? fixtures.anthropic.model! : fixtures[provider as 'anthropic' | 'openai']?.[answer!];
    if (!fixture || rest.slice(0, 2).join('/') !== 'v1/models') {
      res.writeHead(400).end();
      return;
    }
    setTimeout(
      () => res.writeHead(fixture.status, { 'content-type': 'application/json', ...fixture.headers }).end(JSON.stringify(fixture.body)),
      delay,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const anthropic = (answer: string, extra: Partial<ProbeTarget> = {}): ProbeTarget => ({
  provider: 'anthropic',
  url: `${base}/anthropic/${answer}`,
  model: 'claude-opus-4-6',
  apiKey: 'sk-ant-test',
  ...extra,
});
const openai = (answer: string): ProbeTarget => ({
  provider: 'openai',
  url: `${base}/openai/${answer}`,
  model: 'gpt-4o-mini',
  apiKey: 'sk-test',
});

describe('probes of model-serving endpoints', () => {
  it('classify every answer of Anthropic’s documented shapes, with headroom and retry-after', async () => {
    const healthy = await probe(anthropic('model'));
    expect(healthy).toMatchObject({ class: 'healthy', status: 200, headroom: 0.75 });
    expect(await probe(anthropic('auth'))).toMatchObject({
      class: 'auth-failure',
      status: 401,
      detail: 'authentication_error: invalid x-api-key',
    });
    expect(await probe(anthropic('notFound'))).toMatchObject({ class: 'model-not-found', status: 404 });
    expect(await probe(anthropic('rateLimited'))).toMatchObject({ class: 'rate-limited', retryAfterSeconds: 20, headroom: 0 });
    expect(await probe(anthropic('overloaded'))).toMatchObject({
      class: 'overloaded',
      status: 529,
      detail: 'overloaded_error: Overloaded',
    });
    expect(await probe(anthropic('serverError'))).toMatchObject({ class: 'server-error', status: 500 });
    // A 200 for another model (a gateway resolving a retired id elsewhere) is not the model.
    expect(await probe(anthropic('model', { model: 'claude-3-opus-20240229' }))).toMatchObject({
      class: 'model-not-found',
      detail: 'answered for "claude-opus-4-6", not claude-3-opus-20240229',
    });
    const sent = seen.find((r) => r.url === '/anthropic/model/v1/models/claude-opus-4-6')!;
    expect(sent.method).toBe('GET');
    expect(sent.headers).toMatchObject({ 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' });
  });

  it('classify OpenAI’s documented shapes, sending its bearer key', async () => {
    expect(await probe(openai('model'))).toMatchObject({ class: 'healthy', headroom: 0.04 });
    expect(await probe(openai('auth'))).toMatchObject({
      class: 'auth-failure',
      detail: 'invalid_request_error: Incorrect API key provided',
    });
    expect(await probe(openai('notFound'))).toMatchObject({ class: 'model-not-found' });
    expect(await probe(openai('rateLimited'))).toMatchObject({ class: 'rate-limited' });
    expect(await probe(openai('serverError'))).toMatchObject({ class: 'server-error' });
    expect(seen.find((r) => r.url === '/openai/model/v1/models/gpt-4o-mini')!.headers.authorization).toBe('Bearer sk-test');
  });

  it('tell slow from timed out from unreachable, and probe any HTTP endpoint by its status', async () => {
    expect(await probe({ ...anthropic('model'), url: `${base}/slow/300`, slowMs: 100 })).toMatchObject({ class: 'slow' });
    expect(await probe({ ...anthropic('model'), url: `${base}/slow/2000`, timeoutMs: 200 })).toMatchObject({
      class: 'timeout',
      detail: 'no answer in 200 ms',
    });
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(await probe({ provider: 'http', url: `http://127.0.0.1:${port}/health` })).toMatchObject({
      class: 'server-error',
      detail: 'unreachable: ECONNREFUSED',
    });
    expect(await probe({ provider: 'http', url: `${base}/http/204` })).toMatchObject({ class: 'healthy', status: 204 });
    expect(await probe({ provider: 'http', url: `${base}/http/503` })).toMatchObject({ class: 'overloaded', status: 503 });
  });

  it('spend no generation: every probe sent is a GET without a body', () => {
    expect(seen.length).toBeGreaterThan(10);
    for (const request of seen) {
      expect(request.method).toBe('GET');
      expect(request.headers['content-length'] ?? '0').toBe('0');
    }
  });
});
