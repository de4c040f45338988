/**
 * `npm run demo`: the whole loop, locally, with the real handlers. Starts the local AWS and a local
 * pgvector (PGlite), creates the stack's resources from dr-policy.yml (its pgvector endpoint pointed
 * at the local one), and then:
 *  1. replication: uploads a small training set, eval set and model (with an overwrite, a delete,
 *     awkward key names and a multipart upload), lets the replicate handler consume the queue the
 *     way Lambda's event source mapping does, and prints one row per source version, verified;
 *  2. the live RPO (measure-rpo): the vector indexes have no snapshot yet, so their RPO target is
 *     missed and on-call is paged, once (a second measurement pages nobody); the page is printed;
 *  3. a vector snapshot (snapshot-vectors) of each vector index (pgvector on PGlite, LanceDB on the local S3);
 *  4. a restore test (verify-restore) of the eval sets, with its measured RTO;
 *  5. a region-outage drill (dr-drill): every critical and high asset recovered in the DR region,
 *     verified, timed against its RTO, cleaned up;
 *  6. the DR report (report), written to the DR bucket and copied to a local file whose path it prints.
 * Exits 0 only if everything verified.
 */
import './local-aws/quiet-logs.js';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutBucketVersioningCommand } from '@aws-sdk/client-s3';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { parse, stringify } from 'yaml';
import type { TargetEventDetail } from '../functions/alerts/target-events.js';
import type { DrillRun } from '../functions/drills/drill-run.js';
import type { RestoreTestResult } from '../functions/restore/restore-test.js';
import { localContext } from './local-aws/event-source-mapping.js';
import { startPglite, type PgliteServer } from './local-engines/pglite-server.js';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoLedger } from '../functions/ledger/dynamo-ledger.js';
import { replicatedAssets, reportLocation } from '../functions/policy/assets.js';
import { loadPolicyFile } from '../functions/policy/load.js';
import { isAssetDrill } from '../functions/policy/schema.js';
import { dynamoDocumentClient } from '../functions/shared/aws-clients.js';
import { drainQueue } from './local-aws/event-source-mapping.js';
import { type ReplicaRow, replicaReport } from './local-aws/replica-report.js';
import { startLocalAws } from './local-aws/server.js';
import { deployLocalStack, functionEnv } from './local-aws/stack.js';

const shippedPolicy = resolve(process.env.DR_POLICY_FILE ?? 'dr-policy.yml');

/** The shipped policy with its pgvector engine on the local PGlite (no credentials secret locally). */
function localPolicyFile(pg: PgliteServer): string {
  const policy = parse(readFileSync(shippedPolicy, 'utf8')) as { assets: { source: Record<string, unknown>; kind: string }[] };
  for (const asset of policy.assets) {
    if (asset.kind === 'vector-index' && asset.source.engine === 'pgvector') {
      asset.source.endpoint = pg.connectionString;
      delete asset.source.credentialsSecretArn;
    }
  }
  const file = join(mkdtempSync(join(tmpdir(), 'dr-demo-')), 'dr-policy.yml');
  writeFileSync(file, stringify(policy));
  return file;
}

/** Vectors for the demo's index: `count` records of `dimensions`, deterministic. */
function embeddings(count: number, dimensions: number) {
  let seed = 7;
  const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  return Array.from({ length: count }, (_, i) => ({
    id: `product-${i}`,
    vector: Float32Array.from({ length: dimensions }, next),
    metadata: { sku: `SKU-${1000 + i}` },
  }));
}

function shard(name: string, lines: number): string {
  return Array.from({ length: lines }, (_, i) => JSON.stringify({ id: `${name}-${i}`, text: `sample ${i} of ${name}`, label: i % 3 })).join(
    '\n',
  );
}

