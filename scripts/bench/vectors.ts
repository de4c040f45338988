/**
 * `npm run bench:vectors`: snapshot throughput and peak RSS of snapshot-vectors on each engine that
 * runs here (LanceDB, pgvector on PGlite, Chroma, S3 Vectors on the local AWS, Weaviate), beside that
 * engine's own fastest export or copy measured in the same run:
 *   LanceDB: a copy of the dataset directory, compacted by its optimize, into the DR bucket (`aws s3 cp --recursive`; also `cp -r`)
 *   Chroma: a copy of its data directory into the DR bucket (likewise)
 *   pgvector: COPY (SELECT ...) TO STDOUT        S3 Vectors: ListVectors with data and metadata
 *   Weaviate: its own backup of the class into the DR bucket (backup-s3; also backup-filesystem)
 * Each index holds `--sizes` vectors (default 10,000 then 100,000) of `--dims` float32 dimensions
 * (default 768) with small metadata; each job runs in its own process under /usr/bin/time.
 * Snapshots go to the local AWS's S3 (the DR bucket) with the catalog in its DynamoDB, and are read
 * back and verified before they count, so "snapshot" is write + verify; the write alone is shown too.
 * Engines that split a scan are also snapshotted in `--parts` parts at once (default 2, this machine's
 * cores): the parts' jobs run in parallel processes, as their invocations would (docs/vector-snapshots.md).
 * The baselines and the snapshot take turns `--repeat` times (default 3); a row is the median, with the range.
 * Snapshot jobs run with the NODE_OPTIONS serverless.yml gives snapshot-vectors (its heap settings).
 * Each row also has the CPU seconds of its run: the tool's own (a job's measured part; a command's
 * whole process), the local AWS's, and the engine server's where it is a process of its own (Chroma,
 * Weaviate), so a row shows whether the machine's cores, not the tool, set its time.
 * Usage: npm run bench:vectors [-- --sizes 10000,100000] [--dims 768] [--parts 2] [--repeat 3] [--engines lancedb,pgvector,chroma,s3vectors,weaviate]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateVectorBucketCommand, S3VectorsClient } from '@aws-sdk/client-s3vectors';
import { connect } from '@lancedb/lancedb';
import pg from 'pg';
import { chromaStore } from '../../functions/vectors/adapters/chroma.js';
import { lanceDbStore } from '../../functions/vectors/adapters/lancedb.js';
import { pgvectorStore } from '../../functions/vectors/adapters/pgvector.js';
import { s3VectorsStore } from '../../functions/vectors/adapters/s3vectors.js';
import { weaviateStore } from '../../functions/vectors/adapters/weaviate.js';
import type { Engine, VectorRecord, VectorStore } from '../../functions/vectors/vector-store.js';
import { loadPolicyFile } from '../../functions/policy/load.js';
import { partitionedScanEngines } from '../../functions/policy/schema.js';
import { startLocalAws } from '../local-aws/server.js';
import { deployLocalStack } from '../local-aws/stack.js';
import { projectRoot } from '../local-aws/venv.js';
import { startChroma } from '../local-engines/chroma-server.js';
import { startPglite } from '../local-engines/pglite-server.js';
import { startWeaviate } from '../local-engines/weaviate-server.js';
import { ensureWeaviate } from '../tools/weaviate.js';
import { functionSettings } from './cost.js';
import { median } from './stats.js';
import { AWS_CLI, awsCopyRecursive, requireTools, TIME_COMMAND, timed } from './timed.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const SIZES = arg('sizes', '10000,100000').split(',').map(Number);
const DIMS = Number(arg('dims', '768'));
const PARTS = Number(arg('parts', '2'));
const REPEAT = Number(arg('repeat', '3'));
const ENGINES = arg('engines', 'lancedb,pgvector,chroma,s3vectors,weaviate').split(',') as Engine[];
const REGION = 'us-west-2';
/** The index's name: a Weaviate class name takes no underscore. */
const indexOf = (engine: Engine) => (engine === 'weaviate' ? 'bench-vectors' : 'bench_vectors');
const INDEX = 'bench_vectors';
const TSX = join(projectRoot, 'node_modules/.bin/tsx');
const JOB = join(projectRoot, 'scripts/bench/vector-job.ts');

