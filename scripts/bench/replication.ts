/**
 * `npm run bench:replication`: this project's replication engine against `rclone copy`, the
 * verifying peer `rclone copy` + `rclone check --download` (reads both sides), `aws s3 sync`
 * (Debian packages rclone and awscli: `apt-get install rclone awscli`) and a floor (GET, SHA-256,
 * copy), at the same concurrency, on freshly seeded keys:
 *   (a) 2,000 objects of 64 KiB   (b) 200 objects of 8 MiB   (c) one object of 1 GiB
 * Each case runs `--reps` times (default 3); within a repetition the tools run one after the other,
 * their order rotated from one repetition to the next, and every repetition seeds fresh source keys
 * (so no tool, and not the engine's ledger, finds its work done) and removes them afterwards.
 * The S3 side runs on the local AWS (moto, one Python process) and on SeaweedFS, a multi-threaded
 * S3 server (`--s3 moto|seaweedfs|both`, default both); DynamoDB and SQS stay on moto. SeaweedFS's
 * requests are counted by a proxy in front of it (scripts/local-aws/counting-proxy.ts).
 * Also, once: (c) through the streaming path (a source on "another endpoint": read and
 * re-uploaded), and for a 2 GiB object (the memory bound: under 256 MiB peak RSS); (d) a burst of
 * 1,000 writes at about 100 per second through the whole event path, on moto.
 * Prints per tool and case: objects/s as median and range, its ratio to the verifying peer and to
 * rclone copy in the same repetition, CPU per object of the tool and of each server, requests and
 * bytes read per object; per tool, the requests, sequential round trips and bytes read of one new
 * version alone; and the cost line (cost.ts).
 * Usage: npm run bench:replication [-- --concurrency 8] [--scale 1] [--reps 3] [--s3 both] [--cases a,b,c,d]
 *   (scale < 1 shrinks every case; --cases picks cases: c includes the streamed runs, d the burst)
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteObjectsCommand,
  ListObjectVersionsCommand,
  PutBucketNotificationConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type PutObjectCommandOutput,
  S3Client,
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
import { startCountingProxy } from '../local-aws/counting-proxy.js';
import { countsOf, processCpuSeconds, type RequestCounter, type RequestCounts, startLocalAws } from '../local-aws/server.js';
import { deployLocalStack } from '../local-aws/stack.js';
import { projectRoot } from '../local-aws/venv.js';
import { SEAWEEDFS_CAPACITY_BYTES, startSeaweedfs } from '../local-engines/seaweedfs-server.js';
import {
  ASSUMPTIONS,
  crrCostPerVersion,
  engineCostPerVersion,
  type PerVersion,
  PRICES,
  replicateFunctionSettings,
  rtcCostPerVersion,
  total,
} from './cost.js';
import { median, medianAndRange, sequentialRoundTrips } from './stats.js';
import { AWS_CLI, awsCliEnv, RCLONE, requireTools, TIME_COMMAND, timed } from './timed.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const CONCURRENCY = Number(arg('concurrency', '8'));
const SCALE = Number(arg('scale', '1'));
const REPS = Number(arg('reps', '3'));
const S3_SERVERS = { moto: ['moto'], seaweedfs: ['seaweedfs'], both: ['moto', 'seaweedfs'] }[arg('s3', 'both')];
if (!S3_SERVERS) throw new Error('--s3 must be moto, seaweedfs or both');
const CASES = arg('cases', 'a,b,c,d').split(',');
const KIB = 1024;
const MIB = 1024 * KIB;
const REGION = 'us-east-1';
const BATCH_SIZE = 10;
/** The duplicate-heavy stream of the cost line: each version's event delivered this many times. */
const DELIVERIES = 3;
const PEER = 'rclone copy + check --download';
const RCLONE_COPY = 'rclone copy';
const ENGINE = 'ai-data-dr (server-side)';
const DUPLICATE = 'ai-data-dr: each event again (duplicates)';
/**
 * What SeaweedFS as startSeaweedfs() runs it can hold (data deleted between repetitions is not
 * reclaimed until a vacuum): a case that would not fit is left out on SeaweedFS, with a note.
 */
const SEAWEEDFS_BYTES = SEAWEEDFS_CAPACITY_BYTES;
/** The buckets the tools copy into (the engine: the replica bucket of the policy). */
const TARGETS = ['bench-rclone', 'bench-rclone-check', 'bench-awscli', 'bench-floor', 'bench-replica'];

