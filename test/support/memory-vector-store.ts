import {
  EngineError,
  IndexExistsError,
  IndexNotFoundError,
  type Consistency,
  type IndexSpec,
  type VectorRecord,
  type VectorStore,
} from '../../functions/vectors/vector-store.js';

/**
 * An in-memory VectorStore for unit tests of what sits above the port. It passes the same contract
 * suite as the real adapters (test/unit/vectors/memory-vector-store.test.ts). `failScanAfter` makes
 * the engine "go down" after that many scan calls.
 */
export class MemoryVectorStore implements VectorStore {
  readonly engine = 'pgvector' as const;
  readonly exactSearch = true;
  readonly indexes = new Map<string, { spec: IndexSpec; records: Map<string, VectorRecord> }>();
  scans = 0;
  failScanAfter = Infinity;

  constructor(readonly consistency: Consistency = 'window') {}

  private index(name: string) {
    const index = this.indexes.get(name);
    if (!index) throw new IndexNotFoundError(this.engine, name);
    return index;
  }

  async describe(name: string) {
    const { spec, records } = this.index(name);
    return { ...spec, count: records.size };
  }

  async scan(name: string, { cursor, limit }: { cursor?: string; limit: number }) {
    if (++this.scans > this.failScanAfter) throw new EngineError(this.engine, 'connection refused (127.0.0.1:5432)');
    const ids = [...this.index(name).records.keys()].sort();
    const start = cursor === undefined ? 0 : ids.findIndex((id) => id > cursor);
    const page = start < 0 ? [] : ids.slice(start, start + limit);
    const records = page.map((id) => structuredClone(this.index(name).records.get(id)!));
    const last = page.at(-1);
    return { records, cursor: last !== undefined && last !== ids.at(-1) ? last : undefined };
  }

  async write(name: string, records: readonly VectorRecord[]) {
    const index = this.index(name);
    for (const record of records) index.records.set(record.id, structuredClone(record));
  }

  async createIndex(name: string, spec: IndexSpec) {
    if (this.indexes.has(name)) throw new IndexExistsError(this.engine, name);
    this.indexes.set(name, { spec, records: new Map() });
  }

  async dropIndex(name: string) {
    this.indexes.delete(name);
  }

  async query(name: string, vector: Float32Array, k: number) {
    const distance = (v: Float32Array) => v.reduce((sum, x, i) => sum + (x - vector[i]!) ** 2, 0);
    return [...this.index(name).records.values()]
      .map((r) => ({ id: r.id, score: distance(r.vector) }))
      .sort((a, b) => a.score - b.score)
      .slice(0, k);
  }

  async close() {}
}