interface Row {
  engine: string;
  size: number;
  tool: string;
  seconds: number;
  vectors: number;
  mb: number;
  peakRssMiB: number;
  /** The fastest and slowest of the REPEAT runs (seconds is their median). */
  range?: [number, number];
  /** CPU seconds (medians) of the tool's process, the local AWS and the engine's server, where it is a process of its own. */
  cpu?: Cpu;
}

/** CPU seconds of one run: the tool's own (a job's measured part, or a command's whole process), the local AWS's, the engine server's. */
interface Cpu {
  tool: number;
  aws: number;
  engine?: number;
}

/** Deterministic vectors with small metadata. */
function records(from: number, to: number): VectorRecord[] {
  let state = (from + 1) * 2654435761;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000 - 0.5;
  };
  return Array.from({ length: to - from }, (_, k) => {
    const i = from + k;
    const vector = new Float32Array(DIMS);
    for (let d = 0; d < DIMS; d++) vector[d] = next();
    return { id: `doc-${String(i).padStart(8, '0')}`, vector, metadata: { title: `document ${i}`, category: i % 12, lang: 'en' } };
  });
}

async function seed(store: VectorStore, from: number, to: number) {
  for (let i = from; i < to; i += 1000) await store.write(indexOf(store.engine), records(i, Math.min(to, i + 1000)));
}