interface Case {
  id: string;
  name: string;
  count: number;
  size: number;
}
const cases: Case[] = [
  { id: 'a', name: `${Math.round(2000 * SCALE)} x 64 KiB`, count: Math.round(2000 * SCALE), size: 64 * KIB },
  { id: 'b', name: `${Math.round(200 * SCALE)} x 8 MiB`, count: Math.round(200 * SCALE), size: 8 * MIB },
  { id: 'c', name: `1 x ${Math.round(1024 * SCALE)} MiB`, count: 1, size: Math.round(1024 * SCALE) * MIB },
].filter((c) => CASES.includes(c.id));

/** An S3 server the tools run against, and what counts and measures the requests they cause. */
interface S3Server {
  name: string;
  endpoint: string;
  s3: S3Client;
  /** Who counts the requests: the local AWS (everything on moto; DynamoDB and SQS), the proxy (SeaweedFS's S3). */
  counters: RequestCounter[];
  /** CPU seconds so far of each process that serves the tools' requests. */
  cpu: Record<string, () => number>;
  /** The environment of the engine and the floor: the S3 endpoint apart from the rest (AWS_ENDPOINT_URL_S3). */
  env: NodeJS.ProcessEnv;
  rcloneEnv: NodeJS.ProcessEnv;
  awsEnv: NodeJS.ProcessEnv;
}

/** What a tool's processes report: time, CPU, peak RSS. */
interface Measured {
  seconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
  /** What a bench script wrote (for the errors of a run that dead-lettered messages). */
  log?: string;
}

interface Run extends Measured {
  server: string;
  case: Case;
  tool: string;
  rep: number;
  /** CPU seconds of each server process over the run. */
  serverCpu: Record<string, number>;
  /** Requests the servers served over the run, by "<service> <Operation>", and their response bodies' bytes. */
  requests: RequestCounts;
  responseBytes: RequestCounts;
  /** Sequential round trips (stats.ts), SQS left out: measured for the lone-version runs only. */
  roundTrips?: number;
}

function body(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 4096) b.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  return b;
}

const sumCounts = (all: RequestCounts[]): RequestCounts => {
  const sum: RequestCounts = {};
  for (const counts of all) for (const [key, n] of Object.entries(counts)) sum[key] = (sum[key] ?? 0) + n;
  return sum;
};
const cpuOfThisProcess = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};

/** The pid of this process's child named `name` (startSeaweedfs keeps its process to itself). */
function childPid(name: string): number {
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [comm, rest] = [stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), stat.slice(stat.lastIndexOf(')') + 2)];
      if (comm === name && Number(rest.split(' ')[1]) === process.pid) return Number(entry);
    } catch {
      // the process ended meanwhile
    }
  }
  throw new Error(`no child process ${name}`);
}

/** An EventBridge "Object Created" event for a version just written, as S3 sends it. */
let sequencer = 0;
function objectCreated(bucket: string, key: string, size: number, put: PutObjectCommandOutput): string {
  return JSON.stringify({
    version: '0',
    id: randomUUID(),
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: '123456789012',
    time: new Date().toISOString(),
    region: REGION,
    resources: [`arn:aws:s3:::${bucket}`],
    detail: {
      version: '0',
      bucket: { name: bucket },
      object: {
        key,
        size,
        etag: put.ETag?.replaceAll('"', ''),
        'version-id': put.VersionId,
        sequencer: (++sequencer).toString(16).toUpperCase().padStart(18, '0'),
      },
      'request-id': randomUUID(),
      requester: '123456789012',
      'source-ip-address': '127.0.0.1',
      reason: 'PutObject',
    },
  });
}

async function main() {
  requireTools(AWS_CLI, RCLONE, TIME_COMMAND);
  const stops: (() => Promise<void>)[] = [];
  try {
    const aws = await startLocalAws();
    stops.unshift(() => aws.stop());
    let seaweed: { endpoint: string; weedPid: number; counter: RequestCounter } | undefined;
    if (S3_SERVERS!.includes('seaweedfs')) {
      const weed = await startSeaweedfs();
      stops.unshift(() => weed.stop());
      const proxy = await startCountingProxy(weed.endpoint);
      stops.unshift(() => proxy.stop());
      seaweed = { endpoint: proxy.endpoint, weedPid: childPid('weed'), counter: proxy };
    }
    await run(aws, seaweed);
  } finally {
    for (const stop of stops) await stop();
  }
}

