import { createHash } from 'node:crypto';
import { constants, zstdCompressSync } from 'node:zlib';
import { canonicalJson } from '../../functions/shared/json.js';
import { chunkKey, encodeLines, formatName, manifestKey, type Manifest } from '../../functions/vectors/snapshot-format.js';
import type { SnapshotObjects } from '../../functions/vectors/snapshot-objects.js';
import type { Metric, VectorRecord } from '../../functions/vectors/vector-store.js';

/**
 * A snapshot of `records` in memory, as snapshot-vectors writes one (format version 3, zstd chunks
 * of `perChunk` records, manifest.json), behind the reads of SnapshotObjects (`get`), which it
 * records by key under the prefix.
 */
export function memorySnapshot(prefix: string, records: VectorRecord[], perChunk: number, metric: Metric = 'euclidean') {
  const files = new Map<string, Buffer>();
  const chunks: Manifest['chunks'] = [];
  for (let first = 0, seq = 0; first < records.length; first += perChunk, seq++) {
    const page = records.slice(first, first + perChunk);
    const lines = encodeLines(
      page,
      page.map((r) => canonicalJson(r.metadata)),
    );
    const body = zstdCompressSync(lines, { params: { [constants.ZSTD_c_compressionLevel]: 1 } });
    const key = chunkKey('', seq, 'zstd');
    files.set(`${prefix}${key}`, body);
    chunks.push({ key, records: page.length, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
  }
  const manifest = {
    format: formatName,
    formatVersion: 3,
    snapshotId: prefix.split('/').at(-2)!,
    asset: 'kb',
    engine: 'lancedb',
    index: 'kb',
    dimensions: records[0]?.vector.length ?? 1,
    metric,
    count: records.length,
    bytes: chunks.reduce((n, c) => n + c.bytes, 0),
    fingerprint: { algorithm: 'sha256-sum-mod-2^256', value: '0'.repeat(64) },
    embedding: { model: 'e5', version: 'v1' },
    consistency: 'point-in-time',
    window: { startedAt: '2026-11-26T15:42:07Z', finishedAt: '2026-11-26T15:43:07Z' },
    createdAt: '2026-11-26T15:43:07Z',
    compression: 'zstd',
    chunks,
  } satisfies Manifest;
  files.set(manifestKey(prefix), Buffer.from(JSON.stringify(manifest)));
  const reads: string[] = [];
  const objects = {
    get: async (key: string) => (reads.push(key.slice(prefix.length)), files.get(key)),
  } as unknown as SnapshotObjects;
  return { manifest, objects, reads };
}