async function main() {
  requireTools(TIME_COMMAND, AWS_CLI);
  const aws = await startLocalAws();
  const dir = mkdtempSync(join(tmpdir(), 'bench-vectors-'));
  const stops: (() => Promise<void>)[] = [() => aws.stop(), async () => rmSync(dir, { recursive: true, force: true })];
  try {
    Object.assign(process.env, aws.env, { AWS_REGION: REGION });
    const pglite = ENGINES.includes('pgvector') ? await startPglite({ maxConnections: 2 }) : undefined;
    if (pglite) stops.unshift(() => pglite.stop());
    const chroma = ENGINES.includes('chroma') ? await startChroma() : undefined;
    if (chroma) stops.unshift(() => chroma.stop());
    // Weaviate's own backups go to the DR bucket (the stack's, created below) through backup-s3.
    const weaviate = ENGINES.includes('weaviate')
      ? await ensureWeaviate((line) => console.error(line)).then(() =>
          startWeaviate({
            s3: {
              endpoint: aws.endpoint,
              bucket: 'bench-dr',
              path: 'weaviate-native',
              region: REGION,
              accessKeyId: aws.env.AWS_ACCESS_KEY_ID!,
              secretAccessKey: aws.env.AWS_SECRET_ACCESS_KEY!,
            },
          }),
        )
      : undefined;
    if (weaviate) stops.unshift(() => weaviate.stop());
    const endpoints: Record<string, string> = {
      lancedb: join(dir, 'lance'),
      pgvector: pglite?.connectionString ?? 'postgresql://unused',
      chroma: chroma?.url ?? 'http://unused',
      s3vectors: '',
      weaviate: weaviate?.url ?? 'http://unused',
    };
    const policyFile = join(dir, 'policy.yml');
    // The asset's source: S3 Vectors names its vector bucket (and has no cosine here: euclidean), the others an endpoint.
    const sourceOf = (engine: Engine) =>
      `{ engine: ${engine}, index: ${indexOf(engine)}, region: ${REGION}, ${engine === 's3vectors' ? 'vectorBucket: bench-vectors' : `endpoint: '${endpoints[engine]}'`},
              dimensions: ${DIMS}, metric: ${engine === 's3vectors' ? 'euclidean' : 'cosine'}, embedding: { model: bench, version: '1' } }`;
    writeFileSync(
      policyFile,
      `version: 1\ndeployment: { region: ${REGION} }\nassets:\n${ENGINES.map(
        (engine) => `  - name: bench-${engine}
    kind: vector-index
    source: ${sourceOf(engine)}
    replica: { bucket: bench-dr, region: ${REGION}, prefix: ${engine}/ }
    rpoTargetSeconds: 14400
    rtoTargetSeconds: 14400
    tier: high
${
  partitionedScanEngines.includes(engine) && PARTS > 1
    ? `  - name: bench-${engine}-parts
    kind: vector-index
    source: ${sourceOf(engine)}
    replica: { bucket: bench-dr, region: ${REGION}, prefix: ${engine}-parts/ }
    snapshotPartitions: ${PARTS}
    rpoTargetSeconds: 14400
    rtoTargetSeconds: 14400
    tier: high
`
    : ''
}`,
      ).join('')}`,
    );
    const stack = await deployLocalStack(loadPolicyFile(policyFile));
    const env = { ...process.env, LEDGER_TABLE: stack.ledgerTable, DR_POLICY_FILE: policyFile };
    // Snapshot jobs run with snapshot-vectors' own NODE_OPTIONS (its heap settings) from serverless.yml.
    const functionEnv = { ...env, NODE_OPTIONS: functionSettings('snapshotVectors').nodeOptions ?? '' };

    const rows: Row[] = [];
    for (const engine of ENGINES) {
      let seeded = 0;
      for (const size of SIZES) {
        // Seeding closes its connection before the jobs run (PGlite serves one session at a time).
        const store = await openForSeeding(engine, endpoints[engine]!);
        const seedStarted = performance.now();
        if (seeded === 0) await createBenchIndex(engine, store, endpoints[engine]!);
        await seed(store, seeded, size);
        await store.close();
        if (engine === 'lancedb') await compactLance(endpoints.lancedb!, indexOf(engine));
        seeded = size;
        console.error(`${engine}: ${size} vectors seeded in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`);

        const rawMB = (size * (DIMS * 4 + 40)) / 1e6;
        // The baselines and the snapshot take turns, REPEAT times: each row is the median of its runs.
        const runs = new Map<string, { seconds: number[]; peakRssMiB: number; mb: number; cpu: Cpu[] }>();
        const ran = (tool: string, seconds: number, peakRssMiB: number, mb: number, cpu?: Cpu) => {
          const runsOf = runs.get(tool) ?? { seconds: [], peakRssMiB: 0, mb, cpu: [] };
          runsOf.seconds.push(seconds);
          if (cpu) runsOf.cpu.push(cpu);
          runsOf.peakRssMiB = Math.max(runsOf.peakRssMiB, peakRssMiB);
          runs.set(tool, runsOf);
        };
        // What the servers used while a run ran: the local AWS, and the engine where it is a process of its own.
        const engineCpu = engine === 'chroma' ? chroma?.cpuSeconds : engine === 'weaviate' ? weaviate?.cpuSeconds : undefined;
        const serversFrom = () => {
          const aws0 = aws.cpuSeconds();
          const engine0 = engineCpu?.();
          return () => ({ aws: aws.cpuSeconds() - aws0, ...(engine0 !== undefined && { engine: engineCpu!() - engine0 }) });
        };
        for (let repetition = 0; repetition < REPEAT; repetition++) {
          for (const native of await nativeExports(engine, env, aws.endpoint, endpoints[engine]!, chroma?.dataDir, dir, serversFrom)) {
            ran(native.tool, native.seconds, native.peakRssMiB, native.mb ?? rawMB, native.cpu);
          }
          const snap = await timedJob<{ vectors: number; bytes: number; verifyMs: number }>(
            ['snapshot', '--asset', `bench-${engine}`],
            functionEnv,
            serversFrom,
          );
          const { result } = snap;
          if (result.vectors !== size) throw new Error(`${engine}: snapshot holds ${result.vectors} vectors, expected ${size}`);
          // The servers' CPU includes the job's second read-back (for the split below): a few HEADs and one chunk.
          ran('snapshot (write + verify)', result.ms / 1000, snap.peakRssMiB, rawMB, snap.cpu);
          ran('snapshot write only', (result.ms - result.verifyMs) / 1000, snap.peakRssMiB, rawMB);
          console.error(
            `${engine} ${size}: snapshot ${(result.ms / 1000).toFixed(2)} s (verify ${(result.verifyMs / 1000).toFixed(2)} s), ${(result.bytes / 1e6).toFixed(1)} MB of chunks`,
          );
        }
        for (const [tool, { seconds, peakRssMiB, mb, cpu }] of runs) {
          rows.push({
            engine,
            size,
            tool,
            seconds: median(seconds),
            range: [Math.min(...seconds), Math.max(...seconds)],
            vectors: size,
            mb,
            peakRssMiB,
            ...(cpu.length > 0 && { cpu: medianCpu(cpu) }),
          });
        }
        if (partitionedScanEngines.includes(engine) && PARTS > 1) rows.push(...(await partitioned(engine, size, rawMB, functionEnv)));
      }
    }
    print(rows);
  } finally {
    for (const stop of stops) await stop().catch(() => {});
  }
}