async function run(
  aws: Awaited<ReturnType<typeof startLocalAws>>,
  seaweed: { endpoint: string; weedPid: number; counter: RequestCounter } | undefined,
) {
  const wallStarted = Date.now();
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
replication: { maxReceiveCount: 5, batchSize: ${BATCH_SIZE}, timeoutSeconds: 900, partConcurrency: ${CONCURRENCY} }
# Locked as the stack locks by default (every write carries its retention), in GOVERNANCE mode so
# that the bench can remove each repetition's copies again (with the bypass) and stay in memory.
objectLock: { critical: { mode: GOVERNANCE, days: 1 }, high: { mode: GOVERNANCE, days: 1 }, standard: { mode: GOVERNANCE, days: 1 } }
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
  const sqs = new SQSClient({ region: REGION });
  const awsConfig = join(dir, 'aws-config');
  writeFileSync(awsConfig, `[default]\nregion = ${REGION}\ns3 =\n  max_concurrent_requests = ${CONCURRENCY}\n`);
  // Local endpoints speak plain HTTP: a CA bundle from the machine's environment only gets in the way
  // (rclone refuses AWS_CA_BUNDLE on its HTTP transport).
  const { AWS_CA_BUNDLE: _caBundle, ...withoutCaBundle } = process.env;
  const serverOf = (name: string, endpoint: string, counters: RequestCounter[], cpu: Record<string, () => number>): S3Server => ({
    name,
    endpoint,
    s3: new S3Client({ region: REGION, endpoint, forcePathStyle: true }),
    counters,
    cpu,
    env: { ...env, AWS_ENDPOINT_URL_S3: endpoint },
    rcloneEnv: {
      ...withoutCaBundle,
      RCLONE_CONFIG_BENCH_TYPE: 's3',
      RCLONE_CONFIG_BENCH_PROVIDER: 'Other',
      RCLONE_CONFIG_BENCH_ENDPOINT: endpoint,
      RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: 'local',
      RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: 'local',
      RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: 'true',
    },
    awsEnv: awsCliEnv(process.env, { AWS_CONFIG_FILE: awsConfig }),
  });
  const servers: S3Server[] = [];
  if (S3_SERVERS!.includes('moto')) servers.push(serverOf('moto', aws.endpoint, [aws], { moto: () => aws.cpuSeconds() }));
  if (seaweed) {
    servers.push(
      serverOf('seaweedfs', seaweed.endpoint, [seaweed.counter, aws], {
        weed: () => processCpuSeconds(seaweed.weedPid),
        // The proxy runs in this process, which otherwise only waits for the tool.
        proxy: cpuOfThisProcess,
        moto: () => aws.cpuSeconds(),
      }),
    );
  }
  const motoS3 = new S3Client({ region: REGION, forcePathStyle: true });
  await motoS3.send(new PutBucketNotificationConfigurationCommand({ Bucket: 'bench-src', NotificationConfiguration: {} }));
  for (const server of servers) {
    // On moto the stack made the source and replica buckets; on SeaweedFS the bench makes them.
    const buckets = server.name === 'moto' ? [...TARGETS.filter((b) => b !== 'bench-replica'), 'bench-remote'] : ['bench-src', ...TARGETS];
    for (const bucket of buckets) {
      await server.s3.send(new CreateBucketCommand({ Bucket: bucket }));
      await server.s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    }
  }

  /** Writes `count` fresh objects under `prefix` of the source bucket; returns their "Object Created" events. */
  const seed = async (server: S3Server, prefix: string, c: Case): Promise<string[]> => {
    const events: string[] = [];
    let next = 0;
    const seedOne = async () => {
      while (next < c.count) {
        const i = next++;
        const key = `${prefix}obj-${String(i).padStart(5, '0')}.bin`;
        const put = await server.s3.send(new PutObjectCommand({ Bucket: 'bench-src', Key: key, Body: body(c.size, i) }));
        events[i] = objectCreated('bench-src', key, c.size, put);
      }
    };
    await Promise.all(Array.from({ length: 8 }, seedOne));
    return events;
  };
  /** Removes every version under `prefix` from the source and the target buckets (the servers keep objects in memory or on disk). */
  const removeAll = async (server: S3Server, prefix: string) => {
    for (const bucket of ['bench-src', ...TARGETS]) {
      for (;;) {
        const page = await server.s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, MaxKeys: 1000 }));
        const objects = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((v) => ({ Key: v.Key!, VersionId: v.VersionId }));
        if (objects.length === 0) break;
        const { Errors = [] } = await server.s3.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, Quiet: true }, BypassGovernanceRetention: true }),
        );
        if (Errors.length > 0) throw new Error(`bench: cannot remove ${prefix} from ${bucket}: ${Errors[0]!.Code} ${Errors[0]!.Message}`);
      }
    }
  };
  const queue = async (events: string[]) => {
    for (let i = 0; i < events.length; i += 10) {
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: stack.queueUrl,
          Entries: events.slice(i, i + 10).map((MessageBody, j) => ({ Id: String(j), MessageBody })),
        }),
      );
    }
  };

  /** One measured run: the servers' CPU and their counted requests over `work`. */
  const measure = async (
    server: S3Server,
    what: { case: Case; tool: string; rep: number },
    work: () => Promise<Measured>,
    { roundTrips = false, prepare }: { roundTrips?: boolean; prepare?: () => Promise<void> } = {},
  ): Promise<Run> => {
    await prepare?.(); // not counted: e.g. the events' delivery to the queue
    await Promise.all(server.counters.map((c) => c.resetRequests()));
    const cpuBefore = Object.fromEntries(Object.entries(server.cpu).map(([name, cpu]) => [name, cpu()]));
    const measured = await work();
    const serverCpu = Object.fromEntries(Object.entries(server.cpu).map(([name, cpu]) => [name, cpu() - cpuBefore[name]!]));
    const requests = sumCounts(await Promise.all(server.counters.map((c) => c.requests())));
    const responseBytes = sumCounts(await Promise.all(server.counters.map((c) => c.responseBytes())));
    const timeline = roundTrips ? (await Promise.all(server.counters.map((c) => c.timeline()))).flat() : [];
    // A failed attempt is retried (the message comes back); what counts is that nothing is left over.
    const dead = await new SqsDeadLetterQueue(sqs, stack.deadLetterQueueUrl).depth();
    if (dead > 0) {
      const errors = (measured.log ?? '').split('\n').filter((l) => l.includes('"error"'));
      throw new Error(`${server.name} ${what.tool}: ${dead} messages dead-lettered:\n${errors.slice(0, 3).join('\n')}`);
    }
    return {
      server: server.name,
      ...what,
      ...measured,
      serverCpu,
      requests,
      responseBytes,
      ...(roundTrips && { roundTrips: sequentialRoundTrips(timeline.filter((r) => r.service !== 'sqs')) }),
    };
  };
  /** Commands one after the other: times and CPU summed, peak RSS the highest. */
  const commands = async (list: [command: string, args: string[], env: NodeJS.ProcessEnv][]): Promise<Measured> => {
    const outs = [];
    for (const [command, args, toolEnv] of list) outs.push(await timed(command, args, toolEnv));
    return {
      seconds: outs.reduce((sum, o) => sum + o.seconds, 0),
      cpuSeconds: outs.reduce((sum, o) => sum + o.cpuSeconds, 0),
      peakRssMiB: Math.max(...outs.map((o) => o.peakRssMiB)),
    };
  };
  /**
   * One of this project's bench scripts (scripts/bench/<script>), which times itself and prints one
   * JSON line with its `ms` and `cpuSeconds`: the process's start (Node, TypeScript loading, a
   * handler's cold start) is left out, as a warm Lambda fleet would not pay it per batch.
   */
  const retriedAttempts = new Map<string, number>();
  const job = async (label: string, script: string, args: string[], jobEnv: NodeJS.ProcessEnv): Promise<Measured> => {
    const out = await timed(process.execPath, ['--import', 'tsx', join(projectRoot, 'scripts/bench', script), ...args], jobEnv);
    const result = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as { failed?: number; ms: number; cpuSeconds: number };
    if (result.failed) retriedAttempts.set(label, (retriedAttempts.get(label) ?? 0) + result.failed);
    return { seconds: result.ms / 1000, cpuSeconds: result.cpuSeconds, peakRssMiB: out.peakRssMiB, log: `${out.stdout}\n${out.stderr}` };
  };
  const engineArgs = (extra: string[] = []) => [
    '--queue-url',
    stack.queueUrl,
    '--queue-arn',
    stack.queueArn,
    '--region',
    REGION,
    '--concurrency',
    String(CONCURRENCY),
    ...extra,
  ];
  /** The engine as Lambda drives it, once its events are queued: pollers until the queue is empty (timed from the first poll). */
  const engine = (label: string, server: S3Server) => job(label, 'engine-run.ts', engineArgs(), server.env);

  /** The tools, each copying `prefix` of the source bucket into its own bucket. */
  const rcloneArgs = (prefix: string, target: string) => [
    `bench:bench-src/${prefix}`,
    `bench:${target}/${prefix}`,
    '--transfers',
    String(CONCURRENCY),
    '--checkers',
    String(CONCURRENCY),
    '--s3-no-check-bucket',
  ];
  const tools: {
    name: string;
    /** What must be in place before the run, not counted (the engine: its events in the queue). */
    prepare?: (events: string[]) => Promise<void>;
    run: (server: S3Server, prefix: string) => Promise<Measured>;
  }[] = [
    { name: RCLONE_COPY, run: (s, prefix) => commands([[RCLONE, ['copy', ...rcloneArgs(prefix, 'bench-rclone')], s.rcloneEnv]]) },
    {
      // The verifying peer a user would run: copy, then read both sides and compare their bytes.
      name: PEER,
      run: (s, prefix) =>
        commands([
          [RCLONE, ['copy', ...rcloneArgs(prefix, 'bench-rclone-check')], s.rcloneEnv],
          [RCLONE, ['check', '--download', ...rcloneArgs(prefix, 'bench-rclone-check')], s.rcloneEnv],
        ]),
    },
    {
      name: 'aws s3 sync',
      run: (s, prefix) =>
        commands([
          [
            AWS_CLI,
            ['s3', 'sync', `s3://bench-src/${prefix}`, `s3://bench-awscli/${prefix}`, '--endpoint-url', s.endpoint, '--only-show-errors'],
            s.awsEnv,
          ],
        ]),
    },
    { name: ENGINE, prepare: queue, run: (s) => engine(`${s.name} ${ENGINE}`, s) },
    {
      // The floor: a SHA-256-verified copy and nothing else, with as many objects in flight as the engine.
      name: 'floor: GET + SHA-256 + copy',
      run: (s, prefix) =>
        job(
          'floor',
          'verified-copy.ts',
          [
            '--bucket',
            'bench-src',
            '--prefix',
            prefix,
            '--target',
            'bench-floor',
            '--region',
            REGION,
            '--concurrency',
            String(CONCURRENCY * 10),
          ],
          s.env,
        ),
    },
  ];

  const runs: Run[] = [];
  const lone: Run[] = [];
  const notes: string[] = [];
  for (const server of servers) {
    // One new small version alone, per tool (and the same event once more through the engine):
    // requests, sequential round trips and bytes read of a single version.
    process.stderr.write(`[${server.name}] one version alone ...\n`);
    const one: Case = { id: 'a', name: '1 x 64 KiB', count: 1, size: 64 * KIB };
    const lonePrefix = `a/${server.name}-lone/`;
    const loneEvents = await seed(server, lonePrefix, one);
    for (const tool of tools) {
      const prepare = tool.prepare && (() => tool.prepare!(loneEvents));
      lone.push(
        await measure(server, { case: one, tool: tool.name, rep: 1 }, () => tool.run(server, lonePrefix), { roundTrips: true, prepare }),
      );
    }
    const duplicates = () => engine(`${server.name} ${DUPLICATE}`, server);
    lone.push(
      await measure(server, { case: one, tool: DUPLICATE, rep: 1 }, duplicates, { roundTrips: true, prepare: () => queue(loneEvents) }),
    );
    await removeAll(server, lonePrefix);

    for (const c of cases) {
      // The source and one copy per tool, every repetition (nothing is reclaimed before a vacuum).
      const bytes = (1 + tools.length) * c.count * c.size * REPS;
      if (server.name === 'seaweedfs' && bytes > SEAWEEDFS_BYTES * 0.75) {
        notes.push(
          `SeaweedFS: (${c.id}) ${c.name} left out: ${REPS} repetitions need ${(bytes / MIB).toFixed(0)} MiB, it holds ${SEAWEEDFS_BYTES / MIB} MiB`,
        );
        continue;
      }
      for (let rep = 1; rep <= REPS; rep++) {
        process.stderr.write(`[${server.name}] (${c.id}) ${c.name}, repetition ${rep} of ${REPS} ...\n`);
        const prefix = `${c.id}/${server.name}-r${rep}/`; // fresh keys: nothing is done already
        const events = await seed(server, prefix, c);
        const order = tools.map((_, i) => tools[(i + rep - 1) % tools.length]!);
        for (const tool of order) {
          const prepare = tool.prepare && (() => tool.prepare!(events));
          runs.push(await measure(server, { case: c, tool: tool.name, rep }, () => tool.run(server, prefix), { prepare }));
        }
        // Duplicates for the cost line: every small version's event once more, after it was replicated.
        if (c.id === 'a') runs.push(await measure(server, { case: c, tool: DUPLICATE, rep }, duplicates, { prepare: () => queue(events) }));
        await removeAll(server, prefix);
      }
    }
  }

  const moto = servers.find((s) => s.name === 'moto');
  if (CASES.includes('c') && moto) {
    // The streaming path, once each, on moto: a source on "another endpoint" is read and re-uploaded.
    const streamed = 'ai-data-dr (streamed)';
    for (const size of [Math.round(1024 * SCALE) * MIB, Math.round(2048 * SCALE) * MIB]) {
      const c: Case = { id: 'c', name: `1 x ${size / MIB} MiB`, count: 1, size };
      process.stderr.write(`[moto] (c) streaming ${c.name} ...\n`);
      const key = `c/streamed-${size / MIB}.bin`;
      const put = await seedInParts(motoS3, 'bench-remote', key, size);
      const prepare = () => queue([objectCreated('bench-remote', key, size, put)]);
      runs.push(await measure(moto, { case: c, tool: streamed, rep: 1 }, () => engine(streamed, moto), { prepare }));
    }
  }
  const burst = CASES.includes('d') && moto ? await burstThroughEventPath() : undefined;

  printResults(runs, lone, servers, burst, (Date.now() - wallStarted) / 1000);

  /** (d) A burst through the whole event path: S3 -> EventBridge -> SQS -> replicate -> ledger, with its latency from the ledger. */
  async function burstThroughEventPath() {
    process.stderr.write('[moto] (d) burst of writes ...\n');
    const count = Math.round(1000 * SCALE);
    await motoS3.send(
      new PutBucketNotificationConfigurationCommand({ Bucket: 'bench-src', NotificationConfiguration: { EventBridgeConfiguration: {} } }),
    );
    let ready: () => void = () => undefined;
    const consumersReady = new Promise<void>((resolve) => (ready = resolve));
    const engineScript = join(projectRoot, 'scripts/bench/engine-run.ts');
    const consumers = timed(
      process.execPath,
      ['--import', 'tsx', engineScript, ...engineArgs(['--expect', String(count), '--timeout-ms', '300000'])],
      env,
      () => ready(),
    );
    await consumersReady;
    const writesStarted = Date.now();
    for (let i = 0; i < count; i++) {
      const due = writesStarted + i * 10; // about 100 writes per second
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await motoS3.send(
        new PutObjectCommand({ Bucket: 'bench-src', Key: `d/burst-${String(i).padStart(5, '0')}.json`, Body: `{"i":${i}}` }),
      );
    }
    const writeSeconds = (Date.now() - writesStarted) / 1000;
    await consumers;
    const ledger = new DynamoLedger(dynamoDocumentClient(), stack.ledgerTable);
    const replicated = await ledger.replicatedSince('d', new Date(writesStarted - 60_000), count + 10);
    return { count, writeSeconds, lag: lagStats(replicated.map((r) => r.lagSeconds)) };
  }

  function printResults(
    all: Run[],
    alone: Run[],
    measuredOn: S3Server[],
    burstResult: Awaited<ReturnType<typeof burstThroughEventPath>> | undefined,
    wallSeconds: number,
  ) {
    const table = (header: string[], rows: string[][]) => {
      const width = (i: number) => Math.max(header[i]!.length, ...rows.map((r) => r[i]!.length));
      const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(width(i))).join(' | ')} |`;
      console.log([line(header), line(header.map((_, i) => '-'.repeat(width(i)))), ...rows.map(line)].join('\n'));
    };
    const sumOf = (counts: RequestCounts) => Object.values(counts).reduce((a, b) => a + b, 0);
    const bytesRead = (r: Run) => r.responseBytes['s3 GetObject'] ?? 0;
    const groups = new Map<string, Run[]>();
    for (const r of all)
      groups.set(`${r.server}|${r.case.name}|${r.tool}`, [...(groups.get(`${r.server}|${r.case.name}|${r.tool}`) ?? []), r]);
    /** The tool's objects/s over the other's in each repetition both ran. */
    const ratios = (rs: Run[], other: string) =>
      rs.flatMap((r) => {
        const o = all.find((x) => x.server === r.server && x.case.name === r.case.name && x.tool === other && x.rep === r.rep);
        return o ? [o.seconds / r.seconds] : [];
      });
    const ratio = (values: number[]) => (values.length ? medianAndRange(values, 2, 'x') : '-');

    console.log(`\nobjects/s and ratios: median (min–max) over ${REPS} repetitions; per object: over all repetitions.\n`);
    table(
      [
        'S3',
        'case',
        'tool',
        'objects/s',
        'vs rclone copy + check',
        'vs rclone copy',
        'MB/s',
        'peak RSS MiB',
        'CPU ms/object: tool + servers',
        'requests/object',
        'bytes read/object',
      ],
      [...groups.values()].map((rs) => {
        const r0 = rs[0]!;
        const objects = rs.reduce((n, r) => n + r.case.count, 0);
        const perObjectMs = (seconds: number) => ((seconds * 1000) / objects).toFixed(1);
        const serverCpu = Object.keys(r0.serverCpu)
          .map((name) => `${name} ${perObjectMs(rs.reduce((s, r) => s + r.serverCpu[name]!, 0))}`)
          .join(' + ');
        return [
          r0.server,
          r0.case.name,
          r0.tool,
          medianAndRange(rs.map((r) => r.case.count / r.seconds)),
          ratio(r0.tool === DUPLICATE ? [] : ratios(rs, PEER)),
          ratio(r0.tool === DUPLICATE ? [] : ratios(rs, RCLONE_COPY)),
          median(rs.map((r) => (r.case.count * r.case.size) / 1e6 / r.seconds)).toFixed(1),
          Math.max(...rs.map((r) => r.peakRssMiB)).toFixed(0),
          `${perObjectMs(rs.reduce((s, r) => s + r.cpuSeconds, 0))} + ${serverCpu}`,
          (rs.reduce((n, r) => n + sumOf(r.requests), 0) / objects).toFixed(2),
          `${(rs.reduce((n, r) => n + bytesRead(r), 0) / objects / r0.case.size).toFixed(2)}x size`,
        ];
      }),
    );

    console.log('\nRequests per object by service and operation (all repetitions; the engine: S3, DynamoDB and its SQS polling):');
    for (const rs of groups.values()) {
      const objects = rs.reduce((n, r) => n + r.case.count, 0);
      console.log(`- ${rs[0]!.server}, ${rs[0]!.case.name}, ${rs[0]!.tool}: ${byService(sumCounts(rs.map((r) => r.requests)), objects)}`);
    }

    console.log('\nOne new 64 KiB version alone, per tool (the duplicate: its event once more, after it was replicated):');
    table(
      ['S3', 'tool', 'requests', 'sequential round trips (no SQS)', 'bytes read'],
      alone.map((r) => [r.server, r.tool, byService(r.requests, 1), String(r.roundTrips), String(bytesRead(r))]),
    );

    for (const server of measuredOn) printCost(server.name, all, alone);
    const lambda = replicateFunctionSettings(BATCH_SIZE);
    console.log('\nPrices (read 2026-12-02; check them, see scripts/bench/cost.ts):');
    for (const p of Object.values(PRICES)) console.log(`- $${p.usd < 0.001 ? p.usd.toExponential(4) : p.usd} per ${p.unit}: ${p.source}`);
    console.log(
      `Assumptions: Lambda CPU share ${lambda.memoryMb}/${ASSUMPTIONS.fullVcpuMb} of a vCPU (CPU seconds measured here divided by it); ` +
        `${ASSUMPTIONS.roundTripSeconds * 1000} ms per sequential round trip, the batch's records in parallel; ` +
        `${ASSUMPTIONS.deliverySqsRequests} SQS request per event delivered; DynamoDB items under 1 KB; storage left out (the same for both).`,
    );

    if (burstResult) {
      const { count, writeSeconds, lag } = burstResult;
      console.log(
        `\n(d) ${count} writes in ${writeSeconds.toFixed(1)} s (${(count / writeSeconds).toFixed(0)}/s) through S3 -> EventBridge -> SQS -> replicate -> ledger (moto): ` +
          `${lag.count} verified; event-to-verified-replica latency p50 ${lag.p50?.toFixed(2)} s, p99 ${lag.p99?.toFixed(2)} s, max ${lag.max?.toFixed(2)} s`,
      );
    }
    for (const note of notes) console.log(`\n${note}`);
    const retried = [...retriedAttempts].filter(([, n]) => n > 0);
    if (retried.length > 0) console.log(`\nAttempts retried (then replicated): ${retried.map(([k, n]) => `${k}: ${n}`).join('; ')}`);
    console.log(
      `\nCPU: the tool's process (the engine's and the floor's over their timed span) and each server process over the same run ` +
        `(on SeaweedFS: weed, the counting proxy in the bench's own process, moto for DynamoDB and SQS); this machine has ${availableParallelism()} cores.`,
    );
    console.log(
      `Concurrency ${CONCURRENCY} for every tool (rclone --transfers/--checkers, aws s3 max_concurrent_requests, ` +
        `${CONCURRENCY} pollers x batches of ${BATCH_SIZE} for the engine, parts ${CONCURRENCY} at a time; the floor ${CONCURRENCY * 10} objects in flight). ` +
        `Node ${process.version}. Wall time ${(wallSeconds / 60).toFixed(1)} min.`,
    );
  }

  /** The cost line for one S3 server's counts: the engine's small versions and duplicates, beside S3 CRR. */
  function printCost(serverName: string, all: Run[], alone: Run[]) {
    const size = 64 * KIB;
    const perVersion = (tool: string): PerVersion | undefined => {
      const rs = all.filter((r) => r.server === serverName && r.case.id === 'a' && r.tool === tool);
      const loneRun = alone.find((r) => r.server === serverName && r.tool === tool);
      if (rs.length === 0 || !loneRun) return undefined;
      const versions = rs.reduce((n, r) => n + r.case.count, 0);
      const requests = Object.fromEntries(Object.entries(sumCounts(rs.map((r) => r.requests))).map(([k, n]) => [k, n / versions]));
      return {
        requests,
        bytesRead: rs.reduce((n, r) => n + (r.responseBytes['s3 GetObject'] ?? 0), 0) / versions,
        bytesCopied: ((requests['s3 CopyObject'] ?? 0) + (requests['s3 PutObject'] ?? 0)) * size,
        cpuSeconds: median(rs.map((r) => r.cpuSeconds / r.case.count)),
        roundTrips: loneRun.roundTrips!,
      };
    };
    const original = perVersion(ENGINE);
    const duplicate = perVersion(DUPLICATE);
    if (!original || !duplicate) return;
    const lambda = replicateFunctionSettings(BATCH_SIZE);
    const million = (usd: number) => `$${(usd * 1e6).toFixed(2)}`;
    const parts = (p: Record<string, number>) =>
      Object.entries(p)
        .map(([k, v]) => `${k} ${million(v)}`)
        .join(', ');
    const engineCost = engineCostPerVersion(original, lambda);
    const duplicateCost = engineCostPerVersion(duplicate, lambda);
    const crr = crrCostPerVersion(size);
    console.log(
      `\nCost per million replicated 64 KiB versions, from the requests counted on ${serverName} ` +
        `(replicate: ${lambda.memoryMb} MB ${lambda.architecture} per serverless.yml, batches of ${lambda.batchSize}; the stack in the DR region):`,
    );
    console.log(`- ai-data-dr: ${million(total(engineCost))} (${parts(engineCost)})`);
    console.log(
      `- S3 Cross-Region Replication: ${million(total(crr))} (${parts(crr)}); with Replication Time Control ${million(rtcCostPerVersion(size))} more`,
    );
    console.log(
      `- each event delivered ${DELIVERIES} times (a duplicate costs ${million(total(duplicateCost))} per million, measured: ${parts(duplicateCost)}): ` +
        `ai-data-dr ${million(total(engineCost) + (DELIVERIES - 1) * total(duplicateCost))}, S3 CRR ${million(total(crr))} (it sees no events)`,
    );
    console.log(
      `  engine per version: ${(original.cpuSeconds * 1000).toFixed(2)} ms CPU, ` +
        `${original.roundTrips} round trips, ${(original.bytesRead / KIB).toFixed(0)} KiB read; per duplicate: ${(duplicate.cpuSeconds * 1000).toFixed(2)} ms CPU, ${duplicate.roundTrips} round trips`,
    );
  }
}

