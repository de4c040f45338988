import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../functions/ledger/ledger.js';
import type { ObjectAsset } from '../../functions/policy/schema.js';
import { probeSageMaker, type EndpointDescription, type SageMakerTarget } from '../../functions/serving/sagemaker-probe.js';

/**
 * probeSageMaker's classes for what the local AWS cannot make (its endpoints are InService at
 * once, it never throttles nor denies) and the ledger's edge cases: SageMaker's answers through a
 * fake of the port. The endpoints themselves are probed on the local AWS in
 * test/integration/serving/aws-endpoints.test.ts.
 */
const fail = (name: string, message: string) => Object.assign(new Error(message), { name });
const target: SageMakerTarget = { endpointName: 'ranker-dr', region: 'us-west-2' };
const asset = {
  name: 'artifacts',
  replica: { bucket: 'dr', region: 'us-west-2' },
  source: { prefix: 'models/' },
} as unknown as ObjectAsset;
const served = { ...target, servesArtifact: { asset, key: 'models/m.tar.gz' } };

interface Fake {
  describe?: () => Promise<EndpointDescription>;
  modelData?: () => Promise<string[]>;
  entries?: () => Promise<LedgerEntry[]>;
  ticks?: number[];
}
function run(probed: SageMakerTarget, fake: Fake) {
  const ticks = fake.ticks ?? [0, 10];
  return probeSageMaker(probed, {
    endpoints: {
      describe: fake.describe ?? inService(),
      modelData: fake.modelData ?? (async () => ['s3://dr/models/m.tar.gz']),
    },
    ledger: { entriesFor: fake.entries ?? (async () => []) },
    now: () => ticks.shift() ?? 10,
  });
}
const inService =
  (at = '2026-11-01T00:00:00.000Z', status = 'InService') =>
  async (): Promise<EndpointDescription> => ({ status, lastModified: new Date(at), endpointConfigName: 'ranker-dr-7' });
const replicated = (id: string, sourceAt: string, replicatedAt: string, sha256: string): LedgerEntry => ({
  asset: 'artifacts',
  key: 'models/m.tar.gz',
  sourceVersionId: id,
  entryType: 'object',
  state: 'replicated',
  sourceLastModified: sourceAt,
  replicatedAt,
  size: 1,
  sha256,
  attempts: 1,
});
const v1 = replicated('v1', '2026-10-01T00:00:00.000Z', '2026-10-01T00:00:05.000Z', 'a'.repeat(64));
const v2 = replicated('v2', '2026-11-15T00:00:00.000Z', '2026-11-15T00:00:05.000Z', 'b'.repeat(64));
const ledger =
  (...entries: LedgerEntry[]) =>
  async () =>
    entries;

