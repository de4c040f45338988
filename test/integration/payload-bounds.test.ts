import { ListBucketsCommand, ListObjectVersionsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchResponse } from '../../functions/replication/batch-operations.js';
import { dynamoDocumentClient } from '../../functions/shared/aws-clients.js';
import { PayloadError } from '../../functions/shared/payload.js';
import { localContext } from '../../scripts/local-aws/event-source-mapping.js';
import { loadEvent } from '../support/fixtures.js';
import { type StackUnderTest, startStack } from '../support/local-stack.js';

/**
 * Payloads with a megabyte where a name goes (an asset name, an unknown field's name, a record key,
 * a task's key), through every handler that takes one, on the local AWS: each is refused with one
 * error naming the field, the error quotes at most 100 characters of what it was given (then its
 * length), and nothing in the ledger or any bucket changed. An asset name longer than the policy
 * allows is refused by its length, before any lookup.
 */
type Handler = (event: unknown, context: ReturnType<typeof localContext>) => Promise<unknown>;
let t: StackUnderTest;
const handlers: Record<string, Handler> = {};
const MB = 1024 * 1024;
const huge = 'a'.repeat(MB);
const quoted = `"${'a'.repeat(100)}"… (${MB} characters)`;
const TOO_LONG = 'asset: must be an asset name of the policy: at most 63 characters';

/** Everything a handler could have written: ledger items and every version of every bucket. */
async function state(): Promise<string[]> {
  const { Items = [] } = await dynamoDocumentClient().send(new ScanCommand({ TableName: t.stack.ledgerTable }));
  const items = Items.map((i) => `${i.pk} ${i.sk} ${i.state ?? ''}`);
  const { Buckets = [] } = await t.s3.send(new ListBucketsCommand({}));
  const versions = [];
  for (const { Name } of Buckets) {
    const page = await t.s3.send(new ListObjectVersionsCommand({ Bucket: Name! }));
    versions.push(...[...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((v) => `${Name}/${v.Key}@${v.VersionId}`));
  }
  return [...items, ...versions].sort();
}

/** Invokes the handler; returns the message it was refused with (and checks it is a PayloadError and nothing changed). */
async function refusal(name: string, payload: unknown): Promise<string> {
  const before = await state();
  const error: unknown = await handlers[name]!(payload, localContext(name)).then(
    () => new Error(`${name} accepted the payload`),
    (e: unknown) => e,
  );
  expect(await state()).toEqual(before);
  if (!(error instanceof Error)) throw new Error(`${name} threw ${String(error)}`);
  expect(error, `${name} refuses a payload with a PayloadError, as every handler does`).toBeInstanceOf(PayloadError);
  expect(error.message.length, `${name}: ${error.message.slice(0, 300)}`).toBeLessThan(1000);
  return error.message;
}

beforeAll(async () => {
  t = await startStack();
  await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'train/present.txt', Body: 'here' }));
  await t.drain();
  const modules = {
    'restore-data': import('../../functions/restore-data.js'),
    'restore-vectors': import('../../functions/restore-vectors.js'),
    status: import('../../functions/status.js'),
    'snapshot-vectors': import('../../functions/snapshot-vectors.js'),
    'verify-restore': import('../../functions/verify-restore.js'),
    reconcile: import('../../functions/reconcile.js'),
    backfill: import('../../functions/backfill.js'),
    report: import('../../functions/report.js'),
  };
  for (const [name, module] of Object.entries(modules)) handlers[name] = (await module).handler as unknown as Handler;
}, 120_000);
afterAll(async () => t?.stop());

