import { describe, expect, it } from 'vitest';
import { continueReferenceScan, type ReferenceScan } from '../../../functions/drills/reference-neighbours.js';
import { K } from '../../../functions/restore/verify-vectors.js';
import { chunkKey } from '../../../functions/vectors/snapshot-format.js';
import type { VectorRecord } from '../../../functions/vectors/vector-store.js';
import { sampleRecords } from '../../contract/vector-store.contract.js';
import { memorySnapshot } from '../../support/memory-snapshot.js';

/**
 * The drill's reference neighbours: the exact K nearest records of each golden query, computed from
 * the snapshot's chunks in scans that stop when the invocation runs short and go on from their
 * checkpoint (saved as JSON in the run) in the next one, with the same answer as one scan.
 */
const PREFIX = 'vectors/kb/snapshots/s1/';
const records = sampleRecords(230, 8, 7);
const perChunk = 40;

const snapshotOf = (all: VectorRecord[]) => memorySnapshot(PREFIX, all, perChunk);

/** The K nearest by brute force over every record (ties with the K-th kept), as ids. */
function bruteForce(query: Float32Array): Set<string> {
  const d = (v: Float32Array) => Math.sqrt(v.reduce((s, x, i) => s + (x - query[i]!) ** 2, 0));
  const sorted = records.map((r) => ({ id: r.id, d: d(r.vector) })).sort((a, b) => a.d - b.d);
  const kth = sorted[K - 1]!.d;
  return new Set(sorted.filter((n) => n.d <= kth + 1e-6 * Math.max(1, kth)).map((n) => n.id));
}

describe('the drill’s reference neighbours', () => {
  it('scans in passes that stop when time runs short, each from its checkpoint, to the answer of one scan', async () => {
    const { manifest, objects, reads } = snapshotOf(records);
    let seconds = 0;
    const now = () => new Date(Date.UTC(2026, 11, 7, 12, 0, seconds));
    // Each pass has time for two chunks: every look at the time moves the clock on 30 s, and a pass has 60 s.
    const pass = async (scan: ReferenceScan | undefined) => {
      const until = seconds + 60;
      reads.length = 0;
      const result = await continueReferenceScan(objects, PREFIX, manifest, 5, scan, { now, more: () => (seconds += 30) <= until });
      // The run is saved as JSON between passes: the next one starts from what was saved.
      return { ...result, scan: JSON.parse(JSON.stringify(result.scan)) as ReferenceScan, reads: [...reads] };
    };

    const first = await pass(undefined);
    expect(first.scan).toMatchObject({ snapshotId: 's1', nextChunk: 2, chunks: 6, scanned: 80, startedAt: '2026-12-07T12:00:00.000Z' });
    expect(first.scan.finishedAt).toBeUndefined();
    // The golden queries (records 23, 69, 115, 161, 207: chunks 0, 1, 2, 4, 5) are read first, then chunks 0 and 1.
    expect(first.reads).toEqual([0, 1, 2, 4, 5, 0, 1].map((n) => chunkKey('', n, 'zstd')));

    const second = await pass(first.scan);
    expect(second.scan).toMatchObject({ nextChunk: 4, scanned: 160, startedAt: first.scan.startedAt });
    expect(second.reads.slice(5)).toEqual([2, 3].map((n) => chunkKey('', n, 'zstd')));

    const third = await pass(second.scan);
    expect(third.scan).toMatchObject({ nextChunk: 6, scanned: 230 });
    expect(third.scan.finishedAt).toBeDefined();
    expect(Date.parse(third.scan.finishedAt!)).toBeGreaterThan(Date.parse(third.scan.startedAt));

    // The same queries as the records at those positions, and their exact neighbours by brute force.
    expect(third.queries).toEqual([23, 69, 115, 161, 207].map((p) => records[p]!.vector));
    third.queries.forEach((q, i) => {
      expect(new Set(third.scan.nearest[i]!.map((n) => n.id))).toEqual(bruteForce(q));
      expect(third.scan.nearest[i]![0]).toEqual({ id: records[[23, 69, 115, 161, 207][i]!]!.id, d: 0 });
    });

    // In one pass with time enough: the same neighbours.
    const once = await continueReferenceScan(objects, PREFIX, manifest, 5, undefined, { now, more: () => true });
    expect(once.scan.nearest).toEqual(third.scan.nearest);
  });

  it('starts again on a checkpoint of another snapshot; a finished scan continued reads no chunk past the queries’', async () => {
    const { manifest, objects, reads } = snapshotOf(records);
    const now = () => new Date(Date.UTC(2026, 11, 7, 12, 0, 0));
    const done = await continueReferenceScan(objects, PREFIX, manifest, 3, undefined, { now, more: () => true });
    const stale = { ...done.scan, snapshotId: 's0', nextChunk: 6 };
    const again = await continueReferenceScan(objects, PREFIX, manifest, 3, stale, { now, more: () => true });
    expect(again.scan).toEqual(done.scan);
    // A finished scan continued reads the queries' chunks only and keeps its answer and its end.
    reads.length = 0;
    const after = await continueReferenceScan(objects, PREFIX, manifest, 3, done.scan, { now, more: () => true });
    expect(after.scan).toEqual(done.scan);
    expect(reads).toHaveLength(3);
  });

  it('refuses a chunk that does not match the manifest (the caller fails the asset)', async () => {
    const { manifest, objects } = snapshotOf(records);
    const damaged = { ...manifest, chunks: manifest.chunks.map((c, i) => (i === 3 ? { ...c, sha256: '0'.repeat(64) } : c)) };
    await expect(
      continueReferenceScan(objects, PREFIX, damaged, 3, undefined, { now: () => new Date(0), more: () => true }),
    ).rejects.toThrow(/chunks\/000003\.ndjson\.zst: SHA-256 .* does not match the manifest/);
  });
});
