import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { replicaKeyFor } from '../../functions/policy/assets.js';
import { replicateKey, type ReplicationDeps } from '../../functions/replication/replicate-key.js';
import { RetryUnlessAmbiguous } from '../../functions/shared/retry.js';
import { S3VersionedStore } from '../../functions/storage/s3-versioned-store.js';
import { type FaultProxy, type FaultRule, startFaultProxy } from '../support/fault-proxy.js';
import { type StackUnderTest, startStack } from '../support/local-stack.js';

/**
 * S3 faults injected by a proxy between the replicator and the local AWS: throttling and 5xx are
 * retried with backoff and counted in the ledger; an ambiguous failure (the connection dies after
 * the write was applied) fails the attempt, and the next attempt adopts the copy that landed. In
 * no case is a partial or unverified replica recorded as replicated, or a version copied twice.
 */
let t: StackUnderTest;
let proxy: FaultProxy;
let store: S3VersionedStore;
beforeAll(async () => {
  t = await startStack();
  proxy = await startFaultProxy(t.aws.endpoint);
  // The same client settings as production (shared/aws-clients.ts), pointed at the proxy, with a
  // short request timeout so a hanging request ends quickly.
  const options = {
    region: 'us-east-1',
    endpoint: proxy.endpoint,
    forcePathStyle: true,
    requestHandler: { requestTimeout: 1_000, throwOnRequestTimeout: true },
  };
  store = new S3VersionedStore(
    new S3Client({ ...options, maxAttempts: 5 }),
    new S3Client({ ...options, retryStrategy: new RetryUnlessAmbiguous(5, 20) }),
  );
});
afterAll(async () => {
  await proxy?.stop();
  await t?.stop();
});
beforeEach(() => {
  proxy.rules.length = 0;
});

const MIB = 1024 ** 2;
const isCopyObject: FaultRule['match'] = (r) => r.method === 'PUT' && !!r.headers['x-amz-copy-source'] && !r.url.includes('uploadId=');
const isPartCopy: FaultRule['match'] = (r) => r.method === 'PUT' && !!r.headers['x-amz-copy-source'] && r.url.includes('uploadId=');
const isComplete: FaultRule['match'] = (r) => r.method === 'POST' && r.url.includes('uploadId=');
const isSourceRead: FaultRule['match'] = (r) => r.method === 'GET' && r.url.startsWith('/it-source/') && !r.url.includes('versions');

const deps = (): ReplicationDeps => ({
  source: store,
  replica: store,
  ledger: t.ledger,
  now: () => new Date(),
  claimOwner: 'faults',
  claimSeconds: 60,
  multipart: { thresholdBytes: 6 * MIB, partSizeBytes: 5 * MIB, partConcurrency: 2 },
});

async function source(key: string, size = 64) {
  await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: Buffer.alloc(size, key.length) }));
  await t.takeMessages();
}
const replicaVersions = (key: string) => new S3VersionedStore(t.s3).listVersions('it-replica', replicaKeyFor(t.asset('training'), key));
const entry = async (key: string) => (await t.ledger.entriesFor('training', key)).find((e) => e.entryType === 'object');

describe('S3 faults during copies (fault-injecting proxy in front of the local AWS)', () => {
  it.each([
    ['503 SlowDown twice', 'slowdown' as const, 2],
    ['500 InternalError once', 'internal' as const, 1],
  ])('single copy, %s: retried with backoff, counted in the ledger', async (_name, fault, times) => {
    const key = `train/faults/single-${fault}.bin`;
    await source(key);
    proxy.rules.push({ match: isCopyObject, fault, times });
    await replicateKey(deps(), t.asset('training'), key);
    expect(await entry(key)).toMatchObject({ state: 'replicated', attempts: 1, copyRetries: times });
    expect(await replicaVersions(key)).toHaveLength(1);
  });

  it.each([
    ['reset after the copy was applied', 'reset-after' as const, 1],
    ['reset before it reached S3', 'reset-before' as const, 0],
    ['no answer (timeout)', 'hang' as const, 0],
  ])('single copy, connection %s: the attempt fails, the retry ends with exactly one verified copy', async (_name, fault, landed) => {
    const key = `train/faults/ambiguous-${fault}.bin`;
    await source(key);
    proxy.rules.push({ match: isCopyObject, fault, times: 1 });
    await expect(replicateKey(deps(), t.asset('training'), key)).rejects.toThrow();
    expect(await entry(key)).toMatchObject({ state: 'failed', attempts: 1 });
    expect(await replicaVersions(key)).toHaveLength(landed);

    const outcome = await replicateKey(deps(), t.asset('training'), key);
    expect(outcome.replicated).toEqual([expect.objectContaining({ adopted: landed === 1 })]);
    expect(await replicaVersions(key)).toHaveLength(1);
    expect(await entry(key)).toMatchObject({ state: 'replicated', attempts: 2 });
  });

  it('multipart copy: 5xx, resets and a timeout on part copies and on reading the source are retried; one verified copy', async () => {
    const key = 'train/faults/multipart.bin';
    await source(key, 16 * MIB);
    proxy.rules.push(
      { match: isPartCopy, fault: 'internal', times: 1 },
      { match: isPartCopy, fault: 'reset-after', times: 1 },
      { match: isPartCopy, fault: 'hang', times: 1 },
      { match: isSourceRead, fault: 'reset-before', times: 1 },
      { match: isSourceRead, fault: 'slowdown', times: 1 },
    );
    await replicateKey(deps(), t.asset('training'), key);
    expect(proxy.rules.every((r) => r.times === 0)).toBe(true);
    expect(await entry(key)).toMatchObject({ state: 'replicated', attempts: 1 });
    expect((await entry(key))!.copyRetries).toBeGreaterThanOrEqual(3);
    expect(await replicaVersions(key)).toHaveLength(1);
    const rows = (await t.report('training')).filter((r) => r.key === key);
    expect(rows.map((r) => r.verified)).toEqual([true]);
  });

  it('multipart copy whose completion is lost: the attempt fails, the retry verifies and adopts the copy', async () => {
    const key = 'train/faults/multipart-complete.bin';
    await source(key, 11 * MIB);
    proxy.rules.push({ match: isComplete, fault: 'reset-after', times: 1 });
    await expect(replicateKey(deps(), t.asset('training'), key)).rejects.toThrow();
    expect(await entry(key)).toMatchObject({ state: 'failed' });
    expect(await replicaVersions(key)).toHaveLength(1);

    const outcome = await replicateKey(deps(), t.asset('training'), key);
    expect(outcome.replicated).toEqual([expect.objectContaining({ adopted: true })]);
    expect(await replicaVersions(key)).toHaveLength(1);
    expect(await entry(key)).toMatchObject({ state: 'replicated' });
  });
});
