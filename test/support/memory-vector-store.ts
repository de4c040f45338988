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

  /** Cursors: the last id of a page, or (a part of a partitioned scan) JSON {"after"?, "until"?}, as pgvector's ranges. */
  async scan(name: string, { cursor, limit }: { cursor?: string; limit: number }) {
    if (++this.scans > this.failScanAfter) throw new EngineError(this.engine, 'connection refused (127.0.0.1:5432)');
    const { after, until } = cursor?.startsWith('{')
      ? (JSON.parse(cursor) as { after?: string; until?: string })
      : { after: cursor, until: undefined };
    const ids = [...this.index(name).records.keys()]
      .sort()
      .filter((id) => (after === undefined || id > after) && (until === undefined || id <= until));
    const page = ids.slice(0, limit);
    const records = page.map((id) => structuredClone(this.index(name).records.get(id)!));
    const last = page.at(-1);
    const more = last !== undefined && last !== ids.at(-1);
    return { records, cursor: more ? (until === undefined ? last : JSON.stringify({ after: last, until })) : undefined };
  }

  async partitionScan(name: string, count: number) {
    const ids = [...this.index(name).records.keys()].sort();
    const cuts = [...new Set(Array.from({ length: count - 1 }, (_, i) => ids[Math.floor((ids.length * (i + 1)) / count)]))].filter(
      (cut): cut is string => cut !== undefined,
    );
    return [...cuts, undefined].map((until, i) =>
      JSON.stringify({ ...(i > 0 && { after: cuts[i - 1] }), ...(until !== undefined && { until }) }),
    );
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
