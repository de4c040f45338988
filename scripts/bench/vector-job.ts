/**
 * One timed job of bench:vectors, in a process of its own so that its peak RSS is its own:
 *   snapshot --asset <name>          a verified snapshot by snapshot-vectors' own code (write + read-back)
 *   dispatch --asset <name>          a partitioned asset's scheduled run: splits the scan, prints the parts
 *   part --asset <name> --snapshot <id> --part <NNNN>   one part, as its invocation runs it (the last one finishes the snapshot)
 *   copy-out --connection <url> --table <t>   pgvector's native export: COPY (SELECT ...) TO STDOUT
 *   list-vectors --bucket <b> --index <i>     S3 Vectors' native export: ListVectors with data and metadata
 *   weaviate-backup --url <u> --index <i> --backend s3|filesystem   Weaviate's native backup of the class, until it succeeded
 * Environment: the local AWS's, LEDGER_TABLE, DR_POLICY_FILE. Prints one JSON line.
 */
import { ListVectorsCommand, S3VectorsClient } from '@aws-sdk/client-s3vectors';
import { vectorAssets } from '../../functions/policy/assets.js';
import { parseConfig } from '../../functions/shared/config.js';
import { readManifest, verifySnapshot } from '../../functions/vectors/read-snapshot.js';
import { createSnapshotter } from '../../functions/vectors/runtime.js';
import { runScheduledSnapshot } from '../../functions/vectors/snapshot-run.js';
import { classOf } from '../../functions/vectors/adapters/weaviate.js';
import { copyOutBaseline } from '../local-engines/pglite-server.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  const value = i > 0 ? process.argv[i + 1] : undefined;
  if (value === undefined) throw new Error(`--${name} is required`);
  return value;
};

/** The clock and the CPU (user + system, all threads) of this process from now: a job's measured part, not its start-up. */
function stopwatch() {
  const started = performance.now();
  const cpu = process.cpuUsage();
  return () => {
    const { user, system } = process.cpuUsage(cpu);
    return { ms: performance.now() - started, cpuMs: (user + system) / 1000 };
  };
}

async function snapshot() {
  const snapshotter = createSnapshotter(parseConfig(process.env), 'bench');
  const found = vectorAssets(snapshotter.policy).find(({ asset }) => asset.name === arg('asset'))!;
  const deps = snapshotter.depsFor(found.asset, () => Infinity);
  const watch = stopwatch();
  const { run } = await runScheduledSnapshot(found.asset, found.path, { ...deps, continuation: { continueLater: async () => {} } });
  const { ms, cpuMs } = watch();
  if (run.outcome !== 'verified') throw new Error(`snapshot ${run.outcome}: ${JSON.stringify(run)}`);
  // The read-back alone, once more, to split the time into writing and verifying.
  const prefix = `${found.asset.replica.prefix ?? ''}snapshots/${run.snapshotId}/`;
  const verifyStarted = performance.now();
  await verifySnapshot(deps.objects, prefix, (await readManifest(deps.objects, prefix))!, () => true);
  return { vectors: run.count, bytes: run.bytes, chunks: run.chunks, ms, cpuMs, verifyMs: performance.now() - verifyStarted };
}

/** The scheduled run of a partitioned asset: the snapshot's parts, which the caller runs at once. */
async function dispatch() {
  const snapshotter = createSnapshotter(parseConfig(process.env), 'bench');
  const found = vectorAssets(snapshotter.policy).find(({ asset }) => asset.name === arg('asset'))!;
  const parts: string[] = [];
  const deps = snapshotter.depsFor(found.asset, () => Infinity);
  const continuation = { continueLater: async (payload: Record<string, unknown>) => void parts.push(payload.part as string) };
  const { run } = await runScheduledSnapshot(found.asset, found.path, { ...deps, continuation });
  if (run.outcome !== 'dispatched') throw new Error(`expected the parts to be dispatched: ${JSON.stringify(run)}`);
  return { snapshotId: run.snapshotId, parts };
}

async function part() {
  const snapshotter = createSnapshotter(parseConfig(process.env), 'bench');
  const found = vectorAssets(snapshotter.policy).find(({ asset }) => asset.name === arg('asset'))!;
  const deps = snapshotter.depsFor(found.asset, () => Infinity);
  const watch = stopwatch();
  const { run } = await runScheduledSnapshot(
    found.asset,
    found.path,
    { ...deps, continuation: { continueLater: async () => {} } },
    { snapshotId: arg('snapshot'), part: arg('part') },
  );
  if (run.outcome !== 'part-verified' && run.outcome !== 'verified' && run.outcome !== 'busy')
    throw new Error(`part ${JSON.stringify(run)}`);
  return { ...run, ...watch() };
}

async function copyOut() {
  const watch = stopwatch();
  const { rows, bytes } = await copyOutBaseline(arg('connection'), arg('table'));
  return { vectors: rows, bytes, ...watch() };
}

async function listVectors() {
  const client = new S3VectorsClient({});
  const watch = stopwatch();
  let vectors = 0;
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new ListVectorsCommand({
        vectorBucketName: arg('bucket'),
        indexName: arg('index'),
        returnData: true,
        returnMetadata: true,
        maxResults: 1000,
        nextToken,
      }),
    );
    vectors += page.vectors?.length ?? 0;
    nextToken = page.nextToken;
  } while (nextToken);
  return { vectors, ...watch() };
}

/**
 * Weaviate's own backup of the class (POST /v1/backups/{backend}), polled every 25 ms until SUCCESS
 * so that the time is the server's (the adapter's polls back off, which would round it up).
 */
async function weaviateBackup() {
  const url = arg('url');
  const backend = arg('backend');
  const index = arg('index');
  const cls = classOf(index);
  const id = `bench-${Date.now().toString(36)}`;
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as { status: string; error?: string };
  };
  const watch = stopwatch();
  await call('POST', `/v1/backups/${backend}`, { id, include: [cls] });
  for (;;) {
    const { status, error } = await call('GET', `/v1/backups/${backend}/${id}`);
    if (status === 'SUCCESS') break;
    if (status === 'FAILED' || status === 'CANCELED') throw new Error(`backup ${id}: ${status} ${error ?? ''}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { id, ...watch() };
}

const jobs: Record<string, () => Promise<unknown>> = {
  dispatch,
  part,
  snapshot,
  'copy-out': copyOut,
  'list-vectors': listVectors,
  'weaviate-backup': weaviateBackup,
};
const job = jobs[process.argv[2] ?? ''];
if (!job) throw new Error(`usage: vector-job.ts ${Object.keys(jobs).join('|')} ...`);
job().then(
  (result) => {
    console.log(JSON.stringify(result));
    process.exit(0);
  },
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
