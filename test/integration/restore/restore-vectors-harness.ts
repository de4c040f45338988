import { S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { loadPolicyFile } from '../../../functions/policy/load.js';
import type { Policy, VectorAsset } from '../../../functions/policy/schema.js';
import { vectorPlanParts, vectorPlanStore } from '../../../functions/restore/dynamo-plan-store.js';
import type { PlanStore } from '../../../functions/restore/restore-plan.js';
import type { VectorRestoreDeps } from '../../../functions/restore/restore-vectors.js';
import { dynamoDocumentClient } from '../../../functions/shared/aws-clients.js';
import { DynamoSnapshotCatalog } from '../../../functions/vectors/dynamo-snapshot-catalog.js';
import { openVectorStore } from '../../../functions/vectors/open-store.js';
import { newestVerified, type SnapshotEntry } from '../../../functions/vectors/snapshot-catalog.js';
import { Fingerprint } from '../../../functions/vectors/snapshot-format.js';
import { S3SnapshotObjects } from '../../../functions/vectors/snapshot-objects.js';
import { runScheduledSnapshot } from '../../../functions/vectors/snapshot-run.js';
import { indexExists, type VectorRecord, type VectorStore } from '../../../functions/vectors/vector-store.js';

export { indexExists };
import { type LocalAws, startLocalAws } from '../../../scripts/local-aws/server.js';
import { deployLocalStack } from '../../../scripts/local-aws/stack.js';
import { type PgliteServer, startPglite } from '../../../scripts/local-engines/pglite-server.js';
import { startWeaviate } from '../../../scripts/local-engines/weaviate-server.js';
import { sampleRecords, scanAll } from '../../contract/vector-store.contract.js';
import type { VectorPlanContents } from '../../../functions/restore/restore-vectors.js';

export { scanAll };

/**
 * What the vector restore tests share: the local AWS with the stack's table and replica bucket, a
 * real pgvector (PGlite) and LanceDB on local disk, and a test policy written to a temp dir with
 *   docs     LanceDB, 24-d cosine, native snapshots (the source of most restores)
 *   pg-docs  pgvector, 24-d cosine (its engine is the cross-engine target; its live index is pg_docs)
 *   drift    LanceDB, 24-d cosine (a source that changes after its snapshot)
 *   dots     LanceDB, 8-d dot product
 *   s3v      S3 Vectors (no dot product)
 */
export const REPLICA = 'vec-restore-replica';

/**
 * The function's clock when it parses a payload in these tests: after every snapshot they take (at
 * fixed times on 2026-11-26), so a "before" of that day is in the past whatever day the suite runs.
 */
export const PAYLOAD_NOW = new Date('2026-11-27T00:00:00Z');

export interface RestoreHarness {
  policy: Policy;
  policyFile: string;
  dir: string;
  pg: PgliteServer;
  s3: S3Client;
  catalog: DynamoSnapshotCatalog;
  plans: PlanStore<VectorPlanContents>;
  objects: S3SnapshotObjects;
  asset(name: string): VectorAsset;
  /** A new adapter on the asset's engine (the caller closes it). */
  open(asset: string): Promise<VectorStore>;
  /** Creates the asset's source index with these records. */
  seed(asset: string, records: VectorRecord[]): Promise<void>;
  /** Takes a verified snapshot of the asset's index, as snapshot-vectors would at `at`. */
  snapshot(asset: string, at: Date): Promise<SnapshotEntry>;
  /** Restore deps; `budget` = how many remainingMs() calls find time left before the invocation "ends". */
  restoreDeps(overrides?: Partial<VectorRestoreDeps> & { budget?: number }): {
    deps: VectorRestoreDeps;
    continued: Record<string, unknown>[];
  };
  stop(): Promise<void>;
}

function policyYaml(lanceDir: string, pgEndpoint: string, weaviateUrl?: string) {
  const lance = (name: string, index: string, dimensions: number, metric: string, extra = '') => `
  - name: ${name}
    kind: vector-index
    source: { engine: lancedb, index: ${index}, region: us-west-2, endpoint: ${lanceDir}, dimensions: ${dimensions}, metric: ${metric}, embedding: { model: e5-small, version: v2 } }
    replica: { bucket: ${REPLICA}, region: us-west-2, prefix: vectors/${name}/ }
    restoreTest: { goldenQueries: 12, minRecall: 0.99 }
    rpoTargetSeconds: 14400
    rtoTargetSeconds: 14400
    tier: high${extra}`;
  return `version: 1
deployment: { region: us-west-2 }
assets:${lance('docs', 'docs', 24, 'cosine', '\n    nativeSnapshot: true')}
  - name: pg-docs
    kind: vector-index
    source: { engine: pgvector, index: pg_docs, region: us-west-2, endpoint: "${pgEndpoint}", dimensions: 24, metric: cosine, embedding: { model: e5-small, version: v2 } }
    replica: { bucket: ${REPLICA}, region: us-west-2, prefix: vectors/pg-docs/ }
    rpoTargetSeconds: 14400
    rtoTargetSeconds: 14400
    tier: high${lance('drift', 'drift', 24, 'cosine')}${lance('dots', 'dots', 8, 'dot')}
  - name: s3v
    kind: vector-index
    source: { engine: s3vectors, index: s3v-index, vectorBucket: dr-vectors, region: us-west-2, dimensions: 8, metric: cosine, embedding: { model: e5-small, version: v2 } }
    replica: { bucket: ${REPLICA}, region: us-west-2, prefix: vectors/s3v/ }
    rpoTargetSeconds: 14400
    rtoTargetSeconds: 14400
    tier: standard
${
  weaviateUrl
    ? `  - name: wv-docs
    kind: vector-index
    source: { engine: weaviate, index: wv-docs, region: us-west-2, endpoint: "${weaviateUrl}", dimensions: 24, metric: cosine, embedding: { model: e5-small, version: v2 } }
    replica: { bucket: ${REPLICA}, region: us-west-2, prefix: vectors/wv-docs/ }
    nativeSnapshot: true
    rpoTargetSeconds: 14400
    rtoTargetSeconds: 14400
    tier: high
`
    : ''
}`;
}

/**
 * `weaviate`: also a real Weaviate (scripts/local-engines/weaviate-server.ts), the asset wv-docs on
 * it (native snapshots: Weaviate's backup-s3 module, into the replica bucket under weaviate-backups/).
 */
export async function startRestoreHarness(options: { weaviate?: boolean } = {}): Promise<RestoreHarness> {
  const aws: LocalAws = await startLocalAws();
  Object.assign(process.env, aws.env, { AWS_REGION: 'us-west-2' });
  const pg = await startPglite({ maxConnections: 4 });
  // Weaviate's native backups (backup-s3) go to the local AWS, beside the snapshots.
  const s3Backups = {
    endpoint: aws.endpoint,
    bucket: REPLICA,
    path: 'weaviate-backups',
    region: 'us-west-2',
    accessKeyId: aws.env.AWS_ACCESS_KEY_ID!,
    secretAccessKey: aws.env.AWS_SECRET_ACCESS_KEY!,
  };
  const weaviate = options.weaviate ? await startWeaviate({ s3: s3Backups }) : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'restore-vectors-'));
  const policyFile = join(dir, 'policy.yml');
  writeFileSync(policyFile, policyYaml(join(dir, 'lance'), pg.connectionString, weaviate?.url));
  const policy = loadPolicyFile(policyFile);
  const stack = await deployLocalStack(policy);
  Object.assign(process.env, { LEDGER_TABLE: stack.ledgerTable, DR_POLICY_FILE: policyFile });
  const s3 = new S3Client({ region: 'us-west-2', forcePathStyle: true });
  const catalog = new DynamoSnapshotCatalog(dynamoDocumentClient(), stack.ledgerTable);
  const plans = vectorPlanStore(dynamoDocumentClient(), stack.ledgerTable);
  const objects = new S3SnapshotObjects(s3, REPLICA);
  const asset = (name: string) => {
    const found = policy.assets.find((a) => a.name === name);
    if (found?.kind !== 'vector-index') throw new Error(`no vector asset ${name}`);
    return found;
  };
  const open = (name: string) => openVectorStore(asset(name));

  return {
    policy,
    policyFile,
    dir,
    pg,
    s3,
    catalog,
    plans,
    objects,
    asset,
    open,
    async seed(name, records) {
      const store = await open(name);
      try {
        const { index, dimensions, metric } = asset(name).source;
        await store.dropIndex(index);
        await store.createIndex(index, { dimensions, metric });
        await store.write(index, records);
      } finally {
        await store.close();
      }
    },
    async snapshot(name, at) {
      const { run } = await runScheduledSnapshot(asset(name), name, {
        catalog,
        objects,
        openStore: openVectorStore,
        continuation: { continueLater: async () => {} },
        now: () => at,
        remainingMs: () => 900_000,
        log: () => {},
        chunkBytes: 20_000,
        pageSize: 40,
      });
      expect(run.outcome).toBe('verified');
      return (await newestVerified(catalog, name))!;
    },
    restoreDeps(overrides = {}) {
      let calls = 0;
      const continued: Record<string, unknown>[] = [];
      const { budget, ...rest } = overrides;
      const deps: VectorRestoreDeps = {
        policy,
        plans,
        parts: vectorPlanParts(dynamoDocumentClient(), stack.ledgerTable),
        catalog,
        objectsFor: (bucket) => new S3SnapshotObjects(s3, bucket),
        openStore: openVectorStore,
        continuation: { continueLater: async (payload) => void continued.push(payload) },
        now: () => new Date(),
        remainingMs: () => (++calls <= (budget ?? Infinity) ? 900_000 : 1_000),
        batchSize: 50,
        pageSize: 60,
        ...rest,
      };
      return { deps, continued };
    },
    async stop() {
      await weaviate?.stop();
      await pg.stop();
      await aws.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A started harness with `records` in docs, their snapshot at 10:00, and an adapter open on pg-docs. */
export interface DocsSnapshot {
  h: RestoreHarness;
  pg: VectorStore;
  snapshot: SnapshotEntry;
}

/**
 * The setup of a file that restores one docs snapshot into pg-docs: before its tests, a harness is
 * started, `records` are seeded into docs and snapshotted at 10:00, pg-docs is opened, and `use` is
 * given all three; after them, pg-docs is closed and the harness stopped.
 */
export function withDocsSnapshot(records: VectorRecord[], use: (fixture: DocsSnapshot) => void): void {
  let fixture: Partial<DocsSnapshot> = {};
  beforeAll(async () => {
    const h = await startRestoreHarness();
    fixture = { h };
    await h.seed('docs', records);
    fixture.snapshot = await h.snapshot('docs', new Date('2026-11-26T10:00:00Z'));
    fixture.pg = await h.open('pg-docs');
    use(fixture as DocsSnapshot);
  }, 180_000);
  afterAll(async () => {
    await fixture.pg?.close();
    await fixture.h?.stop();
  });
}

/** 24-d records with nested metadata (ids doc-<seed>-00000...). */
export function docs(count: number, seed: number, dimensions = 24): VectorRecord[] {
  return sampleRecords(count, dimensions, seed).map((r, i) => ({
    ...r,
    metadata: { ...r.metadata, tags: ['a', `t${i % 3}`], nested: { page: i } },
  }));
}

export function fingerprintOf(records: VectorRecord[]): string {
  const fingerprint = new Fingerprint();
  records.forEach((r) => fingerprint.add(r));
  return fingerprint.hex;
}

/** The default target index name of a restore of `index` from snapshot `snapshotId`. */
export const restoredName = (index: string, snapshotId: string) => `${index}-restored-${snapshotId.toLowerCase()}`;
