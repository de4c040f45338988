import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionedScanEngines } from '../../functions/policy/schema.js';
import {
  IndexExistsError,
  IndexNotFoundError,
  type Metadata,
  type Metric,
  type VectorRecord,
  type VectorStore,
} from '../../functions/vectors/vector-store.js';

/**
 * The one contract every VectorStore adapter meets (like litestream's replica_client_test.go: one
 * suite, every backend). Each adapter's test file starts its engine (or the HTTP emulator shaped
 * like the engine's documented API) and calls vectorStoreContract.
 */
export interface ContractTarget {
  store: VectorStore;
  /** Opens a second, independent adapter on the same engine (a later invocation resuming a scan). */
  reopen: () => Promise<VectorStore>;
  /** Metrics the engine supports; the suite creates one index per metric. */
  metrics: readonly Metric[];
  /** Whether describe() reports the metric (pgvector without an ANN index does not). */
  reportsMetric?: boolean;
  /** Stops what the setup started. */
  stop: () => Promise<void>;
}

let serial = 0;
/** Index names every engine accepts: lowercase letters, digits and hyphens, starting with a letter. */
export const freshIndexName = (prefix = 'contract') => `${prefix}-${process.pid}-${Date.now().toString(36)}-${(serial++).toString(36)}`;

/** Deterministic records with ids that are not numbers or UUIDs, float32 vectors and flat metadata. */
export function sampleRecords(count: number, dimensions: number, seed = 1): VectorRecord[] {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
  return Array.from({ length: count }, (_, i) => {
    const vector = new Float32Array(dimensions);
    for (let d = 0; d < dimensions; d++) vector[d] = next() * 2 - 1;
    const metadata: Metadata = { label: `item ${i} — ünïcødé`, rank: i, score: Math.fround(next()), active: i % 2 === 0 };
    return { id: `doc-${seed}-${String(i).padStart(5, '0')}`, vector, metadata };
  });
}

/** Every record of an index, page by page (from `cursor` when given); each page within `limit`. */
export async function scanAll(store: VectorStore, index: string, limit = 200, cursor?: string): Promise<VectorRecord[]> {
  const records: VectorRecord[] = [];
  do {
    const page = await store.scan(index, { cursor, limit });
    expect(page.records.length).toBeLessThanOrEqual(limit);
    records.push(...page.records);
    cursor = page.cursor;
  } while (cursor !== undefined);
  return records;
}

function expectSameRecords(actual: VectorRecord[], expected: VectorRecord[]) {
  const byId = new Map(actual.map((r) => [r.id, r]));
  expect(byId.size, 'a scan returned a record twice').toBe(actual.length);
  expect([...byId.keys()].sort()).toEqual(expected.map((r) => r.id).sort());
  for (const want of expected) {
    const got = byId.get(want.id)!;
    expect(got.vector).toBeInstanceOf(Float32Array);
    expect(Array.from(got.vector), `vector of ${want.id}`).toEqual(Array.from(want.vector));
    expect(got.metadata, `metadata of ${want.id}`).toEqual(want.metadata);
  }
}

