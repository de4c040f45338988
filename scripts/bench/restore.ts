/**
 * `npm run bench:restore`: restore throughput, measured through the real handlers on the local AWS,
 * and the RTO it implies for a 1 TB dataset and a 10-million-vector index.
 *   data:    restore-data (dry run, then run with the token) of a replicated asset into another bucket,
 *            by the function itself and as an S3 Batch Operations job (the local AWS's Batch
 *            Operations, BATCH_TASKS tasks at once, each a restore-data invocation), beside
 *            `aws s3 cp --recursive` of the same replica prefix (the baseline, same endpoint)
 *   vectors: restore-vectors of one verified snapshot into each engine that runs here (LanceDB,
 *            pgvector on PGlite, Chroma, S3 Vectors on the local AWS), write and check included,
 *            beside writing the same records straight through the engine's adapter (the baseline)
 * RTO estimate = size / measured throughput (the formula of docs/restore.md, restored = a sample).
 * Usage: npm run bench:restore [-- --objects 1000 --object-kib 256 --large 20 --large-mib 16 --vectors 20000 --dims 768]
 */
import { CreateBucketCommand, PutBucketVersioningCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateVectorBucketCommand, S3VectorsClient } from '@aws-sdk/client-s3vectors';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicyFile } from '../../functions/policy/load.js';
import type { Policy, VectorAsset } from '../../functions/policy/schema.js';
import type { BatchResponse } from '../../functions/replication/batch-operations.js';
import { parseDataRestore } from '../../functions/restore/data-request.js';
import { planDataRestore, runDataRestore, type DataRestoreDeps } from '../../functions/restore/restore-data.js';
import { createDataRestorer } from '../../functions/restore/runtime.js';
import { S3JobFiles } from '../../functions/restore/s3-job-files.js';
import { parseConfig } from '../../functions/shared/config.js';
import { LocalBatchOperations } from '../local-aws/batch-operations.js';
import { openVectorStore } from '../../functions/vectors/open-store.js';
import type { VectorRecord } from '../../functions/vectors/vector-store.js';
import { drainQueue, localContext } from '../local-aws/event-source-mapping.js';
import { startLocalAws } from '../local-aws/server.js';
import { deployLocalStack } from '../local-aws/stack.js';
import { startChroma } from '../local-engines/chroma-server.js';
import { startPglite } from '../local-engines/pglite-server.js';
import { AWS_CLI, awsCopyRecursive, requireTools, TIME_COMMAND } from './timed.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return Number(i > 0 ? process.argv[i + 1]! : fallback);
};
const OBJECTS = arg('objects', '1000');
const OBJECT_KIB = arg('object-kib', '256');
const LARGE = arg('large', '20');
const LARGE_MIB = arg('large-mib', '16');
const VECTORS = arg('vectors', '20000');
const DIMS = arg('dims', '768');
const REGION = 'us-west-2';
const TB = 1e12;
const TEN_MILLION = 10_000_000;
/** Tasks the local Batch Operations runs at once (AWS runs up to the account's Lambda concurrency). */
const BATCH_TASKS = 8;

/**
 * The same restore as an S3 Batch Operations job: the dry run writes the manifest, the run creates
 * the job on the local AWS's Batch Operations and follows it; each task is the restore-data handler.
 */
async function batchRestore(
  policy: Policy,
  s3: S3Client,
  restoreData: (event: unknown, context: ReturnType<typeof localContext>) => Promise<unknown>,
  objects: number,
  bytes: number,
): Promise<Row> {
  const restorer = createDataRestorer(parseConfig(process.env), 'restore-data', () => new Date(), { continueLater: async () => {} });
  const call = parseDataRestore(
    { asset: 'data', target: { bucket: 'bench-restored', prefix: 'batched/' }, method: 'batch-operations', dryRun: true },
    policy,
    new Date(),
  );
  if (call.kind !== 'restore') throw new Error('not a restore');
  const jobs = new LocalBatchOperations(
    s3,
    async (_arn, event) => (await restoreData(event, localContext('restore-data'))) as BatchResponse,
    {
      concurrency: BATCH_TASKS,
    },
  );
  const deps: DataRestoreDeps = {
    ...restorer.depsFor(() => 900_000).forAsset(call.asset, REGION),
    batch: {
      jobs,
      files: new S3JobFiles(s3, call.asset.replica.bucket),
      functionArn: 'arn:aws:lambda:us-west-2:123456789012:function:bench-restore-data',
      roleArn: 'arn:aws:iam::123456789012:role/bench-batch-restore',
      pollMs: 50,
    },
  };
  const plan = await planDataRestore(deps, call.asset, call.request);
  if (!(await deps.plans.claim(plan.token, new Date()))) throw new Error('batch restore: the plan was claimed already');
  const started = performance.now();
  const done = await runDataRestore(deps, call.asset, { ...plan, state: 'running' });
  const seconds = (performance.now() - started) / 1000;
  if (done.state !== 'done' || done.result?.restored.objects !== objects) throw new Error(`batch restore: ${JSON.stringify(done)}`);
  return { what: 'data', tool: `restore-data as a Batch Operations job (${BATCH_TASKS} tasks at once)`, seconds, items: objects, bytes };
}

