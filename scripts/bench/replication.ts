/**
 * `npm run bench:replication`: this project's replication engine against `rclone copy`, the
 * verifying peer `rclone copy` + `rclone check --download` (reads both sides), and `aws s3 sync` (Debian packages rclone and awscli: `apt-get install rclone awscli`), in one run,
 * against the same local endpoint (moto) and freshly seeded buckets, at the same concurrency:
 *   (a) 2,000 objects of 64 KiB   (b) 200 objects of 8 MiB   (c) one object of 1 GiB
 * plus (c) through the streaming path (a source on "another endpoint": read and re-uploaded), also
 * for a 2 GiB object (the issue's memory bound: under 256 MiB peak RSS), and
 * (d) a burst of 1,000 writes at about 100 per second through the whole event path, with the
 * event-to-verified-replica latency from the ledger.
 * Prints objects/s, MB/s and peak RSS per tool and case, and ratios to rclone; and the requests per
 * object each tool cost, by service and operation, counted by the local AWS.
 * Usage: npm run bench:replication [-- --concurrency 8] [--scale 1]   (scale < 1 shrinks every case)
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  type BucketLocationConstraint,
  PutBucketNotificationConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
  CopyObjectCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoLedger } from '../../functions/ledger/dynamo-ledger.js';
import { loadPolicyFile } from '../../functions/policy/load.js';
import { SqsDeadLetterQueue } from '../../functions/rpo/dead-letter-queue.js';
import { lagStats } from '../../functions/rpo/percentiles.js';
import { dynamoDocumentClient } from '../../functions/shared/aws-clients.js';
import { countsOf, type RequestCounts, startLocalAws } from '../local-aws/server.js';
import { deployLocalStack } from '../local-aws/stack.js';
import { projectRoot } from '../local-aws/venv.js';
import { AWS_CLI, awsCliEnv, RCLONE, requireTools, TIME_COMMAND, timed } from './timed.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const CONCURRENCY = Number(arg('concurrency', '8'));
const SCALE = Number(arg('scale', '1'));
const KIB = 1024;
const MIB = 1024 * KIB;
const REGION = 'us-east-1';

const cases = [
  { id: 'a', name: `${Math.round(2000 * SCALE)} x 64 KiB`, count: Math.round(2000 * SCALE), size: 64 * KIB },
  { id: 'b', name: `${Math.round(200 * SCALE)} x 8 MiB`, count: Math.round(200 * SCALE), size: 8 * MIB },
  { id: 'c', name: `1 x ${Math.round(1024 * SCALE)} MiB`, count: 1, size: Math.round(1024 * SCALE) * MIB },
];

interface Run {
  case: string;
  tool: string;
  seconds: number;
  objects: number;
  bytes: number;
  peakRssMiB: number;
  /** CPU seconds of the tool's process, and of the local AWS while the tool ran. */
  cpuSeconds: number;
  localAwsCpuSeconds: number;
  /** Requests the local AWS served while the tool ran, by "<service> <Operation>" (request_counter.py). */
  requests: RequestCounts;
}

function body(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 4096) b.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  return b;
}

/** Writes an object of `size` bytes as a multipart upload of 64 MiB parts, so no process holds all of it. */
async function seedInParts(s3: S3Client, bucket: string, key: string, size: number) {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const parts = [];
  for (let start = 0, n = 1; start < size; start += 64 * MIB, n++) {
    const { ETag } = await s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: n, Body: body(Math.min(64 * MIB, size - start), n) }),
    );
    parts.push({ PartNumber: n, ETag });
  }
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
}

async function main() {
  requireTools(AWS_CLI, RCLONE, TIME_COMMAND);
  const aws = await startLocalAws();
  try {
    await run(aws);
  } finally {
    await aws.stop();
  }
}