async function main(): Promise<number> {
  const localAws = await startLocalAws();
  const pg = await startPglite({ maxConnections: 4 });
  const policyFile = localPolicyFile(pg);
  try {
    const policy = loadPolicyFile(policyFile);
    // As in Lambda: the function runs in the stack's region (logs: scripts/local-aws/quiet-logs.ts).
    Object.assign(process.env, localAws.env, { AWS_REGION: policy.deployment.region });
    const stack = await deployLocalStack(policy);
    Object.assign(process.env, functionEnv(stack, policyFile));
    // Buckets an operator owns: the DR-region workspace (restore.targetBuckets) and LanceDB's (support-kb-index).
    const dr = new S3Client({ region: policy.deployment.region, forcePathStyle: true });
    for (const bucket of [...policy.restore.targetBuckets.map((t) => t.bucket), 'acme-ml-dr-vectors']) {
      const region = policy.restore.targetBuckets.find((t) => t.bucket === bucket)?.region ?? policy.deployment.region;
      await new S3Client({ region, forcePathStyle: true }).send(
        new CreateBucketCommand({
          Bucket: bucket,
          ...(region !== 'us-east-1' && { CreateBucketConfiguration: { LocationConstraint: region as 'us-west-2' } }),
        }),
      );
      await dr.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    }

    const [training, evals] = ['training-data', 'eval-set'].map((kind) => {
      const asset = replicatedAssets(policy).find((a) => a.kind === kind);
      if (!asset) throw new Error(`dr-policy.yml has no ${kind} asset to demonstrate`);
      return asset;
    }) as [ReturnType<typeof replicatedAssets>[number], ReturnType<typeof replicatedAssets>[number]];
    const s3 = new S3Client({ region: training.source.region, forcePathStyle: true });
    const put = (bucket: string, key: string, body: string | Uint8Array, contentType = 'application/x-ndjson') =>
      s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: Buffer.from(body),
          ContentType: contentType,
          Metadata: { dataset: 'demo' },
          Tagging: 'classification=internal',
        }),
      );

    console.log(
      `Uploading a training set to s3://${training.source.bucket}/${training.source.prefix} and an eval set to s3://${evals.source.bucket}/${evals.source.prefix}`,
    );
    const t = training.source.prefix;
    const e = evals.source.prefix;
    await put(training.source.bucket, `${t}shards/shard-00000.jsonl`, shard('s0', 200));
    await put(training.source.bucket, `${t}shards/shard-00001.jsonl`, shard('s1', 200));
    await put(training.source.bucket, `${t}manifest.json`, JSON.stringify({ shards: 2, version: 1 }), 'application/json');
    await put(
      training.source.bucket,
      `${t}images/cat photo+1 (été)%20.txt`,
      'a key with a space, +, %, parentheses and unicode',
      'text/plain',
    );
    await put(training.source.bucket, `${t}empty-marker`, '', 'application/octet-stream');
    // A multipart upload: its ETag is not an MD5, so its SHA-256 is computed, never guessed.
    const big = `${t}shards/shard-00002.bin`;
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: training.source.bucket, Key: big, ContentType: 'application/octet-stream' }),
    );
    const parts = [Buffer.alloc(5 * 1024 * 1024, 7), Buffer.from('tail of the shard')];
    const etags = [];
    for (const [i, body] of parts.entries()) {
      const part = await s3.send(
        new UploadPartCommand({ Bucket: training.source.bucket, Key: big, UploadId, PartNumber: i + 1, Body: body }),
      );
      etags.push({ PartNumber: i + 1, ETag: part.ETag });
    }
    await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: training.source.bucket, Key: big, UploadId, MultipartUpload: { Parts: etags } }),
    );
    await put(evals.source.bucket, `${e}golden-qa.jsonl`, shard('golden-v1', 50));
    await put(evals.source.bucket, `${e}golden-qa.jsonl`, shard('golden-v2', 60)); // an overwrite
    const models = replicatedAssets(policy).find((a) => a.kind === 'model-artifacts');
    if (models) {
      await put(
        models.source.bucket,
        `${models.source.prefix}llm/v3/weights.safetensors`,
        Buffer.alloc(64 * 1024, 5),
        'application/octet-stream',
      );
      await put(models.source.bucket, `${models.source.prefix}llm/v3/tokenizer.json`, '{"vocab":{}}', 'application/json');
    }
    await put(training.source.bucket, `${t}tmp/scratch.txt`, 'to be deleted', 'text/plain');
    await s3.send(new DeleteObjectCommand({ Bucket: training.source.bucket, Key: `${t}tmp/scratch.txt` })); // a delete

    // The real handler, consuming the queue the way Lambda's event source mapping would.
    const { handler } = await import('../functions/replicate.js');
    const sqs = new SQSClient({ region: stack.region });
    const queue = { url: stack.queueUrl, arn: stack.queueArn, region: stack.region };
    const started = Date.now();
    const polled = await drainQueue(sqs, queue, handler, { batchSize: policy.replication.batchSize });
    console.log(
      `Replicated from ${polled.succeeded + polled.failed} queue messages in ${polled.batches} batches (${Date.now() - started} ms)`,
    );

    const ledger = new DynamoLedger(dynamoDocumentClient(), stack.ledgerTable);
    const rows: ReplicaRow[] = [];
    for (const asset of [training, evals]) {
      rows.push(...(await replicaReport(s3, asset, (key) => ledger.entriesFor(asset.name, key))));
    }
    printTable(rows);
    const bad = rows.filter((r) => !r.verified);
    console.log(
      bad.length === 0
        ? `\nAll ${rows.length} source versions are in the replica, in order, SHA-256 verified.`
        : `\n${bad.length} of ${rows.length} source versions are NOT verified in the replica.`,
    );
    if (bad.length > 0 || rows.length === 0) return 1;
    return (await theRestOfTheLoop(policy, stack, dr)) ? 0 : 1;
  } finally {
    await pg.stop();
    await localAws.stop();
    rmSync(dirname(policyFile), { recursive: true, force: true });
  }
}