export function vectorStoreContract(name: string, setup: () => Promise<ContractTarget>) {
  describe(`VectorStore contract: ${name}`, () => {
    let target: ContractTarget;
    const dimensions = 16;

    beforeAll(async () => {
      target = await setup();
    });
    afterAll(async () => {
      await target?.store.close();
      await target?.stop();
    });

    it('creates an index per supported metric and describes it; a second create is refused', async () => {
      for (const metric of target.metrics) {
        const index = freshIndexName();
        await target.store.createIndex(index, { dimensions, metric });
        const description = await target.store.describe(index);
        expect(description).toMatchObject({ dimensions, count: 0 });
        if (target.reportsMetric !== false) expect(description.metric).toBe(metric);
        await expect(target.store.createIndex(index, { dimensions, metric })).rejects.toBeInstanceOf(IndexExistsError);
        await target.store.dropIndex(index);
      }
    });

    it('describes and scans a missing index as IndexNotFoundError; dropping it is not an error', async () => {
      const index = freshIndexName('missing');
      await expect(target.store.describe(index)).rejects.toBeInstanceOf(IndexNotFoundError);
      await expect(target.store.scan(index, { limit: 10 })).rejects.toBeInstanceOf(IndexNotFoundError);
      await expect(target.store.dropIndex(index)).resolves.toBeUndefined();
    });

    it('writes records and scans every one back, bit for bit, in pages', async () => {
      const index = freshIndexName();
      const records = sampleRecords(237, dimensions);
      await target.store.createIndex(index, { dimensions, metric: target.metrics[0]! });
      await target.store.write(index, records.slice(0, 100));
      await target.store.write(index, records.slice(100));

      expect((await target.store.describe(index)).count).toBe(records.length);
      expectSameRecords(await scanAll(target.store, index, 50), records);
      await target.store.dropIndex(index);
      await expect(target.store.describe(index)).rejects.toBeInstanceOf(IndexNotFoundError);
    });

    it('resumes a scan from a cursor in another adapter instance without repeating or missing a record', async () => {
      const index = freshIndexName();
      const records = sampleRecords(120, dimensions, 7);
      await target.store.createIndex(index, { dimensions, metric: target.metrics[0]! });
      await target.store.write(index, records);

      const first = await target.store.scan(index, { limit: 45 });
      expect(first.records).toHaveLength(45);
      expect(first.cursor).toBeDefined();
      const resumed = await target.reopen();
      try {
        const rest: VectorRecord[] = [];
        let cursor = first.cursor;
        while (cursor !== undefined) {
          const page = await resumed.scan(index, { cursor, limit: 45 });
          rest.push(...page.records);
          cursor = page.cursor;
        }
        expectSameRecords([...first.records, ...rest], records);
      } finally {
        await resumed.close();
        await target.store.dropIndex(index);
      }
    });

    it('splits a scan into disjoint parts that together hold every record once, each continued in pages (or the policy refuses parts for it)', async () => {
      // Partitioned snapshots are offered (policy snapshotPartitions) exactly where the adapter splits a scan.
      expect(partitionedScanEngines.includes(target.store.engine)).toBe(target.store.partitionScan !== undefined);
      if (!target.store.partitionScan) return;
      const index = freshIndexName();
      const records = sampleRecords(301, dimensions, 11);
      await target.store.createIndex(index, { dimensions, metric: target.metrics[0]! });
      await target.store.write(index, records);
      try {
        const parts = await target.store.partitionScan(index, 4);
        expect(parts.length).toBeGreaterThan(1);
        expect(parts.length).toBeLessThanOrEqual(4);
        const scanned = await Promise.all(parts.map((cursor) => scanAll(target.store, index, 40, cursor)));
        expect(scanned.every((part) => part.length > 0)).toBe(true);
        expectSameRecords(scanned.flat(), records); // no record missing, none twice
        expect(await target.store.partitionScan(index, 1)).toHaveLength(1);
      } finally {
        await target.store.dropIndex(index);
      }
    });

    it('upserts: writing an existing id replaces its vector and metadata', async () => {
      const index = freshIndexName();
      const [a, b] = sampleRecords(2, dimensions, 3);
      await target.store.createIndex(index, { dimensions, metric: target.metrics[0]! });
      await target.store.write(index, [a!, b!]);
      const replaced: VectorRecord = { id: a!.id, vector: b!.vector.map((x) => -x), metadata: { label: 'replaced', rank: -1 } };
      await target.store.write(index, [replaced]);

      expect((await target.store.describe(index)).count).toBe(2);
      expectSameRecords(await scanAll(target.store, index, 10), [replaced, b!]);
      await target.store.dropIndex(index);
    });

    it('answers k-nearest-neighbour queries nearest first', async () => {
      const index = freshIndexName();
      const records = sampleRecords(60, dimensions, 11);
      await target.store.createIndex(index, { dimensions, metric: target.metrics[0]! });
      await target.store.write(index, records);

      for (const probe of [records[0]!, records[17]!, records[59]!]) {
        const neighbours = await target.store.query(index, probe.vector, 5);
        expect(neighbours).toHaveLength(5);
        expect(neighbours[0]!.id).toBe(probe.id);
        expect(new Set(neighbours.map((n) => n.id)).size).toBe(5);
      }
      await target.store.dropIndex(index);
    });
  });
}