describe('errors quote a bounded part of what they were given (local AWS)', () => {
  it.each([
    ['restore-data', { asset: huge, dryRun: true }],
    ['restore-vectors', { asset: huge, dryRun: true }],
    ['snapshot-vectors', { asset: huge }],
    ['verify-restore', { asset: huge }],
    ['reconcile', { asset: huge }],
  ])('%s refuses a 1 MB asset name by its length, naming the field, before any lookup', async (name, payload) => {
    const message = await refusal(name, payload);
    expect(message.startsWith(TOO_LONG)).toBe(true);
    expect(message).not.toContain('aaaa');
  });

  it('refuses an asset name one character longer than the policy allows, and looks up one of 63', async () => {
    expect(await refusal('restore-data', { asset: 'a'.repeat(64), dryRun: true })).toMatch(new RegExp(`^${TOO_LONG};`));
    expect(await refusal('restore-data', { asset: 'a'.repeat(63), dryRun: true })).toBe(
      `asset: "${'a'.repeat(63)}" is not a replicated asset of the policy (training, evals, orphaned)`,
    );
  });

  it.each([
    ['restore-data', { asset: 'training', dryRun: true }],
    ['restore-vectors', { asset: 'docs', dryRun: true }],
    ['snapshot-vectors', { asset: 'docs' }],
    ['verify-restore', { asset: 'training' }],
    ['status', {}],
    ['report', {}],
  ])('%s refuses a 1 MB unknown field name, quoting 100 characters of it and its length', async (name, payload) => {
    const message = await refusal(name, { ...payload, [huge]: true });
    expect(message.startsWith(`payload: unknown field ${quoted}`)).toBe(true);
  });

  it('status names the entry of "assets" that is too long, and bounds a list of unknown assets', async () => {
    expect(await refusal('status', { assets: ['training', huge] })).toMatch(
      /^assets\[1\]: must be an asset name of the policy: at most 63 characters;/,
    );
    const many = Array.from({ length: 10_000 }, (_, i) => `no-such-asset-${i}`);
    expect(await refusal('status', { assets: many })).toBe(
      'assets: unknown asset "no-such-asset-0", "no-such-asset-1", "no-such-asset-2", "no-such-asset-3", "no-such-asset-4" and 9995 more; the policy has training, evals, orphaned',
    );
  });

  it('restore-data quotes at most 100 characters of a long prefix or target prefix', async () => {
    const long = `evals/${'p'.repeat(1000)}`;
    expect(await refusal('restore-data', { asset: 'training', prefix: long, dryRun: true })).toBe(
      `prefix: "${long.slice(0, 100)}"… (1006 characters) is outside asset training, whose keys start with "train/"`,
    );
    expect(
      await refusal('restore-data', { asset: 'training', target: { bucket: 'it-source', prefix: 'p'.repeat(1024) }, dryRun: true }),
    ).toBe(`target.prefix: "${'p'.repeat(100)}"… (1024 characters) must be empty or end with "/"`);
  });

  it('backfill bounds a record key on the path of its error, and a task key in its result', async () => {
    const bad = loadEvent<{ job: { userArguments: Record<string, unknown> } }>('s3-batch/valid/schema-2.0.json');
    bad.job.userArguments = { [huge]: 5 };
    expect(await refusal('backfill', bad)).toMatch(
      new RegExp(`^not an S3 Batch Operations invocation: job\\.userArguments\\."a{100}"… \\(${MB} characters\\): Invalid input`),
    );

    const event = loadEvent<{ tasks: Record<string, unknown>[] }>('s3-batch/valid/schema-2.0.json');
    event.tasks = [{ taskId: 't1', s3Bucket: 'it-source', s3Key: `train/${huge}`, s3VersionId: null }];
    const before = await state();
    const response = (await handlers.backfill!(event, localContext('backfill'))) as BatchResponse;
    expect(await state()).toEqual(before);
    expect(response.results).toEqual([
      {
        taskId: 't1',
        resultCode: 'PermanentFailure',
        resultString: `key "train/${'a'.repeat(94)}"… (${MB + 6} characters) is longer than 1024 bytes in every reading; S3 has no such key`,
      },
    ]);
  });

  it('reconcile refuses an unknown asset with a PayloadError, as the other handlers do', async () => {
    expect(await refusal('reconcile', { asset: 'no-such-asset' })).toBe('asset: "no-such-asset" is not a replicated asset of the policy');
  });
});
