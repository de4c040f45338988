import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../functions/ledger/ledger.js';
import type { ObjectAsset } from '../../functions/policy/schema.js';
import { probeSageMaker, type EndpointDescription, type SageMakerTarget } from '../../functions/serving/sagemaker-probe.js';

/**
 * probeSageMaker's classes for what the local AWS cannot make (its endpoints are InService at
 * once, it never throttles nor denies): SageMaker's answers through a fake of the port. The
 * endpoints themselves are probed on the local AWS in test/integration/serving/aws-endpoints.test.ts.
 */
const fail = (name: string, message: string) => Object.assign(new Error(message), { name });
const target: SageMakerTarget = { endpointName: 'ranker-dr', region: 'us-west-2' };
const asset = {
  name: 'artifacts',
  replica: { bucket: 'dr', region: 'us-west-2' },
  source: { prefix: 'models/' },
} as unknown as ObjectAsset;

function run(
  answer: () => Promise<EndpointDescription>,
  options: { target?: SageMakerTarget; entries?: LedgerEntry[]; ticks?: number[] } = {},
) {
  const ticks = options.ticks ?? [0, 10];
  return probeSageMaker(options.target ?? target, {
    endpoints: { describe: answer },
    ledger: { entriesFor: async () => options.entries ?? [] },
    now: () => ticks.shift() ?? 10,
  });
}
const inService =
  (at = '2026-11-01T00:00:00.000Z', modelData = ['s3://dr/models/m.tar.gz']) =>
  async () => ({
    status: 'InService',
    lastModified: new Date(at),
    modelData,
  });
const replicated = (id: string, at: string, sha256: string): LedgerEntry => ({
  asset: 'artifacts',
  key: 'models/m.tar.gz',
  sourceVersionId: id,
  entryType: 'object',
  state: 'replicated',
  sourceLastModified: at,
  replicatedAt: at,
  size: 1,
  sha256,
  attempts: 1,
});

describe('probeSageMaker', () => {
  it('classifies what SageMaker answers, each with its own class and what it said', async () => {
    expect(await run(inService())).toEqual({ class: 'healthy', latencyMs: 10 });
    expect(await run(inService(), { ticks: [0, 2_500] })).toEqual({ class: 'slow', latencyMs: 2_500 });
    expect(await run(async () => ({ status: 'Failed', failureReason: 'image not found', lastModified: new Date() }))).toMatchObject({
      class: 'not-in-service',
      detail: 'endpoint is Failed: image not found',
    });
    expect(await run(async () => ({ status: 'Updating', lastModified: new Date() }))).toMatchObject({ detail: 'endpoint is Updating' });
    const cases: [Error, string][] = [
      [fail('AccessDeniedException', 'not authorized to perform: sagemaker:DescribeEndpoint'), 'auth-failure'],
      [fail('ExpiredTokenException', 'The security token included in the request is expired'), 'auth-failure'],
      [fail('ThrottlingException', 'Rate exceeded'), 'rate-limited'],
      [fail('ValidationException', "Could not find endpoint 'ranker-dr'."), 'model-not-found'],
      [fail('ValidationException', 'Value at endpointName failed to satisfy constraint'), 'server-error'],
      [fail('InternalFailure', 'We encountered an internal error'), 'server-error'],
      [fail('TimeoutError', 'aborted'), 'timeout'],
    ];
    for (const [error, cls] of cases)
      expect(
        await run(async () => {
          throw error;
        }),
      ).toMatchObject({ class: cls, detail: cls === 'timeout' ? 'no answer in 10000 ms' : `${error.name}: ${error.message}` });
  });

  it('a served artifact is fresh when the version current at deployment is the newest verified one, or has its SHA-256', async () => {
    const served = { ...target, servesArtifact: { asset, key: 'models/m.tar.gz' } };
    const v1 = replicated('v1', '2026-10-01T00:00:00.000Z', 'a'.repeat(64));
    const v2 = replicated('v2', '2026-11-15T00:00:00.000Z', 'b'.repeat(64));
    expect(await run(inService('2026-10-02T00:00:00.000Z'), { target: served, entries: [v1] })).toMatchObject({ class: 'healthy' });
    expect(await run(inService('2026-10-02T00:00:00.000Z'), { target: served, entries: [v2, v1] })).toMatchObject({
      class: 'stale-artifact',
      detail: expect.stringContaining('serves the replica version of 2026-10-01T00:00:00.000Z (SHA-256 aaaaaaaaaaaa…)'),
    });
    // The same bytes uploaded again: still what it should serve.
    expect(
      await run(inService('2026-10-02T00:00:00.000Z'), { target: served, entries: [v1, { ...v2, sha256: v1.sha256! }] }),
    ).toMatchObject({
      class: 'healthy',
    });
    // A newer version not verified yet is not what it must serve yet.
    const pending = { ...v2, state: 'pending' as const, replicatedAt: undefined };
    expect(await run(inService('2026-10-02T00:00:00.000Z'), { target: served, entries: [v1, pending] })).toMatchObject({
      class: 'healthy',
    });
    expect(await run(inService('2026-09-01T00:00:00.000Z'), { target: served, entries: [v1] })).toMatchObject({
      class: 'stale-artifact',
      detail: expect.stringMatching(
        /^it was deployed at 2026-09-01T00:00:00.000Z, before any verified replica of artifacts\/models\/m.tar.gz/,
      ),
    });
    expect(await run(inService('2026-10-02T00:00:00.000Z', []), { target: served, entries: [v1] })).toMatchObject({
      class: 'stale-artifact',
      detail: 'its model data is not an S3 object, not s3://dr/models/m.tar.gz (the replica of artifacts/models/m.tar.gz)',
    });
  });
});
