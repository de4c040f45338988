import { BedrockClient } from '@aws-sdk/client-bedrock';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SdkBedrockModels } from '../../../functions/serving/bedrock-models.js';
import { probeBedrock } from '../../../functions/serving/bedrock-probe.js';
import { providerAnswers } from '../../support/provider-answers.js';

/**
 * Bedrock probes (docs/serving.md#bedrock) through the real SDK client and adapter, against a local
 * server answering Bedrock's control plane in its documented shapes
 * (test/fixtures/serving/provider-answers.json, "bedrock": the API reference pages it names). The
 * local AWS has no Bedrock model catalogue.
 */
const fixtures = providerAnswers.bedrock;
let server: Server;
let models: SdkBedrockModels;
/** What each API answers now (a fixture name). */
const answering = { model: 'model', availability: 'available', profile: 'profile' };
const requests: string[] = [];
const today = () => new Date('2026-12-04T00:00:00Z');

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = decodeURIComponent(req.url ?? '');
    requests.push(`${req.method} ${url}`);
    const api = url.startsWith('/foundation-models/')
      ? 'model'
      : url.startsWith('/foundation-model-availability/')
        ? 'availability'
        : 'profile';
    const fixture = fixtures[answering[api]]!;
    res.writeHead(fixture.status, { 'content-type': 'application/json', ...fixture.headers }).end(JSON.stringify(fixture.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
  models = new SdkBedrockModels((region) => new BedrockClient({ region, endpoint, credentials, maxAttempts: 1 }));
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

const haiku = { model: 'anthropic.claude-3-5-haiku-20241022-v1:0', region: 'us-west-2' };
const profile = { model: 'us.anthropic.claude-3-5-haiku-20241022-v1:0', region: 'us-west-2' };
const run = (target = haiku) => probeBedrock(target, { models, today });

describe('probeBedrock', () => {
  it('a foundation model this account may invoke is healthy: looked up and its availability read, nothing generated', async () => {
    requests.length = 0;
    expect(await run()).toMatchObject({ class: 'healthy' });
    expect(requests).toEqual([
      'GET /foundation-models/anthropic.claude-3-5-haiku-20241022-v1:0',
      'GET /foundation-model-availability/anthropic.claude-3-5-haiku-20241022-v1:0',
    ]);
  });

  it('a foundation model named by its ARN: looked up by it, its availability read by the id Bedrock answers', async () => {
    requests.length = 0;
    const arn = 'arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0';
    expect(await run({ model: arn, region: 'us-west-2' })).toMatchObject({ class: 'healthy' });
    expect(requests).toEqual([
      `GET /foundation-models/${arn}`,
      'GET /foundation-model-availability/anthropic.claude-3-5-haiku-20241022-v1:0',
    ]);
  });

  it('an inference profile: ACTIVE, and the model it routes to in this region available', async () => {
    requests.length = 0;
    expect(await run(profile)).toMatchObject({ class: 'healthy' });
    expect(requests).toEqual([
      'GET /inference-profiles/us.anthropic.claude-3-5-haiku-20241022-v1:0',
      'GET /foundation-model-availability/anthropic.claude-3-5-haiku-20241022-v1:0',
    ]);
  });

  it('classifies each failure with its own class and what Bedrock said', async () => {
    const cases: [api: keyof typeof answering, fixture: string, expected: { class: string; detail: string | RegExp }][] = [
      ['model', 'legacy', { class: 'healthy', detail: 'LEGACY, end of life 2100-01-01T00:00:00.000Z' }],
      ['model', 'retired', { class: 'model-not-found', detail: 'retired: end of life 2026-01-01T00:00:00.000Z' }],
      ['model', 'notFound', { class: 'model-not-found', detail: 'ResourceNotFoundException: The provided model identifier is invalid.' }],
      ['model', 'invalidId', { class: 'model-not-found', detail: 'ValidationException: The provided model identifier is invalid.' }],
      ['model', 'accessDenied', { class: 'auth-failure', detail: /^AccessDeniedException: User is not authorized/ }],
      ['model', 'throttled', { class: 'rate-limited', detail: /^ThrottlingException: Too many requests/ }],
      ['model', 'internal', { class: 'server-error', detail: /^InternalServerException: / }],
      ['model', 'unavailable', { class: 'overloaded', detail: /^ServiceUnavailableException: / }],
      [
        'availability',
        'noAccess',
        {
          class: 'auth-failure',
          detail: 'model access not granted: authorization NOT_AUTHORIZED, agreement NOT_AVAILABLE (Agreement has not been accepted)',
        },
      ],
      ['availability', 'notInRegion', { class: 'model-not-found', detail: 'not offered in this region' }],
    ];
    for (const [api, fixture, expected] of cases) {
      answering[api] = fixture;
      const result = await run();
      expect([fixture, result.class, result.detail]).toEqual([
        fixture,
        expected.class,
        typeof expected.detail === 'string' ? expected.detail : expect.stringMatching(expected.detail),
      ]);
      answering[api] = api === 'model' ? 'model' : 'available';
    }
    answering.profile = 'notFound';
    expect(await run(profile)).toMatchObject({ class: 'model-not-found', detail: /^ResourceNotFoundException/ });
  });
});
