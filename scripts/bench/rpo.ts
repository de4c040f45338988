/**
 * `npm run bench:rpo`: how the cost of measuring an asset's live RPO grows with ledger size.
 * For ledgers of 10k, 100k and 1M replicated items with a fixed 100 pending (and 50 replicated in
 * the last minute), it runs the real measurement (DynamoLedger + measureAsset, as measure-rpo does)
 * and, as the baseline in the same run, a naive measurer that scans the ledger for unreplicated
 * items. It prints items read (DynamoDB ScannedCount: what DynamoDB reads and bills), requests and
 * run time, and the ratios naive / ours. Runs against the local AWS (moto).
 * Usage: npm run bench:rpo [-- --sizes 10000,100000,1000000] [--naive-max 100000]
 * The naive baseline runs up to --naive-max items: moto pages a Scan by walking the table from the
 * start for every page, so a Scan of a million items takes it tens of minutes (DynamoDB does not).
 */
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createHash } from 'node:crypto';
import { DynamoLedger } from '../../functions/ledger/dynamo-ledger.js';
import { measureAsset } from '../../functions/rpo/measure.js';
import { type Asset, assetSchema } from '../../functions/policy/schema.js';
import { ledgerKeySchema } from '../../infra/ledger-table.js';
import { startLocalAws } from '../local-aws/server.js';

const PENDING = 100;
const RECENT = 50;
const sizesArg = process.argv.indexOf('--sizes');
const sizes = sizesArg > 0 ? process.argv[sizesArg + 1]!.split(',').map(Number) : [10_000, 100_000, 1_000_000];
const naiveArg = process.argv.indexOf('--naive-max');
const naiveMax = naiveArg > 0 ? Number(process.argv[naiveArg + 1]) : 100_000;
const NOW = new Date();

const asset = assetSchema.parse({
  name: 'bench',
  kind: 'training-data',
  source: { bucket: 'bench-source', prefix: 'train/', region: 'us-east-1' },
  replica: { bucket: 'bench-replica', region: 'us-west-2', storageClass: 'STANDARD' },
  rpoTargetSeconds: 3600,
  rtoTargetSeconds: 86400,
  tier: 'high',
}) as Asset;

function item(i: number, state: 'replicated' | 'pending', replicatedAgoMs: number) {
  const key = `train/shards/part-${String(i).padStart(8, '0')}.parquet`;
  const modified = new Date(NOW.getTime() - replicatedAgoMs - 2000).toISOString();
  const base = {
    pk: `K#bench#${createHash('sha256').update(key).digest('hex')}`,
    sk: `V#v${i}`,
    key,
    sourceVersionId: `v${i}`,
    entryType: 'object',
    state,
    sourceLastModified: modified,
    size: 64 * 1024,
    attempts: state === 'replicated' ? 1 : 0,
  };
  return state === 'replicated'
    ? {
        ...base,
        asset: 'bench',
        sha256: 'ab'.repeat(32),
        replicaKey: key,
        replicaVersionId: `r${i}`,
        replicatedAt: new Date(NOW.getTime() - replicatedAgoMs).toISOString(),
        lagSeconds: 2,
      }
    : { ...base, asset: 'bench', pendingAsset: 'bench', pendingSince: modified };
}