/** "<total> in all; <service> <n> (<operation> <n>, ...); ..." per object. */
function byService(requests: RequestCounts, objects: number): string {
  const per = (n: number) => (n / objects).toFixed(2);
  const services = ['s3', 'dynamodb', 'sqs']
    .map((service) => ({ service, ...countsOf(requests, service) }))
    .filter((s) => s.total > 0)
    .map(
      (s) =>
        `${s.service} ${per(s.total)} (${Object.entries(s.byOperation)
          .map(([op, n]) => `${op} ${per(n)}`)
          .join(', ')})`,
    );
  return `${per(Object.values(requests).reduce((a, b) => a + b, 0))} in all; ${services.join('; ')}`;
}

/** Writes an object of `size` bytes as a multipart upload of 64 MiB parts, so no process holds all of it. */
async function seedInParts(s3: S3Client, bucket: string, key: string, size: number): Promise<PutObjectCommandOutput> {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const parts = [];
  for (let start = 0, n = 1; start < size; start += 64 * MIB, n++) {
    const { ETag } = await s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: n, Body: body(Math.min(64 * MIB, size - start), n) }),
    );
    parts.push({ PartNumber: n, ETag });
  }
  const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
  return { ETag: done.ETag, VersionId: done.VersionId, $metadata: done.$metadata };
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