/**
 * A snapshot in PARTS parts at once: the scheduled run splits the scan, then each part's job runs
 * in a process of its own, all at once (the last one to finish writes and checks the manifest).
 * Rows: the whole (wall time, process starts included), and one part's own rate (its time inside
 * the job, as a warm invocation's), the figure the RTO/RPO arithmetic multiplies by the parts.
 */
async function partitioned(engine: Engine, size: number, rawMB: number, env: NodeJS.ProcessEnv): Promise<Row[]> {
  const asset = `bench-${engine}-parts`;
  const started = performance.now();
  const split = await timed(TSX, [JOB, 'dispatch', '--asset', asset], env);
  const { snapshotId, parts } = JSON.parse(split.stdout.trim().split('\n').at(-1)!) as { snapshotId: string; parts: string[] };
  const runs = await Promise.all(
    parts.map((part) => timed(TSX, [JOB, 'part', '--asset', asset, '--snapshot', snapshotId, '--part', part], env)),
  );
  const seconds = (performance.now() - started) / 1000;
  const results = runs.map((run) => JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { outcome: string; count: number; ms: number });
  const finished = results.find((r) => r.outcome === 'verified');
  if (!finished || finished.count !== size)
    throw new Error(`${engine}: the parts did not finish one verified snapshot of ${size}: ${JSON.stringify(results)}`);
  const perPart = results.map((r) => r.ms / 1000);
  const mean = perPart.reduce((a, b) => a + b, 0) / perPart.length;
  const peak = Math.max(...runs.map((r) => r.peakRssMiB));
  console.error(
    `${engine} ${size}: ${parts.length} parts at once in ${seconds.toFixed(2)} s (parts ${perPart.map((p) => p.toFixed(2)).join(', ')} s)`,
  );
  return [
    {
      engine,
      size,
      tool: `snapshot in ${parts.length} parts at once (write + verify)`,
      seconds,
      vectors: size,
      mb: rawMB,
      peakRssMiB: peak,
    },
    {
      engine,
      size,
      tool: `one part of ${parts.length} running at once (its own time)`,
      seconds: mean,
      vectors: size / parts.length,
      mb: rawMB / parts.length,
      peakRssMiB: peak,
    },
  ];
}

/**
 * The index to snapshot. pgvector's table gets no HNSW index: PGlite (WASM) would spend most of the
 * run maintaining it on insert, and a snapshot reads the table, not the index.
 */
