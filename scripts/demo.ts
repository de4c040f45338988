/**
 * `npm run demo`: the main job, locally. Starts the local AWS, creates the stack's resources from
 * dr-policy.yml, uploads a small training set and eval set (with an overwrite, a delete, awkward key
 * names and a multipart upload), lets the real replicate handler consume the queue the way Lambda's
 * event source mapping does, then checks the replica version by version and prints one row per
 * source version. Exits 0 only if every row is verified.
 */
import { resolve } from 'node:path';
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
import { replicatedAssets } from '../functions/policy/assets.js';
import { loadPolicyFile } from '../functions/policy/load.js';
import { dynamoDocumentClient } from '../functions/shared/aws-clients.js';
import { drainQueue } from './local-aws/event-source-mapping.js';
import { type ReplicaRow, replicaReport } from './local-aws/replica-report.js';
import { startLocalAws } from './local-aws/server.js';
import { deployLocalStack } from './local-aws/stack.js';

const policyFile = resolve(process.env.DR_POLICY_FILE ?? 'dr-policy.yml');

function shard(name: string, lines: number): string {
  return Array.from({ length: lines }, (_, i) => JSON.stringify({ id: `${name}-${i}`, text: `sample ${i} of ${name}`, label: i % 3 })).join(
    '\n',
  );
}

async function main(): Promise<number> {
  const localAws = await startLocalAws();
  try {
    const policy = loadPolicyFile(policyFile);
    // As in Lambda: the function runs in the stack's region. Logs above WARN only, to keep the table readable.
    Object.assign(process.env, localAws.env, {
      AWS_REGION: policy.deployment.region,
      POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
      POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
    });
    const stack = await deployLocalStack(policy);
    Object.assign(process.env, { LEDGER_TABLE: stack.ledgerTable, DR_POLICY_FILE: policyFile });

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
    return bad.length === 0 && rows.length > 0 ? 0 : 1;
  } finally {
    await localAws.stop();
  }
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
