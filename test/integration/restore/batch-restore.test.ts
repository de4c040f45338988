import { DeleteObjectCommand, GetObjectCommand, ListObjectVersionsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoLedger } from '../../../functions/ledger/dynamo-ledger.js';
import type { BatchResponse } from '../../../functions/replication/batch-operations.js';
import { parseCsv } from '../../../functions/restore/batch-restore.js';
import { parseDataRestore } from '../../../functions/restore/data-request.js';
import { dataPlanStore } from '../../../functions/restore/dynamo-plan-store.js';
import { planDataRestore, runDataRestore, type DataRestoreDeps } from '../../../functions/restore/restore-data.js';
import { S3JobFiles } from '../../../functions/restore/s3-job-files.js';
import { dynamoDocumentClient } from '../../../functions/shared/aws-clients.js';
import { createStores } from '../../../functions/storage/stores.js';
import { LocalBatchOperations } from '../../../scripts/local-aws/batch-operations.js';
import { localContext } from '../../../scripts/local-aws/event-source-mapping.js';
import { loadEvent } from '../../support/fixtures.js';
import { startStack, type StackUnderTest } from '../../support/local-stack.js';

/**
 * A large restore as an S3 Batch Operations job (docs/restore.md#batch-operations), on the local
 * AWS with its Batch Operations (scripts/local-aws/batch-operations.ts, which runs jobs as AWS
 * documents them; moto has none): the dry run writes the manifest of replica versions as of T1 for
 * a prefix with several versions per key, delete markers and awkward key names; the run creates
 * the job, whose tasks the real restore-data handler serves; the completion report names what failed.
 */
let t: StackUnderTest;
let t1: string;
let handler: (event: unknown, context: ReturnType<typeof localContext>) => Promise<any>;
let batch: LocalBatchOperations;
let replicaS3: S3Client;
const MiB = 1024 * 1024;
const FUNCTION_ARN = 'arn:aws:lambda:us-west-2:123456789012:function:ai-data-dr-test-restore-data';
/** What T1 held, by key: several versions before it, awkward names, a large object (a multipart copy). */
const atT1: Record<string, Buffer> = {
  'train/batch/cat photo+1.jpg': Buffer.from('meow v2'),
  'train/batch/ünïcode/straße ß.txt': Buffer.from('unicode'),
  'train/batch/100% real, "quoted".csv': Buffer.from('a,b\n1,2\n'),
  'train/batch/deleted-after.txt': Buffer.from('deleted after T1'),
  'train/batch/large.bin': Buffer.alloc(7 * MiB + 3, 'L'),
};
const put = (key: string, body: Buffer | string) => t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: body }));
const read = async (key: string) =>
  Buffer.from(await (await t.s3.send(new GetObjectCommand({ Bucket: 'it-restore', Key: key }))).Body!.transformToByteArray());

beforeAll(async () => {
  t = await startStack();
  await t.createVersionedBucket('it-restore');
  await put('train/batch/cat photo+1.jpg', 'meow v1');
  await put('train/batch/gone-before.txt', 'deleted before T1');
  await t.s3.send(new DeleteObjectCommand({ Bucket: 'it-source', Key: 'train/batch/gone-before.txt' }));
  for (const [key, body] of Object.entries(atT1)) await put(key, body);
  await t.drain();
  const listed = await t.s3.send(new ListObjectVersionsCommand({ Bucket: 'it-source', Prefix: 'train/batch/' }));
  t1 = new Date(
    Math.max(...[...(listed.Versions ?? []), ...(listed.DeleteMarkers ?? [])].map((v) => v.LastModified!.getTime())),
  ).toISOString();
  // After T1: a new version, a delete, a new key.
  await put('train/batch/cat photo+1.jpg', 'meow v3 (after T1)');
  await t.s3.send(new DeleteObjectCommand({ Bucket: 'it-source', Key: 'train/batch/deleted-after.txt' }));
  await put('train/batch/new-after.txt', 'new');
  await t.drain();
  ({ handler } = (await import('../../../functions/restore-data.js')) as any);
  replicaS3 = new S3Client({ region: 'us-west-2', forcePathStyle: true });
}, 180_000);

afterAll(async () => t?.stop());

