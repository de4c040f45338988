import {
  CreateBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { VectorAsset } from '../../../functions/policy/schema.js';
import { dynamoDocumentClient } from '../../../functions/shared/aws-clients.js';
import { DynamoSnapshotCatalog } from '../../../functions/vectors/dynamo-snapshot-catalog.js';
import { openVectorStore } from '../../../functions/vectors/open-store.js';
import { S3SnapshotObjects } from '../../../functions/vectors/snapshot-objects.js';
import { runScheduledSnapshot } from '../../../functions/vectors/snapshot-run.js';
import { indexExists, type VectorRecord } from '../../../functions/vectors/vector-store.js';
import { startPglite, type PgliteServer } from '../../../scripts/local-engines/pglite-server.js';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.js';
import { startStack, type StackUnderTest } from '../../support/local-stack.js';

/**
 * What the drill tests share: the local AWS behind a fault proxy (so a test can make every request
 * signed for the primary region, us-east-1, answer 500), the stack in us-west-2, a workspace bucket
 * in us-west-2, and a policy of
 *   training  training-data  (source it-drill-source/train/, us-east-1)
 *   models    model-artifacts (source it-drill-source/models/, us-east-1)
 *   kb        vector-index on pgvector (PGlite) in us-east-1, snapshotted into the replica bucket
 *   dr-lance  vector-index on LanceDB (local disk) in us-west-2: the engine drills restore into
 * and three drills: outage (region-outage), corruption (data-corruption), rollback (model-regression).
 */
export const WORKSPACE = 'it-drill-workspace';
export const SOURCE = 'it-drill-source';
export const REPLICA = 'it-drill-replica';

/** What the drill tests replicate: three training files (one of 70 kB) and a model's two. */
export const SAMPLE_OBJECTS: Record<string, Buffer | string> = {
  'train/a.jsonl': '{"text":"a"}\n'.repeat(200),
  'train/b.jsonl': '{"text":"b"}\n',
  'train/sub/c.parquet': Buffer.alloc(70_000, 7),
  'models/llm/weights.bin': Buffer.alloc(120_000, 3),
  'models/llm/tokenizer.json': '{"vocab":[]}',
};

function policyYaml(pgEndpoint: string, lanceDir: string, kbRestoreParts: number) {
  return `version: 1
deployment: { region: us-west-2 }
restore:
  targetBuckets:
    - { bucket: ${WORKSPACE}, region: us-west-2 }
assets:
  - name: training
    kind: training-data
    source: { bucket: ${SOURCE}, prefix: train/, region: us-east-1 }
    replica: { bucket: ${REPLICA}, region: us-west-2 }
    rpoTargetSeconds: 3600
    rtoTargetSeconds: 14400
    tier: critical
  - name: models
    kind: model-artifacts
    source: { bucket: ${SOURCE}, prefix: models/, region: us-east-1 }
    replica: { bucket: ${REPLICA}, region: us-west-2 }
    rpoTargetSeconds: 3600
    rtoTargetSeconds: 3600
    tier: high
  - name: kb
    kind: vector-index
    source: { engine: pgvector, index: kb_docs, region: us-east-1, endpoint: "${pgEndpoint}", dimensions: 16, metric: cosine, embedding: { model: e5-small, version: v2 } }
    replica: { bucket: ${REPLICA}, region: us-west-2, prefix: vectors/kb/ }
    restoreTest: { goldenQueries: 8, minRecall: 0.9 }
    restoreParts: ${kbRestoreParts}
    rpoTargetSeconds: 86400
    rtoTargetSeconds: 14400
    tier: high
  - name: dr-lance
    kind: vector-index
    source: { engine: lancedb, index: dr_kb, region: us-west-2, endpoint: ${lanceDir}, dimensions: 16, metric: cosine, embedding: { model: e5-small, version: v2 } }
    replica: { bucket: ${REPLICA}, region: us-west-2, prefix: vectors/dr-lance/ }
    rpoTargetSeconds: 86400
    rtoTargetSeconds: 14400
    tier: standard
drills:
  - name: outage
    scenario: region-outage
    schedule: cron(0 6 1 1,4,7,10 ? *)
    scope: { assets: [training, models, kb] }
    targetMinutes: 60
    workspace: { bucket: ${WORKSPACE}, vectorTarget: dr-lance }
  - name: corruption
    scenario: data-corruption
    schedule: cron(0 7 1 1,4,7,10 ? *)
    scope: { assets: [training] }
    targetMinutes: 60
    corruptObjects: 2
    workspace: { bucket: ${WORKSPACE} }
  - name: rollback
    scenario: model-regression
    schedule: cron(0 6 15 11 ? *)
    scope: { assets: [models] }
    targetMinutes: 30
    corruptObjects: 5
    workspace: { bucket: ${WORKSPACE} }
`;
}

export interface DrillHarness {
  t: StackUnderTest;
  proxy: FaultProxy;
  pg: PgliteServer;
  dir: string;
  policyFile: string;
  s3West: S3Client;
  vectorAsset(name: string): VectorAsset;
  /** Every request signed for us-east-1 (any service) answers 500 InternalError until `primaryBack`. */
  primaryDown(): void;
  primaryBack(): void;
  /** Object versions, delete markers and incomplete multipart uploads left under the workspace's drill prefix. */
  workspaceLeft(): Promise<string[]>;
  indexExists(asset: string, index: string): Promise<boolean>;
  stop(): Promise<void>;
}

const signedFor = (region: string) => (req: { headers: Record<string, unknown> }) =>
  String(req.headers.authorization ?? '').includes(`/${region}/`);

/** `kbRestoreParts`: the parts drills restore kb in (its restoreParts; default 1, one chain). */
export async function startDrillHarness(records: VectorRecord[], options: { kbRestoreParts?: number } = {}): Promise<DrillHarness> {
  const pg = await startPglite({ maxConnections: 4 });
  const dir = mkdtempSync(join(tmpdir(), 'drills-'));
  const policyFile = join(dir, 'policy.yml');
  writeFileSync(policyFile, policyYaml(pg.connectionString, join(dir, 'lance'), options.kbRestoreParts ?? 1));
  let proxy!: FaultProxy;
  const t = await startStack(policyFile, {
    via: async (endpoint) => {
      proxy = await startFaultProxy(endpoint);
      return proxy.endpoint;
    },
  });
  const s3West = new S3Client({ region: 'us-west-2', forcePathStyle: true });
  await s3West.send(new CreateBucketCommand({ Bucket: WORKSPACE, CreateBucketConfiguration: { LocationConstraint: 'us-west-2' } }));
  await s3West.send(new PutBucketVersioningCommand({ Bucket: WORKSPACE, VersioningConfiguration: { Status: 'Enabled' } }));

  const vectorAsset = (name: string) => {
    const found = t.policy.assets.find((a) => a.name === name);
    if (found?.kind !== 'vector-index') throw new Error(`no vector asset ${name}`);
    return found;
  };
  // The vector source, and its verified snapshot in the replica bucket (as snapshot-vectors takes it).
  const kb = vectorAsset('kb');
  const store = await openVectorStore(kb);
  try {
    await store.createIndex(kb.source.index, { dimensions: kb.source.dimensions, metric: kb.source.metric });
    await store.write(kb.source.index, records);
  } finally {
    await store.close();
  }
  const { run } = await runScheduledSnapshot(kb, kb.name, {
    catalog: new DynamoSnapshotCatalog(dynamoDocumentClient(), t.stack.ledgerTable),
    objects: new S3SnapshotObjects(s3West, REPLICA),
    openStore: openVectorStore,
    continuation: { continueLater: async () => {} },
    now: () => new Date(),
    remainingMs: () => 900_000,
    log: () => {},
    chunkBytes: 20_000,
    pageSize: 50,
  });
  expect(run.outcome).toBe('verified');

  const primary = { match: signedFor('us-east-1'), fault: 'internal' as const, times: Number.POSITIVE_INFINITY };
  return {
    t,
    proxy,
    pg,
    dir,
    policyFile,
    s3West,
    vectorAsset,
    primaryDown: () => void proxy.rules.unshift(primary),
    primaryBack: () => void proxy.rules.splice(proxy.rules.indexOf(primary), 1),
    async workspaceLeft() {
      const page = await s3West.send(new ListObjectVersionsCommand({ Bucket: WORKSPACE, Prefix: '_dr-drills/' }));
      const uploads = await s3West.send(new ListMultipartUploadsCommand({ Bucket: WORKSPACE, Prefix: '_dr-drills/' }));
      return [
        ...[...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((v) => `${v.Key}@${v.VersionId}`),
        ...(uploads.Uploads ?? []).map((u) => `${u.Key} (upload ${u.UploadId})`),
      ];
    },
    async indexExists(asset, index) {
      const engine = await openVectorStore(vectorAsset(asset));
      try {
        return await indexExists(engine, index);
      } finally {
        await engine.close();
      }
    },
    async stop() {
      await pg.stop().catch(() => undefined);
      await t.stop();
      await proxy.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes objects to the source (us-east-1) and replicates them with the real replicate handler. */
export async function writeAndReplicate(h: DrillHarness, objects: Record<string, Buffer | string>) {
  for (const [key, body] of Object.entries(objects)) await h.t.s3.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: body }));
  await h.t.drain();
}