interface Row {
  what: string;
  tool: string;
  seconds: number;
  items: number;
  bytes: number;
}

function records(count: number): VectorRecord[] {
  let state = 2463534242;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000 - 0.5;
  };
  return Array.from({ length: count }, (_, i) => {
    const vector = new Float32Array(DIMS);
    for (let d = 0; d < DIMS; d++) vector[d] = next();
    return { id: `doc-${String(i).padStart(8, '0')}`, vector, metadata: { title: `document ${i}`, category: i % 12 } };
  });
}

async function main() {
  requireTools(TIME_COMMAND, AWS_CLI);
  const aws = await startLocalAws();
  const dir = mkdtempSync(join(tmpdir(), 'bench-restore-'));
  const pglite = await startPglite({ maxConnections: 4 });
  const chroma = await startChroma();
  try {
    Object.assign(process.env, aws.env, { AWS_REGION: REGION, POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' });
    const vectorAsset = (name: string, engine: string, where: string, metric = 'euclidean') => `  - name: ${name}
    kind: vector-index
    source: { engine: ${engine}, index: bench_vectors, region: ${REGION}, ${where}, dimensions: ${DIMS}, metric: ${metric}, embedding: { model: bench, version: '1' } }
    replica: { bucket: bench-replica, region: ${REGION}, prefix: vectors/${name}/ }
    rpoTargetSeconds: 14400
    rtoTargetSeconds: 14400
    tier: high
`;
    const policyFile = join(dir, 'policy.yml');
    writeFileSync(
      policyFile,
      `version: 1
deployment: { region: ${REGION} }
replication: { timeoutSeconds: 300 }
restore: { targetBuckets: [ { bucket: bench-restored, region: ${REGION} } ] }
assets:
  - name: data
    kind: training-data
    source: { bucket: bench-source, prefix: data/, region: ${REGION} }
    replica: { bucket: bench-replica, region: ${REGION} }
    rpoTargetSeconds: 3600
    rtoTargetSeconds: 86400
    tier: high
${[
  vectorAsset('lancedb', 'lancedb', `endpoint: ${join(dir, 'lancedb')}`),
  vectorAsset('pgvector', 'pgvector', `endpoint: '${pglite.connectionString}'`),
  vectorAsset('chroma', 'chroma', `endpoint: '${chroma.url}'`),
  vectorAsset('s3vectors', 's3vectors', 'vectorBucket: bench-vectors'),
].join('')}`,
    );
    const policy = loadPolicyFile(policyFile);
    const stack = await deployLocalStack(policy);
    Object.assign(process.env, { LEDGER_TABLE: stack.ledgerTable, DR_POLICY_FILE: policyFile, DR_EVENT_BUS: stack.eventBus });
    const s3 = new S3Client({ region: REGION, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: 'bench-restored', CreateBucketConfiguration: { LocationConstraint: REGION } }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: 'bench-restored', VersioningConfiguration: { Status: 'Enabled' } }));
    await new S3VectorsClient({ region: REGION }).send(new CreateVectorBucketCommand({ vectorBucketName: 'bench-vectors' }));

    const rows: Row[] = [];
    // Data: seed, replicate through the real replicate handler, then restore into another bucket.
    const body = (size: number, seed: number) => Buffer.alloc(size, seed % 251);
    const sizes = [
      ...Array.from({ length: OBJECTS }, () => OBJECT_KIB * 1024),
      ...Array.from({ length: LARGE }, () => LARGE_MIB * 1024 * 1024),
    ];
    for (const [i, size] of sizes.entries())
      await s3.send(
        new PutObjectCommand({ Bucket: 'bench-source', Key: `data/obj-${String(i).padStart(6, '0')}.bin`, Body: body(size, i) }),
      );
    const { handler: replicate } = await import('../../functions/replicate.js');
    const { SQSClient } = await import('@aws-sdk/client-sqs');
    await drainQueue(new SQSClient({ region: REGION }), { url: stack.queueUrl, arn: stack.queueArn, region: REGION }, replicate, {
      maxBatches: 10_000,
    });
    const totalBytes = sizes.reduce((a, b) => a + b, 0);
    console.error(`data: ${sizes.length} objects, ${(totalBytes / 1e6).toFixed(0)} MB replicated`);

    const { handler: restoreData } = await import('../../functions/restore-data.js');
    const request = { asset: 'data', target: { bucket: 'bench-restored', prefix: 'restored/' } };
    const plan = (await restoreData({ ...request, dryRun: true }, localContext('restore-data'))) as { planToken?: string };
    const started = performance.now();
    const run = (await restoreData({ ...request, planToken: plan.planToken }, localContext('restore-data'))) as {
      state: string;
      result?: { restored: { objects: number } };
    };
    const seconds = (performance.now() - started) / 1000;
    if (run.state !== 'done' || run.result?.restored.objects !== sizes.length) throw new Error(`restore-data: ${JSON.stringify(run)}`);
    rows.push({ what: 'data', tool: 'restore-data (verified copies)', seconds, items: sizes.length, bytes: totalBytes });
    rows.push(await batchRestore(policy, s3, restoreData, sizes.length, totalBytes));
    const cli = await awsCopyRecursive(aws.endpoint, 's3://bench-replica/data/', 's3://bench-restored/cli/', process.env);
    rows.push({ what: 'data', tool: 'baseline: aws s3 cp --recursive', seconds: cli.seconds, items: sizes.length, bytes: totalBytes });

    // Vectors: one verified snapshot (LanceDB source), restored into each engine.
    const all = records(VECTORS);
    const lance = await openVectorStore(policy.assets.find((a) => a.name === 'lancedb') as VectorAsset);
    await lance.createIndex('bench_vectors', { dimensions: DIMS, metric: 'euclidean' });
    for (let i = 0; i < all.length; i += 1000) await lance.write('bench_vectors', all.slice(i, i + 1000));
    await lance.close();
    const { handler: snapshot } = await import('../../functions/snapshot-vectors.js');
    const taken = await snapshot({ asset: 'lancedb' }, localContext('snapshot-vectors'));
    if (!('outcome' in taken) || taken.outcome !== 'verified') throw new Error(`snapshot: ${JSON.stringify(taken)}`);
    const { handler: restoreVectors } = await import('../../functions/restore-vectors.js');
    for (const engine of ['lancedb', 'pgvector', 'chroma', 's3vectors']) {
      const vectorRequest = { asset: 'lancedb', target: { asset: engine, index: `restored_${engine}` } };
      const vectorPlan = await restoreVectors({ ...vectorRequest, dryRun: true }, localContext('restore-vectors'));
      const t0 = performance.now();
      const restored = await restoreVectors({ ...vectorRequest, planToken: vectorPlan.planToken }, localContext('restore-vectors'));
      const restoreSeconds = (performance.now() - t0) / 1000;
      if (restored.state !== 'done' || !restored.result?.ok) throw new Error(`restore-vectors into ${engine}: ${JSON.stringify(restored)}`);
      rows.push({
        what: `vectors → ${engine}`,
        tool: 'restore-vectors (write + check)',
        seconds: restoreSeconds,
        items: VECTORS,
        bytes: VECTORS * DIMS * 4,
      });
      // Baseline: the same records written straight through the adapter (no snapshot, no check).
      const store = await openVectorStore(policy.assets.find((a) => a.name === engine) as VectorAsset);
      await store.createIndex('baseline_write', { dimensions: DIMS, metric: 'euclidean' });
      const t1 = performance.now();
      for (let i = 0; i < all.length; i += 500) await store.write('baseline_write', all.slice(i, i + 500));
      rows.push({
        what: `vectors → ${engine}`,
        tool: 'baseline: adapter write only',
        seconds: (performance.now() - t1) / 1000,
        items: VECTORS,
        bytes: VECTORS * DIMS * 4,
      });
      await store.close();
      console.error(`vectors → ${engine}: ${restoreSeconds.toFixed(2)} s`);
    }
    print(rows);
  } finally {
    await chroma.stop();
    await pglite.stop();
    await aws.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function print(rows: Row[]) {
  const lines = [
    `bench:restore — data: ${OBJECTS} × ${OBJECT_KIB} KiB + ${LARGE} × ${LARGE_MIB} MiB; vectors: ${VECTORS} × ${DIMS} float32; local AWS (moto)`,
    '',
    '| restore | tool | seconds | items/s | MB/s | vs baseline | RTO estimate |',
    '|---|---|---:|---:|---:|---:|---|',
  ];
  for (const row of rows) {
    const baseline = rows.find((r) => r.what === row.what && r.tool.startsWith('baseline'));
    const rate = row.items / row.seconds;
    const mbps = row.bytes / 1e6 / row.seconds;
    const rto =
      row.what === 'data'
        ? `1 TB: ${(TB / (mbps * 1e6) / 3600).toFixed(1)} h`
        : `10 M vectors: ${(TEN_MILLION / rate / 3600).toFixed(1)} h`;
    const ratio = baseline ? `${(rate / (baseline.items / baseline.seconds)).toFixed(2)}x` : '—';
    lines.push(`| ${row.what} | ${row.tool} | ${row.seconds.toFixed(2)} | ${Math.round(rate)} | ${mbps.toFixed(1)} | ${ratio} | ${rto} |`);
  }
  lines.push('', 'RTO estimate = size / measured throughput of one restore function (docs/restore.md#measured-rto).');
  console.log(lines.join('\n'));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