/** The Batch Operations of the local AWS; `failKey`: the function "errors" for that key's tasks. */
function batchOperations(failKey?: string) {
  return new LocalBatchOperations(replicaS3, async (functionArn, event) => {
    expect(functionArn).toBe(FUNCTION_ARN);
    const task = (event as { tasks: { s3Key: string }[] }).tasks[0]!;
    if (failKey && decodeURIComponent(task.s3Key).endsWith(failKey)) throw new Error('Task timed out after 900.00 seconds');
    return (await handler(event, localContext('restore-data'))) as BatchResponse;
  });
}

function depsFor(jobs: LocalBatchOperations, asset: ReturnType<StackUnderTest['asset']>): DataRestoreDeps {
  const stores = createStores(true);
  return {
    ledger: new DynamoLedger(dynamoDocumentClient(), t.stack.ledgerTable),
    replica: stores.replicaOf(asset),
    target: stores.inRegion('us-east-1'),
    plans: dataPlanStore(dynamoDocumentClient(), t.stack.ledgerTable),
    continuation: { continueLater: async () => {} },
    now: () => new Date(),
    remainingMs: () => 900_000,
    multipart: { thresholdBytes: 6 * MiB, partSizeBytes: 5 * MiB, partConcurrency: 2 },
    batch: {
      jobs,
      files: new S3JobFiles(replicaS3, asset.replica.bucket),
      functionArn: FUNCTION_ARN,
      roleArn: 'arn:aws:iam::123456789012:role/ai-data-dr-test-batch-restore',
      pollMs: 20,
    },
  };
}

async function planned(prefix: string, jobs: LocalBatchOperations) {
  const sample = loadEvent<Record<string, unknown>>('restore-data/valid/dry-run-batch.json');
  const call = parseDataRestore(
    { ...sample, asset: 'training', prefix: 'train/batch/', asOf: t1, target: { bucket: 'it-restore', prefix } },
    t.policy,
    new Date(),
  );
  if (call.kind !== 'restore') throw new Error('unexpected');
  const deps = depsFor(jobs, call.asset);
  const plan = await planDataRestore(deps, call.asset, call.request);
  return { plan, deps, asset: call.asset };
}

/** The run of a plan with its token (claimed, as the handler claims it), to its end. */
async function run(plan: Awaited<ReturnType<typeof planned>>['plan'], deps: DataRestoreDeps, asset: ReturnType<StackUnderTest['asset']>) {
  expect(await dataPlanStore(dynamoDocumentClient(), t.stack.ledgerTable).claim(plan.token, new Date())).toBe(true);
  return runDataRestore(deps, asset, { ...plan, state: 'running' });
}