async function run(aws: Awaited<ReturnType<typeof startLocalAws>>) {
  Object.assign(process.env, aws.env, { AWS_REGION: REGION, POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_METRICS_DISABLED: 'true' });
  const dir = mkdtempSync(join(tmpdir(), 'bench-replication-'));
  const policyFile = join(dir, 'policy.yml');
  const asset = (name: string, bucket: string, prefix: string, extra = '') => `
  - name: ${name}
    kind: training-data
    source: { bucket: ${bucket}, prefix: ${prefix}, region: ${REGION}${extra} }
    replica: { bucket: bench-replica, region: ${REGION}, prefix: ${name}/ }
    rpoTargetSeconds: 3600
    rtoTargetSeconds: 86400
    tier: high`;
  const assets = [
    asset('a', 'bench-src', 'a/'),
    asset('b', 'bench-src', 'b/'),
    asset('c', 'bench-src', 'c/'),
    asset('d', 'bench-src', 'd/'),
    asset('s', 'bench-remote', 'c/', `, endpoint: '${aws.endpoint}', forcePathStyle: true`),
  ];
  writeFileSync(
    policyFile,
    `version: 1
deployment: { region: ${REGION} }
replication: { maxReceiveCount: 5, batchSize: 10, timeoutSeconds: 900, partConcurrency: ${CONCURRENCY} }
assets:${assets.join('')}
`,
  );
  const policy = loadPolicyFile(policyFile);
  const stack = await deployLocalStack(policy, { visibilityTimeoutSeconds: 900 });
  // A 1 GiB copy part by part on a busy local AWS can take minutes: give such requests time.
  const env = {
    ...process.env,
    LEDGER_TABLE: stack.ledgerTable,
    DR_POLICY_FILE: policyFile,
    REPLICATION_QUEUE_URL: stack.queueUrl,
    DR_S3_REQUEST_TIMEOUT_MS: '900000',
  };
  const s3 = new S3Client({ region: REGION, forcePathStyle: true });
  const sqs = new SQSClient({ region: REGION });
  // Events off while seeding: each case's messages are queued just before its run.
  await s3.send(new PutBucketNotificationConfigurationCommand({ Bucket: 'bench-src', NotificationConfiguration: {} }));
  for (const bucket of ['bench-rclone', 'bench-rclone-check', 'bench-awscli', 'bench-remote', 'bench-floor']) {
    await s3.send(
      new CreateBucketCommand({
        Bucket: bucket,
        ...(REGION === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: REGION as BucketLocationConstraint } }),
      }),
    );
    await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  }

  process.stderr.write('seeding ...\n');
  for (const c of cases) {
    let next = 0;
    const seedOne = async () => {
      while (next < c.count) {
        const i = next++;
        await s3.send(
          new PutObjectCommand({ Bucket: 'bench-src', Key: `${c.id}/obj-${String(i).padStart(5, '0')}.bin`, Body: body(c.size, i) }),
        );
      }
    };
    await Promise.all(Array.from({ length: 8 }, seedOne));
  }
  await s3.send(new CopyObjectCommand({ Bucket: 'bench-remote', Key: 'c/obj-00000.bin', CopySource: 'bench-src/c/obj-00000.bin' }));

  const queueKeys = async (bucket: string, keys: string[]) => {
    for (let i = 0; i < keys.length; i += 10) {
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: stack.queueUrl,
          Entries: keys
            .slice(i, i + 10)
            .map((key, j) => ({ Id: String(j), MessageBody: JSON.stringify({ reconcile: { bucket, keys: [key] } }) })),
        }),
      );
    }
  };
  /**
   * Runs one of this project's bench scripts (scripts/bench/<script>), which times itself and prints
   * one JSON line with its `ms` and `cpuSeconds`: the process's start (Node, TypeScript loading, a
   * handler's cold start) is left out, as a warm Lambda fleet would not pay it per batch.
   */
  const job = async (label: string, script: string, args: string[], c: { name: string; count: number; size: number }) => {
    const awsCpu = aws.cpuSeconds();
    await aws.resetRequests();
    const out = await timed(process.execPath, ['--import', 'tsx', join(projectRoot, 'scripts/bench', script), ...args], env);
    const localAwsCpuSeconds = aws.cpuSeconds() - awsCpu;
    const requests = await aws.requests();
    const result = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as { failed?: number; ms: number; cpuSeconds: number };
    const run: Run = {
      case: c.name,
      tool: label,
      seconds: result.ms / 1000,
      objects: c.count,
      bytes: c.count * c.size,
      peakRssMiB: out.peakRssMiB,
      cpuSeconds: result.cpuSeconds,
      localAwsCpuSeconds,
      requests,
    };
    return { run, out, failed: result.failed ?? 0 };
  };
  const engine = async (label: string, bucket: string, keys: string[], c: (typeof cases)[number]): Promise<Run> => {
    await queueKeys(bucket, keys);
    const { run, out, failed } = await job(
      label,
      'engine-run.ts',
      ['--queue-url', stack.queueUrl, '--queue-arn', stack.queueArn, '--region', REGION, '--concurrency', String(CONCURRENCY)],
      c,
    );
    // A failed attempt is retried (the message comes back); what counts is that nothing is left over.
    const dead = await new SqsDeadLetterQueue(sqs, stack.deadLetterQueueUrl).depth();
    if (dead > 0) {
      const errors = `${out.stdout}\n${out.stderr}`
        .split('\n')
        .filter((l) => l.includes('"error"'))
        .slice(0, 3);
      throw new Error(`${label}: ${dead} messages dead-lettered:\n${errors.join('\n')}`);
    }
    retriedAttempts.set(`${c.name} ${label}`, failed);
    return run; // from the first poll to an empty queue
  };
  // Local endpoints speak plain HTTP: a CA bundle from the machine's environment only gets in the way
  // (rclone refuses AWS_CA_BUNDLE on its HTTP transport).
  const { AWS_CA_BUNDLE: _caBundle, ...withoutCaBundle } = process.env;
  const rcloneEnv = {
    ...withoutCaBundle,
    RCLONE_CONFIG_MOTO_TYPE: 's3',
    RCLONE_CONFIG_MOTO_PROVIDER: 'Other',
    RCLONE_CONFIG_MOTO_ENDPOINT: aws.endpoint,
    RCLONE_CONFIG_MOTO_ACCESS_KEY_ID: 'local',
    RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY: 'local',
    RCLONE_CONFIG_MOTO_FORCE_PATH_STYLE: 'true',
  };
  const awsConfig = join(dir, 'aws-config');
  writeFileSync(awsConfig, `[default]\nregion = ${REGION}\ns3 =\n  max_concurrent_requests = ${CONCURRENCY}\n`);
  const awsEnv = awsCliEnv(process.env, { AWS_CONFIG_FILE: awsConfig });

  const runs: Run[] = [];
  const retriedAttempts = new Map<string, number>();
  for (const c of cases) {
    const keys = Array.from({ length: c.count }, (_, i) => `${c.id}/obj-${String(i).padStart(5, '0')}.bin`);
    process.stderr.write(`(${c.id}) ${c.name} ...\n`);
    /** One tool's run: its commands one after the other, timed, CPU and requests summed, peak RSS the highest. */
    const tool = async (label: string, commands: [command: string, args: string[], env: NodeJS.ProcessEnv][]): Promise<Run> => {
      const awsCpu = aws.cpuSeconds();
      await aws.resetRequests();
      const outs = [];
      for (const [command, args, toolEnv] of commands) outs.push(await timed(command, args, toolEnv));
      const localAwsCpuSeconds = aws.cpuSeconds() - awsCpu;
      const requests = await aws.requests();
      return {
        case: c.name,
        tool: label,
        seconds: outs.reduce((sum, o) => sum + o.seconds, 0),
        objects: c.count,
        bytes: c.count * c.size,
        peakRssMiB: Math.max(...outs.map((o) => o.peakRssMiB)),
        cpuSeconds: outs.reduce((sum, o) => sum + o.cpuSeconds, 0),
        localAwsCpuSeconds,
        requests,
      };
    };
    const rcloneArgs = (target: string) => [
      `moto:bench-src/${c.id}`,
      `moto:${target}/${c.id}`,
      '--transfers',
      String(CONCURRENCY),
      '--checkers',
      String(CONCURRENCY),
      '--s3-no-check-bucket',
    ];
    runs.push(await tool('rclone copy', [[RCLONE, ['copy', ...rcloneArgs('bench-rclone')], rcloneEnv]]));
    // The verifying peer a user would run: copy, then read both sides and compare their bytes.
    runs.push(
      await tool('rclone copy + check --download', [
        [RCLONE, ['copy', ...rcloneArgs('bench-rclone-check')], rcloneEnv],
        [RCLONE, ['check', '--download', ...rcloneArgs('bench-rclone-check')], rcloneEnv],
      ]),
    );
    runs.push(
      await tool('aws s3 sync', [
        [
          AWS_CLI,
          ['s3', 'sync', `s3://bench-src/${c.id}`, `s3://bench-awscli/${c.id}`, '--endpoint-url', aws.endpoint, '--only-show-errors'],
          awsEnv,
        ],
      ]),
    );
    runs.push(await engine('ai-data-dr (server-side)', 'bench-src', keys, c));
    // The floor: a SHA-256-verified copy and nothing else, with as many objects in flight as the engine.
    const floorArgs = [
      '--bucket',
      'bench-src',
      '--prefix',
      `${c.id}/`,
      '--target',
      'bench-floor',
      '--region',
      REGION,
      '--concurrency',
      String(CONCURRENCY * 10),
    ];
    runs.push((await job('floor: GET + SHA-256 + copy', 'verified-copy.ts', floorArgs, c)).run);
  }
  process.stderr.write('(c) streaming ...\n');
  runs.push(await engine('ai-data-dr (streamed)', 'bench-remote', ['c/obj-00000.bin'], cases[2]!));
  // The issue's memory bound is for a 2 GiB object: stream one too (no other tool runs this case).
  const big = { id: 'c2', name: `1 x ${Math.round(2048 * SCALE)} MiB`, count: 1, size: Math.round(2048 * SCALE) * MIB };
  process.stderr.write(`(c) streaming ${big.name} ...\n`);
  await seedInParts(s3, 'bench-remote', 'c/big.bin', big.size);
  runs.push(await engine('ai-data-dr (streamed)', 'bench-remote', ['c/big.bin'], big));

  // (d) A burst through the whole event path: S3 -> EventBridge -> SQS -> replicate -> ledger.
  process.stderr.write('(d) burst of writes ...\n');
  const burst = Math.round(1000 * SCALE);
  await s3.send(
    new PutBucketNotificationConfigurationCommand({ Bucket: 'bench-src', NotificationConfiguration: { EventBridgeConfiguration: {} } }),
  );
  let ready: () => void = () => undefined;
  const consumersReady = new Promise<void>((resolve) => (ready = resolve));
  const consumers = timed(
    process.execPath,
    [
      '--import',
      'tsx',
      join(projectRoot, 'scripts/bench/engine-run.ts'),
      '--queue-url',
      stack.queueUrl,
      '--queue-arn',
      stack.queueArn,
      '--region',
      REGION,
      '--concurrency',
      String(CONCURRENCY),
      '--expect',
      String(burst),
      '--timeout-ms',
      '300000',
    ],
    env,
    () => ready(),
  );
  await consumersReady;
  const writesStarted = Date.now();
  for (let i = 0; i < burst; i++) {
    const due = writesStarted + i * 10; // about 100 writes per second
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await s3.send(new PutObjectCommand({ Bucket: 'bench-src', Key: `d/burst-${String(i).padStart(5, '0')}.json`, Body: `{"i":${i}}` }));
  }
  const writeSeconds = (Date.now() - writesStarted) / 1000;
  await consumers;
  const ledger = new DynamoLedger(dynamoDocumentClient(), stack.ledgerTable);
  const replicated = await ledger.replicatedSince('d', new Date(writesStarted - 60_000), burst + 10);
  const lag = lagStats(replicated.map((r) => r.lagSeconds));

  const rcloneOf = (c: string) => runs.find((r) => r.case === c && r.tool === 'rclone copy');
  const verifyingPeerOf = (c: string) => runs.find((r) => r.case === c && r.tool === 'rclone copy + check --download');
  const header = [
    'case',
    'tool',
    'seconds',
    'objects/s',
    'MB/s',
    'peak RSS MiB',
    'CPU s tool + local AWS',
    'CPU ms/object',
    'objects/s vs rclone',
    'vs rclone copy + check',
  ];
  const rows = runs.map((r) => {
    const base = rcloneOf(r.case);
    return [
      r.case,
      r.tool,
      r.seconds.toFixed(2),
      (r.objects / r.seconds).toFixed(1),
      (r.bytes / 1e6 / r.seconds).toFixed(1),
      r.peakRssMiB.toFixed(0),
      `${r.cpuSeconds.toFixed(1)} + ${r.localAwsCpuSeconds.toFixed(1)}`,
      (((r.cpuSeconds + r.localAwsCpuSeconds) * 1000) / r.objects).toFixed(1),
      base ? `${(base.seconds / r.seconds).toFixed(2)}x` : '-',
      verifyingPeerOf(r.case) ? `${(verifyingPeerOf(r.case)!.seconds / r.seconds).toFixed(2)}x` : '-',
    ];
  });
  const width = (i: number) => Math.max(header[i]!.length, ...rows.map((r) => r[i]!.length));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(width(i))).join(' | ')} |`;
  console.log(line(header));
  console.log(line(header.map((_, i) => '-'.repeat(width(i)))));
  for (const r of rows) console.log(line(r));
  console.log(
    `\n(d) ${burst} writes in ${writeSeconds.toFixed(1)} s (${(burst / writeSeconds).toFixed(0)}/s) through S3 -> EventBridge -> SQS -> replicate -> ledger: ` +
      `${lag.count} verified; event-to-verified-replica latency p50 ${lag.p50?.toFixed(2)} s, p99 ${lag.p99?.toFixed(2)} s, max ${lag.max?.toFixed(2)} s`,
  );
  console.log('\nRequests per object, counted where the local AWS served them (the engine: S3, DynamoDB and its SQS polling):');
  for (const r of runs) {
    const perObject = (n: number) => (n / r.objects).toFixed(2);
    const services = ['s3', 'dynamodb', 'sqs']
      .map((service) => ({ service, ...countsOf(r.requests, service) }))
      .filter((s) => s.total > 0)
      .map(
        (s) =>
          `${s.service} ${perObject(s.total)} (${Object.entries(s.byOperation)
            .map(([op, n]) => `${op} ${perObject(n)}`)
            .join(', ')})`,
      );
    const total = Object.values(r.requests).reduce((a, b) => a + b, 0);
    console.log(`- ${r.case}, ${r.tool}: ${perObject(total)} in all; ${services.join('; ')}`);
  }
  const retried = [...retriedAttempts].filter(([, n]) => n > 0);
  if (retried.length > 0) console.log(`\nAttempts retried (then replicated): ${retried.map(([k, n]) => `${k}: ${n}`).join('; ')}`);
  console.log(
    `\nCPU: the tool's process (the engine's over the timed span) plus the local AWS's over the same run; this machine has ${availableParallelism()} cores.`,
  );
  console.log(
    `\nConcurrency ${CONCURRENCY} for every tool (rclone --transfers/--checkers, aws s3 max_concurrent_requests, ` +
      `${CONCURRENCY} pollers x batches of 10 for the engine, parts ${CONCURRENCY} at a time). Node ${process.version}.`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