async function createBenchIndex(engine: Engine, store: VectorStore, endpoint: string) {
  if (engine !== 'pgvector')
    return store.createIndex(indexOf(engine), { dimensions: DIMS, metric: engine === 's3vectors' ? 'euclidean' : 'cosine' });
  const client = new pg.Client({ connectionString: endpoint });
  await client.connect();
  await client.query(
    `CREATE TABLE ${INDEX} (id text PRIMARY KEY, embedding vector(${DIMS}) NOT NULL, metadata jsonb NOT NULL DEFAULT '{}')`,
  );
  await client.end();
}

/**
 * A LanceDB dataset as its users keep it, compacted by LanceDB's own optimize, without older
 * versions: seeding 1,000 records a write leaves a fragment file of 3 MB per write, a hundred small
 * files that the copy baseline would upload as no real dataset is laid out.
 */
async function compactLance(uri: string, table: string) {
  const opened = await (await connect(uri)).openTable(table);
  try {
    await opened.optimize({ cleanupOlderThan: new Date(), deleteUnverified: true });
  } finally {
    opened.close();
  }
}

async function openForSeeding(engine: Engine, endpoint: string): Promise<VectorStore> {
  switch (engine) {
    case 'lancedb':
      return lanceDbStore({ uri: endpoint });
    case 'pgvector':
      return pgvectorStore({ connectionString: endpoint });
    case 'chroma':
      return chromaStore({ url: endpoint });
    case 'weaviate':
      return weaviateStore({ url: endpoint });
    case 's3vectors': {
      const client = new S3VectorsClient({ region: REGION });
      await client.send(new CreateVectorBucketCommand({ vectorBucketName: 'bench-vectors' })).catch(() => {});
      return s3VectorsStore({ vectorBucketName: 'bench-vectors', client });
    }
    default:
      throw new Error(`${engine} does not run here`);
  }
}

/** A job of vector-job.ts: its JSON (with the measured part's ms and cpuMs), its peak RSS, and its CPU beside what the servers used meanwhile. */
async function timedJob<T>(args: string[], env: NodeJS.ProcessEnv, serversFrom: () => () => Omit<Cpu, 'tool'>) {
  const servers = serversFrom();
  const run = await timed(TSX, [JOB, ...args], env);
  const used = servers();
  const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as T & { ms: number; cpuMs: number };
  return { result, peakRssMiB: run.peakRssMiB, cpu: { ...used, tool: result.cpuMs / 1000 } as Cpu };
}

/**
 * The engine's own fastest export or copy of the whole index; the first is the baseline of the
 * ratio. For engines whose index is a directory, that is a copy into the DR bucket (where the
 * snapshot goes too); a local `cp -r` is shown beside it.
 */
