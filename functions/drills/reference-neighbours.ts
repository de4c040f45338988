import { goldenVectors, K } from '../restore/verify-vectors.js';
import { readChunk } from '../vectors/read-snapshot.js';
import type { Manifest } from '../vectors/snapshot-format.js';
import type { SnapshotObjects } from '../vectors/snapshot-objects.js';
import type { Metric } from '../vectors/vector-store.js';

/** A record near a query, at distance `d` as the metric orders neighbours (smaller is nearer). */
export interface Near {
  id: string;
  d: number;
}

/**
 * Where a drill's reference scan stands (`checks.reference` of the asset, saved with the run): the
 * exact nearest records of each golden query over the chunks read so far. A scan of a hundred
 * million vectors takes hours: when an invocation runs short the drill saves where it stands, and
 * the next invocation goes on from `nextChunk`.
 */
export interface ReferenceScan {
  snapshotId: string;
  /** The next chunk of the manifest to read. */
  nextChunk: number;
  chunks: number;
  /** Records compared with every query so far. */
  scanned: number;
  /** The scan's first and (once every chunk is read) last moment: the time between is not the recovery's. */
  startedAt: string;
  finishedAt?: string;
  /** Per golden query, its nearest records so far, nearest first, with every record tied with the K-th kept. */
  nearest: Near[][];
}

const dotOf = (a: Float32Array, b: Float32Array) => {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
  return dot;
};

/**
 * The distances of one record to every query, as the metric orders neighbours (smaller is nearer):
 * one pass over the vector per query, and a cosine's norms computed once per vector.
 */
function distancesTo(metric: Metric, queries: Float32Array[], queryNorms: number[], v: Float32Array): number[] {
  if (metric === 'dot') return queries.map((q) => -dotOf(q, v));
  if (metric === 'cosine') {
    const norm = Math.sqrt(dotOf(v, v));
    return queries.map((q, i) => 1 - dotOf(q, v) / (queryNorms[i]! * norm || 1));
  }
  return queries.map((q) => {
    let sq = 0;
    for (let i = 0; i < q.length; i++) {
      const d = q[i]! - v[i]!;
      sq += d * d;
    }
    return Math.sqrt(sq);
  });
}

const tolerance = (d: number) => (Number.isFinite(d) ? 1e-6 * Math.max(1, Math.abs(d)) : 0);

/** Keeps `record` among a query's nearest if it is within the K-th distance (ties kept). */
function offer(list: Near[], id: string, d: number): void {
  // A distance that is not a number (a vector holding NaN) orders nothing and would not survive the checkpoint's JSON.
  if (!Number.isFinite(d)) return;
  const kth = list.length >= K ? list[K - 1]!.d : Infinity;
  if (d > kth + tolerance(kth)) return;
  list.push({ id, d });
  list.sort((x, y) => x.d - y.d);
  const cut = list[K - 1]?.d;
  if (cut !== undefined) while (list.length > K && list.at(-1)!.d > cut + tolerance(cut)) list.pop();
}

/**
 * Goes on with the exact K nearest neighbours of the snapshot's golden queries over the whole
 * snapshot, from `scan` (a fresh scan where it is undefined or of another snapshot), one chunk at a
 * time while `more()` says there is time: the golden queries are read first (from the chunks that
 * hold them only), then each chunk from `nextChunk` on. The caller saves what comes back; the scan
 * is done when `finishedAt` is set.
 */
export async function continueReferenceScan(
  objects: SnapshotObjects,
  prefix: string,
  manifest: Manifest,
  wanted: number,
  scan: ReferenceScan | undefined,
  clock: { now: () => Date; more: () => boolean },
): Promise<{ scan: ReferenceScan; queries: Float32Array[] }> {
  const queries = await goldenVectors(objects, prefix, manifest, wanted);
  const current: ReferenceScan =
    scan && scan.snapshotId === manifest.snapshotId && Array.isArray(scan.nearest) && scan.nearest.length === queries.length
      ? scan
      : {
          snapshotId: manifest.snapshotId,
          nextChunk: 0,
          chunks: manifest.chunks.length,
          scanned: 0,
          startedAt: clock.now().toISOString(),
          nearest: queries.map(() => []),
        };
  const queryNorms = queries.map((q) => Math.sqrt(dotOf(q, q)));
  while (current.nextChunk < manifest.chunks.length && clock.more()) {
    for (const record of await readChunk(objects, prefix, manifest, manifest.chunks[current.nextChunk]!)) {
      distancesTo(manifest.metric, queries, queryNorms, record.vector).forEach((d, i) => offer(current.nearest[i]!, record.id, d));
    }
    current.scanned += manifest.chunks[current.nextChunk]!.records;
    current.nextChunk++;
  }
  if (current.nextChunk === manifest.chunks.length) current.finishedAt ??= clock.now().toISOString();
  return { scan: current, queries };
}