describe('probeSageMaker', () => {
  it('classifies what SageMaker answers, each with its own class and what it said', async () => {
    expect(await run(target, {})).toEqual({ class: 'healthy', latencyMs: 10 });
    expect(await run(target, { ticks: [0, 2_500, 2_500] })).toEqual({ class: 'slow', latencyMs: 2_500 });
    const failed = async (): Promise<EndpointDescription> => ({
      status: 'Failed',
      failureReason: 'image not found',
      lastModified: new Date(),
      endpointConfigName: 'x',
    });
    expect(await run(target, { describe: failed })).toMatchObject({
      class: 'not-in-service',
      detail: 'endpoint is Failed: image not found',
    });
    expect(await run(target, { describe: inService(undefined, 'Creating') })).toMatchObject({ class: 'not-in-service' });
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
        await run(target, {
          describe: async () => {
            throw error;
          },
        }),
      ).toMatchObject({ class: cls, detail: cls === 'timeout' ? 'no answer in 10000 ms' : `${error.name}: ${error.message}` });
  });

  it('an endpoint being updated still serves: it answers, says so, and its artifact waits for the update', async () => {
    let askedModelData = false;
    const modelData = async () => {
      askedModelData = true;
      return [];
    };
    for (const status of ['Updating', 'SystemUpdating', 'RollingBack'])
      expect(await run(served, { describe: inService(undefined, status), modelData })).toMatchObject({
        class: 'healthy',
        detail: `endpoint is ${status}`,
      });
    expect(askedModelData).toBe(false);
  });

  it('a served artifact is fresh when the version current at deployment is the one replicated last, or has its bytes', async () => {
    expect(await run(served, { describe: inService('2026-10-02T00:00:00.000Z'), entries: ledger(v1) })).toMatchObject({ class: 'healthy' });
    expect(await run(served, { describe: inService('2026-10-02T00:00:00.000Z'), entries: ledger(v2, v1) })).toMatchObject({
      class: 'stale-artifact',
      detail:
        'it was deployed at 2026-10-02T00:00:00.000Z and serves the replica version of 2026-10-01T00:00:05.000Z (SHA-256 aaaaaaaaaaaa…), ' +
        'not the current verified replica of artifacts/models/m.tar.gz (SHA-256 bbbbbbbbbbbb…, replicated at 2026-11-15T00:00:05.000Z)',
    });
    // The same bytes uploaded again: still what it should serve.
    expect(
      await run(served, { describe: inService('2026-10-02T00:00:00.000Z'), entries: ledger(v1, { ...v2, sha256: v1.sha256! }) }),
    ).toMatchObject({ class: 'healthy' });
    // A newer version not verified yet is not what it must serve yet.
    const pending = { ...v2, state: 'pending' as const, replicatedAt: undefined };
    expect(await run(served, { describe: inService('2026-10-02T00:00:00.000Z'), entries: ledger(v1, pending) })).toMatchObject({
      class: 'healthy',
    });
    // v2 deleted at the source, v1 written to the replica again after it (current again): redeployed since, it is fresh.
    const again = { ...v1, replicatedAt: '2026-11-20T00:00:00.000Z' };
    expect(await run(served, { describe: inService('2026-11-21T00:00:00.000Z'), entries: ledger(v2, again) })).toMatchObject({
      class: 'healthy',
    });
    expect(await run(served, { describe: inService('2026-11-16T00:00:00.000Z'), entries: ledger(v2, again) })).toMatchObject({
      class: 'stale-artifact',
    });
    // Composite digests are the same bytes only when taken with the same part size.
    const parts = (e: LedgerEntry, partSizeBytes: number): LedgerEntry => ({
      ...e,
      sha256: undefined,
      sha256Composite: 'c'.repeat(64) + '-3',
      partSizeBytes,
    });
    const oldAt = inService('2026-10-02T00:00:00.000Z');
    expect(await run(served, { describe: oldAt, entries: ledger(parts(v1, 8 << 20), parts(v2, 8 << 20)) })).toMatchObject({
      class: 'healthy',
    });
    expect(await run(served, { describe: oldAt, entries: ledger(parts(v1, 8 << 20), parts(v2, 16 << 20)) })).toMatchObject({
      class: 'stale-artifact',
    });
  });

  it('what cannot be vouched for is said: deployed before any verified replica, model data elsewhere or unreadable, the ledger unreadable', async () => {
    expect(await run(served, { describe: inService('2026-09-01T00:00:00.000Z'), entries: ledger(v1) })).toMatchObject({
      class: 'stale-artifact',
      detail: expect.stringMatching(
        /^it was deployed at 2026-09-01T00:00:00.000Z, before any verified replica of artifacts\/models\/m.tar.gz/,
      ),
    });
    expect(await run(served, { modelData: async () => [], entries: ledger(v1) })).toMatchObject({
      class: 'stale-artifact',
      detail: 'its model data is not an S3 object, not s3://dr/models/m.tar.gz (the replica of artifacts/models/m.tar.gz)',
    });
    const gone = async () => {
      throw fail('ValidationException', "Could not find model 'ranker-dr-6'.");
    };
    expect(await run(served, { modelData: gone })).toMatchObject({
      class: 'stale-artifact',
      detail: "what it serves could not be read: ValidationException: Could not find model 'ranker-dr-6'.",
    });
    const down = async () => {
      throw new Error('DynamoDB answered 500');
    };
    expect(await run(served, { entries: down })).toMatchObject({
      class: 'server-error',
      detail: 'the ledger could not be read: DynamoDB answered 500',
    });
  });
});