async function nativeExports(
  engine: Engine,
  env: NodeJS.ProcessEnv,
  awsEndpoint: string,
  endpoint: string,
  chromaDir: string | undefined,
  dir: string,
  serversFrom: () => () => Omit<Cpu, 'tool'>,
): Promise<{ tool: string; seconds: number; peakRssMiB: number; mb: number | undefined; cpu: Cpu }[]> {
  /** A command's whole process (its start-up included) beside what the servers used meanwhile. */
  const command = async (run: () => Promise<{ seconds: number; peakRssMiB: number; cpuSeconds: number }>) => {
    const servers = serversFrom();
    const done = await run();
    return { ...done, cpu: { ...servers(), tool: done.cpuSeconds } };
  };
  const job = (args: string[]) => timedJob<{ bytes?: number }>(args, env, serversFrom);
  const copies = async (from: string, what: string) => {
    const du = await timed('/usr/bin/du', ['-sb', from], env);
    const mb = Number(du.stdout.split('\t')[0]) / 1e6;
    const upload = await command(() => awsCopyRecursive(awsEndpoint, from, `s3://bench-dr/native-${engine}-${Date.now()}/`, env));
    const to = join(dir, `copy-${Date.now()}`);
    const local = await command(() => timed('/bin/cp', ['-r', from, to], env));
    rmSync(to, { recursive: true, force: true });
    return [
      { tool: `native: aws s3 cp --recursive of ${what} to the DR bucket`, ...upload, mb },
      { tool: `native: cp -r of ${what} (local disk)`, ...local, mb },
    ];
  };
  switch (engine) {
    case 'lancedb':
      return copies(join(endpoint, `${INDEX}.lance`), 'the dataset');
    case 'chroma':
      return copies(chromaDir!, 'the data directory');
    case 'pgvector': {
      const { result, peakRssMiB, cpu } = await job(['copy-out', '--connection', endpoint, '--table', INDEX]);
      return [{ tool: 'native: COPY TO STDOUT', seconds: result.ms / 1000, peakRssMiB, mb: result.bytes! / 1e6, cpu }];
    }
    case 's3vectors': {
      const { result, peakRssMiB, cpu } = await job(['list-vectors', '--bucket', 'bench-vectors', '--index', INDEX]);
      return [{ tool: 'native: ListVectors with data', seconds: result.ms / 1000, peakRssMiB, mb: undefined, cpu }];
    }
    case 'weaviate': {
      // The server's own work (it runs in its process): the job's RSS is only the client's.
      const backups = [];
      for (const [backend, what] of [
        ['s3', 'to the DR bucket (backup-s3)'],
        ['filesystem', 'to local disk (backup-filesystem)'],
      ] as const) {
        const { result, peakRssMiB, cpu } = await job([
          'weaviate-backup',
          '--url',
          endpoint,
          '--index',
          indexOf(engine),
          '--backend',
          backend,
        ]);
        backups.push({ tool: `native: Weaviate backup of the class ${what}`, seconds: result.ms / 1000, peakRssMiB, mb: undefined, cpu });
      }
      return backups;
    }
    default:
      throw new Error(`${engine} does not run here`);
  }
}

function medianCpu(runs: Cpu[]): Cpu {
  const engines = runs.flatMap((r) => (r.engine === undefined ? [] : [r.engine]));
  return {
    tool: median(runs.map((r) => r.tool)),
    aws: median(runs.map((r) => r.aws)),
    ...(engines.length > 0 && { engine: median(engines) }),
  };
}

function print(rows: Row[]) {
  const lines = [
    `bench:vectors — ${DIMS} float32 dimensions, small metadata; snapshot = snapshot-vectors' own code into the local AWS`,
    '',
    '| engine | vectors | tool | seconds (median) | range s | vectors/s | MB/s | peak RSS MiB | CPU s: tool / local AWS / engine | vs native |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    const native = rows.find((r) => r.engine === row.engine && r.size === row.size && r.tool.startsWith('native'))!; // the baseline
    const rate = row.vectors / row.seconds;
    lines.push(
      `| ${row.engine} | ${row.size} | ${row.tool} | ${row.seconds.toFixed(2)} | ${row.range ? `${row.range[0].toFixed(2)}–${row.range[1].toFixed(2)}` : ''} | ${Math.round(rate)} | ` +
        `${(row.mb / row.seconds).toFixed(1)} | ${Math.round(row.peakRssMiB)} | ${cpuCell(row.cpu)} | ${(rate / (native.vectors / native.seconds)).toFixed(2)}x |`,
    );
  }
  console.log(lines.join('\n'));
}

/** "8.52 / 2.01 / 3.10"; the engine's "–" where it runs inside the tool's process (LanceDB) or the bench's (PGlite), or is the local AWS (S3 Vectors). */
const cpuCell = (cpu: Cpu | undefined) =>
  cpu ? `${cpu.tool.toFixed(2)} / ${cpu.aws.toFixed(2)} / ${cpu.engine === undefined ? '–' : cpu.engine.toFixed(2)}` : '';

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