describe('restore-data as an S3 Batch Operations job', () => {
  it('plans a manifest of the replica versions as of T1 (URL-encoded keys, no delete markers), runs it as a job, every object verified', async () => {
    batch = batchOperations();
    const { plan, deps, asset } = await planned('batch-restored/', batch);
    expect(plan.summary).toMatchObject({
      restore: { objects: 5 },
      skipped: { 'deleted-at-time': 1, 'absent-at-time': 1 },
      batch: { versions: 5, manifest: expect.stringMatching(/^s3:\/\/it-replica\/restore-jobs\/[0-9a-f-]{36}\/manifest\.json$/) },
    });

    // The manifest: S3 Inventory's format, one gzip'd CSV of Bucket, Key, VersionId, the versions the ledger names as of T1.
    const files = new S3JobFiles(replicaS3, 'it-replica');
    const manifest = JSON.parse((await files.get(plan.summary.batch!.manifest.slice('s3://it-replica/'.length)))!.toString()) as {
      fileSchema: string;
      files: { key: string }[];
    };
    expect(manifest.fileSchema).toBe('Bucket, Key, VersionId');
    const lines: string[][] = [];
    for (const file of manifest.files) lines.push(...parseCsv(gunzipSync((await files.get(file.key))!).toString('utf8')));
    const expected = await Promise.all(
      Object.keys(atT1).map(async (key) => {
        // The version of T1's content (the key's bytes then), by its SHA-256 in the ledger (the large
        // object, copied in parts, has a composite instead: it has one version).
        const sha256 = createHash('sha256').update(atT1[key]!).digest('hex');
        const entries = (await t.ledger.entriesFor('training', key)).filter((e) => e.entryType === 'object');
        const version = entries.find((e) => e.sha256 === sha256) ?? entries.find((e) => e.sha256 === undefined)!;
        return ['it-replica', encodeURIComponent(`dr/${key}`), version.replicaVersionId!];
      }),
    );
    expect(lines.sort()).toEqual(expected.sort());

    // The run: the job is created over that manifest; its tasks copy and verify; the run follows it to the end.
    const done = await run(plan, deps, asset);
    expect(done).toMatchObject({
      state: 'done',
      result: {
        failed: 0,
        restored: { objects: 5, bytes: plan.summary.restore.bytes },
        job: { status: 'Complete', total: 5, succeeded: 5, failed: 0 },
      },
    });
    for (const [key, body] of Object.entries(atT1))
      expect((await read(key.replace('train/', 'batch-restored/'))).equals(body), key).toBe(true);
    // One task per version, each invoked with schema 2.0 and the restore's id.
    expect(batch.invocations).toHaveLength(5);
    expect(batch.invocations[0]!.event).toMatchObject({
      invocationSchemaVersion: '2.0',
      job: { userArguments: { restoreId: plan.token } },
    });

    // A task that arrives after the run finished (a late retry) is refused, and changes nothing.
    const retried = (await handler(batch.invocations[0]!.event, localContext('restore-data'))) as BatchResponse;
    expect(retried.results[0]).toMatchObject({
      resultCode: 'PermanentFailure',
      resultString: `restore ${plan.token} is done: it takes no tasks`,
    });
  });

  it('reports failed tasks from the completion report: the restore fails naming the key, the others are restored', async () => {
    const jobs = batchOperations('straße ß.txt');
    const { plan, deps, asset } = await planned('batch-failing/', jobs);
    const done = await run(plan, deps, asset);
    expect(done).toMatchObject({
      state: 'failed',
      result: {
        failed: 1,
        restored: { objects: 4, bytes: plan.summary.restore.bytes - atT1['train/batch/ünïcode/straße ß.txt']!.length },
        failures: [{ key: 'train/batch/ünïcode/straße ß.txt', error: expect.stringContaining('Task timed out after 900.00 seconds') }],
      },
    });
    expect(done.reason).toMatch(/^1 objects failed to restore; first: train\/batch\/ünïcode\/straße ß\.txt/);
    expect((await read('batch-failing/batch/cat photo+1.jpg')).toString()).toBe('meow v2');
  });

  it('counts what the tasks did from the report: a key written at the target after the dry run is skipped (newer), not counted as restored', async () => {
    const jobs = batchOperations();
    const { plan, deps, asset } = await planned('batch-skip/', jobs);
    await t.s3.send(
      new PutObjectCommand({ Bucket: 'it-restore', Key: 'batch-skip/batch/cat photo+1.jpg', Body: 'written after the dry run' }),
    );
    const done = await run(plan, deps, asset);
    expect(done).toMatchObject({
      state: 'done',
      result: {
        failed: 0,
        restored: { objects: 4, bytes: plan.summary.restore.bytes - atT1['train/batch/cat photo+1.jpg']!.length },
        skipped: { 'newer-at-target': 1 },
      },
    });
    expect((await read('batch-skip/batch/cat photo+1.jpg')).toString()).toBe('written after the dry run');
  });

  it('refuses a batch restore where the stack has no Batch Operations role, and tasks of a restore that is not running', async () => {
    const call = parseDataRestore(
      {
        asset: 'training',
        prefix: 'train/batch/',
        asOf: t1,
        target: { bucket: 'it-restore', prefix: 'x/' },
        method: 'batch-operations',
        dryRun: true,
      },
      t.policy,
      new Date(),
    );
    if (call.kind !== 'restore') throw new Error('unexpected');
    const { batch: _none, ...withoutBatch } = depsFor(batchOperations(), call.asset);
    await expect(planDataRestore(withoutBatch, call.asset, call.request)).rejects.toThrow(
      'method: "batch-operations" needs the stack\'s Batch Operations role (RESTORE_BATCH_ROLE on restore-data); restore with "method": "function"',
    );
    const stray = loadEvent<{ job: { userArguments: { restoreId: string } } }>('s3-batch/valid/restore-task.json');
    stray.job.userArguments.restoreId = '0'.repeat(32);
    expect(((await handler(stray, localContext('restore-data'))) as BatchResponse).results[0]).toMatchObject({
      resultCode: 'PermanentFailure',
      resultString: `there is no restore-data restore "${'0'.repeat(32)}"`,
    });
  });
});