async function seed(db: DynamoDBDocumentClient, table: string, replicated: number) {
  const month = 30 * 86400_000;
  const items = function* () {
    for (let i = 0; i < replicated; i++) yield item(i, 'replicated', i < RECENT ? 20_000 : 3600_000 + ((i * 7919) % month));
    for (let i = 0; i < PENDING; i++) yield item(replicated + i, 'pending', 600_000 + i * 1000);
  };
  const batches: Record<string, unknown>[][] = [];
  let batch: Record<string, unknown>[] = [];
  for (const it of items()) {
    batch.push(it);
    if (batch.length === 25) {
      batches.push(batch);
      batch = [];
    }
  }
  if (batch.length) batches.push(batch);
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const mine = batches[next++]!;
      let request: Record<string, { PutRequest: { Item: Record<string, unknown> } }[]> | undefined = {
        [table]: mine.map((Item) => ({ PutRequest: { Item } })),
      };
      while (request && Object.keys(request).length) {
        const out = await db.send(new BatchWriteCommand({ RequestItems: request }));
        request = out.UnprocessedItems as typeof request;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/** Counts what DynamoDB reads (ScannedCount) and the requests, on every Query/Scan of a client. */
function counted(client: DynamoDBClient) {
  const stats = { read: 0, requests: 0 };
  client.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args);
      const body = out.output as { ScannedCount?: number; Count?: number };
      stats.requests++;
      stats.read += body.ScannedCount ?? body.Count ?? 0;
      return out;
    },
    { step: 'initialize', name: 'benchCount' },
  );
  return stats;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main() {
  const aws = await startLocalAws();
  Object.assign(process.env, aws.env);
  const rows: string[][] = [];
  try {
    for (const size of sizes) {
      const table = `bench-ledger-${size}`;
      const raw = new DynamoDBClient({ region: 'us-east-1' });
      await raw.send(new CreateTableCommand({ TableName: table, ...structuredClone(ledgerKeySchema) } as never));
      const seedStarted = Date.now();
      await seed(DynamoDBDocumentClient.from(raw), table, size);
      process.stderr.write(`seeded ${size + PENDING} items in ${((Date.now() - seedStarted) / 1000).toFixed(0)} s\n`);

      const ours = new DynamoDBClient({ region: 'us-east-1' });
      const oursStats = counted(ours);
      const ledger = new DynamoLedger(DynamoDBDocumentClient.from(ours), table);
      // moto answers an index query by walking the whole table in Python, so runs at large sizes
      // take minutes; fewer of them there. (DynamoDB reads only the items the query returns.)
      const runs = size >= 100_000 ? 1 : 5;
      const oursMs: number[] = [];
      let pendingSeen = 0;
      for (let run = 0; run < runs; run++) {
        const started = performance.now();
        const m = await measureAsset(
          { ledger, snapshots: { newestVerifiedSnapshotAt: async () => undefined }, at: NOW, windowSeconds: 60 },
          asset,
        );
        oursMs.push(performance.now() - started);
        pendingSeen = m.pendingObjects;
      }

      const naive = new DynamoDBClient({ region: 'us-east-1' });
      const naiveStats = counted(naive);
      const naiveDb = DynamoDBDocumentClient.from(naive);
      const naiveMs: number[] = [];
      for (let run = 0; run < (size <= naiveMax ? runs : 0); run++) {
        const started = performance.now();
        let start: Record<string, unknown> | undefined;
        let pending = 0;
        do {
          const page = await naiveDb.send(
            new ScanCommand({
              TableName: table,
              FilterExpression: 'asset = :a AND #s <> :r',
              ExpressionAttributeNames: { '#s': 'state' },
              ExpressionAttributeValues: { ':a': 'bench', ':r': 'replicated' },
              ExclusiveStartKey: start,
            }),
          );
          pending += page.Count ?? 0;
          start = page.LastEvaluatedKey;
        } while (start);
        naiveMs.push(performance.now() - started);
        if (pending !== PENDING) throw new Error(`naive scan found ${pending} pending, expected ${PENDING}`);
      }
      if (pendingSeen !== PENDING) throw new Error(`measurement found ${pendingSeen} pending, expected ${PENDING}`);
      const oursRead = oursStats.read / runs;
      const measuredNaive = naiveMs.length > 0;
      const naiveRead = naiveStats.read / Math.max(1, naiveMs.length);
      rows.push([
        size.toLocaleString('en-US'),
        String(PENDING),
        String(oursRead),
        String(oursStats.requests / runs),
        median(oursMs).toFixed(1),
        measuredNaive ? String(naiveRead) : 'not run',
        measuredNaive ? String(naiveStats.requests / naiveMs.length) : '-',
        measuredNaive ? median(naiveMs).toFixed(1) : '-',
        measuredNaive ? `${(naiveRead / oursRead).toFixed(0)}x` : '-',
        measuredNaive ? `${(median(naiveMs) / median(oursMs)).toFixed(1)}x` : '-',
      ]);
    }
  } finally {
    await aws.stop();
  }
  const header = [
    'replicated items',
    'pending',
    'ours: items read',
    'requests',
    'ms (median)',
    'naive scan: items read',
    'requests',
    'ms (median)',
    'items ratio',
    'time ratio',
  ];
  const width = (i: number) => Math.max(header[i]!.length, ...rows.map((r) => r[i]!.length));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(width(i))).join(' | ')} |`;
  console.log(line(header));
  console.log(line(header.map((_, i) => '-'.repeat(width(i)))));
  for (const r of rows) console.log(line(r));
  console.log(`\nNode ${process.version}; local AWS (moto) on 127.0.0.1. Items read = DynamoDB ScannedCount, per measurement.`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
