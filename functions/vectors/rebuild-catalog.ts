import { randomUUID } from 'node:crypto';
import type { VectorAsset } from '../policy/schema.js';
import { readManifest, SnapshotCorruptError, verifySnapshotFiles } from './read-snapshot.js';
import type { SnapshotCatalogStore, SnapshotEntry } from './snapshot-catalog.js';
import { manifestKey, type Manifest } from './snapshot-format.js';
import type { SnapshotObjects } from './snapshot-objects.js';

/**
 * Makes an asset's snapshot catalog again from the replica, for when the ledger table that holds
 * it was lost or restored from an older backup (docs/vector-snapshots.md#rebuilding-the-catalog).
 * Every snapshot folder under `<replica prefix>snapshots/` whose manifest.json is there (it is
 * written last: without it the snapshot never finished) and names this asset gets its entry back,
 * with the lock its manifest carries, and is read back against its manifest (every chunk's SHA-256,
 * the record count, the content fingerprint) before it is `verified`, and so offered for restore.
 * Entries the catalog has are left as they are. Idempotent and resumable: an entry added but not
 * yet read back to the end keeps its checkpoint and is continued by the next invocation.
 */

export interface RebuildDeps {
  catalog: SnapshotCatalogStore;
  objects: SnapshotObjects;
  now: () => Date;
  remainingMs: () => number;
  /** Time kept back at the end of an invocation (default 60 s). */
  reserveMs?: number;
  log: (message: string, fields: Record<string, unknown>) => void;
}

export interface RebuildResult {
  asset: string;
  /** Snapshot folders found in the replica. */
  found: number;
  /** Already in the catalog (left alone). */
  known: number;
  /** Entries made again from their manifests by this invocation. */
  added: number;
  /** Rebuilt entries read back whole and marked verified by this invocation. */
  verified: number;
  /** Folders without a manifest: snapshots that never finished, never offered for restore. */
  incomplete: number;
  /** Snapshots whose files do not match their manifest (marked corrupt), or whose manifest is unreadable or another asset's (skipped). */
  corrupt: { snapshotId: string; reason: string }[];
  /** Rebuilt entries another invocation was reading back (left to it: run the rebuild again later to see them verified). */
  busy: string[];
  /** False when the invocation ran out of time: invoke again (the handler continues itself). */
  done: boolean;
}

/** The catalog entry a manifest stands for, before it is read back. */
function entryFromManifest(asset: VectorAsset, prefix: string, manifest: Manifest, lock: SnapshotEntry['lock'], now: Date): SnapshotEntry {
  return {
    asset: asset.name,
    snapshotId: manifest.snapshotId,
    state: 'complete',
    engine: manifest.engine,
    index: manifest.index,
    dimensions: manifest.dimensions,
    metric: manifest.metric,
    prefix,
    startedAt: manifest.window.startedAt,
    compression: manifest.compression,
    finishedAt: manifest.window.finishedAt,
    count: manifest.count,
    bytes: manifest.bytes,
    chunks: manifest.chunks.length,
    fingerprint: manifest.fingerprint.value,
    ...(lock && { lock }),
    rebuiltAt: now.toISOString(),
  };
}

export async function rebuildCatalog(asset: VectorAsset, deps: RebuildDeps): Promise<RebuildResult> {
  const reserveMs = deps.reserveMs ?? 60_000;
  const hasTime = () => deps.remainingMs() >= reserveMs;
  const snapshots = `${asset.replica.prefix ?? ''}snapshots/`;
  const prefixes = await deps.objects.listSnapshots(snapshots);
  const result: RebuildResult = {
    asset: asset.name,
    found: prefixes.length,
    known: 0,
    added: 0,
    verified: 0,
    incomplete: 0,
    corrupt: [],
    busy: [],
    done: false,
  };
  for (const prefix of prefixes) {
    if (!hasTime()) return result;
    const snapshotId = prefix.slice(snapshots.length, -1);
    let entry = await deps.catalog.get(asset.name, snapshotId);
    // What the catalog has stays; a rebuilt entry not yet read back to the end is continued.
    if (entry && !(entry.rebuiltAt && entry.state === 'complete')) {
      result.known++;
      continue;
    }
    let manifest: Manifest | undefined;
    try {
      manifest = await readManifest(deps.objects, prefix);
    } catch (error) {
      if (!(error instanceof SnapshotCorruptError)) throw error;
      result.corrupt.push({ snapshotId, reason: error.message });
      continue;
    }
    if (!manifest) {
      result.incomplete++;
      continue;
    }
    if (manifest.asset !== asset.name || manifest.snapshotId !== snapshotId) {
      result.corrupt.push({
        snapshotId,
        reason: `${manifestKey(prefix)} names snapshot ${manifest.snapshotId} of asset ${manifest.asset}, not ${snapshotId} of ${asset.name}`,
      });
      continue;
    }
    if (!entry) {
      const head = await deps.objects.head(manifestKey(prefix));
      entry = entryFromManifest(asset, prefix, manifest, head?.lock, deps.now());
      // Another invocation may have added it meanwhile: then it is continued from what it saved.
      if (await deps.catalog.begin(entry)) result.added++;
      else entry = (await deps.catalog.get(asset.name, snapshotId)) ?? entry;
    }
    const owner = randomUUID();
    const until = new Date(deps.now().getTime() + Math.min(deps.remainingMs(), 900_000) + 60_000);
    if (!(await deps.catalog.lease(asset.name, snapshotId, owner, until, deps.now()))) {
      // Another invocation reads it back (the scheduled run verifies a newest `complete` entry): left to it.
      result.busy.push(snapshotId);
      continue;
    }
    try {
      const read = await verifySnapshotFiles(deps.objects, prefix, manifest, hasTime, entry.verify);
      if (!read.done) {
        await deps.catalog.update(asset.name, snapshotId, { verify: read.progress });
        return result;
      }
      await deps.catalog.update(asset.name, snapshotId, { state: 'verified', verifiedAt: deps.now().toISOString() });
      result.verified++;
      deps.log('snapshot catalog entry rebuilt and verified', { asset: asset.name, snapshotId, count: manifest.count });
    } catch (error) {
      if (!(error instanceof SnapshotCorruptError)) throw error;
      await deps.catalog.update(asset.name, snapshotId, { state: 'corrupt', reason: `rebuilt from its manifest: ${error.message}` });
      result.corrupt.push({ snapshotId, reason: error.message });
    } finally {
      await deps.catalog.release(asset.name, snapshotId, owner);
    }
  }
  return { ...result, done: true };
}