type Handler<T> = (event: unknown, context: ReturnType<typeof localContext>) => Promise<T>;
const handlerOf = async <T = unknown>(module: string): Promise<Handler<T>> =>
  ((await import(`../functions/${module}.js`)) as { handler: Handler<T> }).handler;

/** Steps 2 to 5 of the demo: RPO and its page, a vector snapshot, a restore test, a region-outage drill. */
async function theRestOfTheLoop(
  policy: ReturnType<typeof loadPolicyFile>,
  stack: Awaited<ReturnType<typeof deployLocalStack>>,
  dr: S3Client,
) {
  const sqs = new SQSClient({ region: stack.region });
  const pages = async () => {
    const received: { 'detail-type': string; detail: TargetEventDetail }[] = [];
    for (;;) {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.onCallQueueUrl, MaxNumberOfMessages: 10 }));
      if (Messages.length === 0) return received;
      for (const m of Messages) {
        received.push(JSON.parse(m.Body!));
        await sqs.send(new DeleteMessageCommand({ QueueUrl: stack.onCallQueueUrl, ReceiptHandle: m.ReceiptHandle }));
      }
    }
  };

  console.log('\n2. Live RPO (measure-rpo), before any vector snapshot');
  const measure = await handlerOf('measure-rpo');
  await measure({}, localContext('measure-rpo'));
  const first = await pages();
  for (const page of first) {
    const d = page.detail;
    console.log(
      `   PAGE ${page['detail-type']}: ${d.asset} ${d.target} ${d.reason} (target ${d.targetSeconds} s, incident ${d.incidentId})`,
    );
  }
  console.log(`   ${JSON.stringify(first[0], null, 2).replace(/\n/g, '\n   ')}`);
  await measure({}, localContext('measure-rpo'));
  const second = await pages();
  console.log(`   measured again: ${second.length} new pages (one page per incident)`);

  console.log('\n3. Vector snapshots (snapshot-vectors) of every vector index');
  const { openVectorStore } = await import('../functions/vectors/open-store.js');
  const snapshots: { snapshotId: string; outcome: string; count?: number }[] = [];
  for (const [i, index] of policy.assets.filter((a) => a.kind === 'vector-index').entries()) {
    const engine = await openVectorStore(index);
    try {
      await engine.createIndex(index.source.index, { dimensions: index.source.dimensions, metric: index.source.metric });
      await engine.write(index.source.index, embeddings(300 - 200 * Math.min(i, 1), index.source.dimensions));
    } finally {
      await engine.close();
    }
    const snapshot = await (
      await handlerOf<(typeof snapshots)[number]>('snapshot-vectors')
    )({ asset: index.name }, localContext('snapshot-vectors'));
    console.log(
      `   ${index.name} (${index.source.engine}, ${index.source.dimensions} dimensions): snapshot ${snapshot.snapshotId} ${snapshot.outcome}, ${snapshot.count ?? 0} vectors`,
    );
    snapshots.push(snapshot);
  }

  console.log('\n4. A restore test of eval-sets (verify-restore)');
  const test = await (await handlerOf<RestoreTestResult>('verify-restore'))({ asset: 'eval-sets' }, localContext('verify-restore'));
  console.log(
    `   ${test.ok ? 'passed' : `FAILED: ${test.reason}`}; measured RTO ${test.rtoSeconds?.toFixed(3)} s (target ${policy.assets.find((a) => a.name === 'eval-sets')!.rtoTargetSeconds} s)`,
  );

  const drill = policy.drills.filter(isAssetDrill).find((d) => d.scenario === 'region-outage');
  if (!drill) throw new Error('dr-policy.yml has no region-outage drill to demonstrate');
  console.log(
    `\n5. A region-outage drill (dr-drill ${drill.name}): everything ${drill.scope.tiers?.join(' and ') ?? drill.scope.assets?.join(', ')} back in ${policy.deployment.region}`,
  );
  const run = await (await handlerOf<DrillRun>('dr-drill'))({ drill: drill.name }, localContext('dr-drill'));
  for (const a of run.assets) {
    const rpo = run.rpoAtStart.find((r: { asset: string }) => r.asset === a.asset);
    console.log(
      `   ${a.asset.padEnd(22)} ${a.ok ? 'verified' : 'FAILED  '}  RPO at start ${rpo?.rpoSeconds == null ? '   -' : rpo.rpoSeconds.toFixed(1).padStart(4)} s  RTO ${a.rtoSeconds?.toFixed(2) ?? '-'} s (target ${a.rtoTargetSeconds} s)${a.reason ? `  ${a.reason}` : ''}`,
    );
  }
  console.log(
    `   drill ${run.drillId}: ${run.state.toUpperCase()}; whole recovery ${run.verdict?.rtoSeconds?.toFixed(2) ?? '-'} s (target ${drill.targetMinutes * 60} s); left behind: ${run.cleanup?.leftBehind.length ?? 'unknown'}`,
  );

  console.log('\n6. The DR report (report), written to the DR bucket and copied here');
  const written = await (
    await handlerOf<{ bucket: string; keys: string[]; headline: { verdict: string; text: string } }>('report')
  )({}, localContext('report'));
  const dir = mkdtempSync(join(tmpdir(), 'dr-demo-report-'));
  const { prefix } = reportLocation(policy);
  for (const key of written.keys.filter((k) => !k.includes('/history/'))) {
    const { Body } = await dr.send(new GetObjectCommand({ Bucket: written.bucket, Key: key }));
    const file = join(dir, key.slice(prefix.length));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, Buffer.from(await Body!.transformToByteArray()));
  }
  console.log(`   ${written.headline.text}`);
  console.log(`   s3://${written.bucket}/${prefix}index.html`);
  const page = join(dir, 'index.html');
  console.log(`   open ${page}`);
  if (written.keys.includes(`${prefix}status/index.html`)) console.log(`   the public status page: open ${join(dir, 'status/index.html')}`);

  return (
    first.length > 0 &&
    second.length === 0 &&
    snapshots.length > 0 &&
    snapshots.every((s) => s.outcome === 'verified') &&
    test.ok &&
    run.state === 'passed' &&
    written.headline.verdict === 'yes' &&
    existsSync(page)
  );
}

function printTable(rows: ReplicaRow[]): void {
  const short = (s?: string) => (s ? s.slice(0, 12) : '-');
  const table = rows.map((r) => ({
    asset: r.asset,
    key: r.key,
    'source version': short(r.sourceVersionId),
    'replica version': short(r.replicaVersionId),
    sha256: r.kind === 'delete-marker' ? '(delete marker)' : short(r.sourceSha256),
    verified: r.verified ? 'yes' : 'NO',
    'lag (s)': r.lagSeconds === undefined ? '-' : r.lagSeconds.toFixed(2),
  }));
  const columns = Object.keys(table[0] ?? {}) as (keyof (typeof table)[number])[];
  const width = (c: (typeof columns)[number]) => Math.max(c.length, ...table.map((r) => String(r[c]).length));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(width(columns[i]!))).join('  ');
  console.log();
  console.log(line(columns));
  console.log(line(columns.map((c) => '-'.repeat(width(c)))));
  for (const row of table) console.log(line(columns.map((c) => String(row[c]))));
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? `demo failed: ${error.message}` : error);
    process.exit(1);
  },
);
