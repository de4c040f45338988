/**
 * One timed job of bench:vectors, in a process of its own so that its peak RSS is its own:
 *   snapshot --asset <name>          a verified snapshot by snapshot-vectors' own code (write + read-back)
 *   copy-out --connection <url> --table <t>   pgvector's native export: COPY (SELECT ...) TO STDOUT
 *   list-vectors --bucket <b> --index <i>     S3 Vectors' native export: ListVectors with data and metadata
 * Environment: the local AWS's, LEDGER_TABLE, DR_POLICY_FILE. Prints one JSON line.
 */
import { ListVectorsCommand, S3VectorsClient } from '@aws-sdk/client-s3vectors';
import { vectorAssets } from '../../functions/policy/assets.js';
import { parseConfig } from '../../functions/shared/config.js';
import { readManifest, verifySnapshotFiles } from '../../functions/vectors/read-snapshot.js';
import { createSnapshotter } from '../../functions/vectors/runtime.js';
import { runScheduledSnapshot } from '../../functions/vectors/snapshot-run.js';
import { copyOutBaseline } from '../local-engines/pglite-server.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  const value = i > 0 ? process.argv[i + 1] : undefined;
  if (value === undefined) throw new Error(`--${name} is required`);
  return value;
};

async function snapshot() {
  const snapshotter = createSnapshotter(parseConfig(process.env), 'bench');
  const found = vectorAssets(snapshotter.policy).find(({ asset }) => asset.name === arg('asset'))!;
  const deps = snapshotter.depsFor(found.asset, () => Infinity);
  const started = performance.now();
  const { run } = await runScheduledSnapshot(found.asset, found.path, { ...deps, continuation: { continueLater: async () => {} } });
  const ms = performance.now() - started;
  if (run.outcome !== 'verified') throw new Error(`snapshot ${run.outcome}: ${JSON.stringify(run)}`);
  // The read-back alone, once more, to split the time into writing and verifying.
  const prefix = `${found.asset.replica.prefix ?? ''}snapshots/${run.snapshotId}/`;
  const verifyStarted = performance.now();
  await verifySnapshotFiles(deps.objects, prefix, (await readManifest(deps.objects, prefix))!, () => true);
  return { vectors: run.count, bytes: run.bytes, chunks: run.chunks, ms, verifyMs: performance.now() - verifyStarted };
}

async function copyOut() {
  const started = performance.now();
  const { rows, bytes } = await copyOutBaseline(arg('connection'), arg('table'));
  return { vectors: rows, bytes, ms: performance.now() - started };
}

async function listVectors() {
  const client = new S3VectorsClient({});
  const started = performance.now();
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
  return { vectors, ms: performance.now() - started };
}

const jobs: Record<string, () => Promise<unknown>> = { snapshot, 'copy-out': copyOut, 'list-vectors': listVectors };
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
