import type { VectorAsset } from '../policy/schema.js';
import type { Continuation } from '../shared/continuation.js';
import { describeError } from '../shared/errors.js';
import { applyRetention, type RetentionDeps, type RetentionPlan } from './retention.js';
import { snapshotVectorIndex, type SnapshotDeps, type SnapshotRun, type SnapshotTarget } from './take-snapshot.js';
import type { VectorStore } from './vector-store.js';

export type ScheduledRunDeps = Omit<SnapshotDeps, 'store'> &
  RetentionDeps & {
    openStore: (asset: VectorAsset) => Promise<VectorStore>;
    continuation: Continuation;
  };

export function snapshotTargetOf(asset: VectorAsset, policyPath: string): SnapshotTarget {
  return {
    asset: asset.name,
    engine: asset.source.engine,
    index: asset.source.index,
    dimensions: asset.source.dimensions,
    metric: asset.source.metric,
    embedding: asset.source.embedding,
    replicaPrefix: asset.replica.prefix ?? '',
    native: asset.nativeSnapshot,
    partitionCount: asset.snapshotPartitions,
    policyPath: `${policyPath}.source`,
  };
}

/**
 * One scheduled (or continued) run for an asset: take, resume or verify its snapshot; after a
 * verified snapshot, apply retention; if the work did not fit, ask for a continuation. `part`: the
 * run is one part of a partitioned snapshot; the parts a run dispatches start in invocations of
 * their own ({"asset", "continuation": true, "snapshotId", "part"}).
 */
export async function runScheduledSnapshot(
  asset: VectorAsset,
  policyPath: string,
  deps: ScheduledRunDeps,
  part?: { snapshotId: string; part: string },
): Promise<{ run: SnapshotRun; retention?: RetentionPlan }> {
  const target = { ...snapshotTargetOf(asset, policyPath), ...(deps.lock && { lock: deps.lock }) };
  let store: VectorStore;
  try {
    store = await deps.openStore(asset);
  } catch (error) {
    return { run: { outcome: 'failed', reason: `cannot open ${asset.source.engine}: ${describeError(error)}` } };
  }
  try {
    const run = await snapshotVectorIndex(target, { ...deps, store }, part);
    const later = (more: Record<string, unknown> = {}) =>
      deps.continuation.continueLater({ asset: asset.name, continuation: true, ...more });
    if (run.outcome === 'in-progress') await later('part' in run ? { snapshotId: run.snapshotId, part: run.part } : {});
    if (run.outcome === 'dispatched') await Promise.all(run.parts.map((p) => later({ snapshotId: run.snapshotId, part: p })));
    const retention = run.outcome === 'verified' ? await applyRetention(asset.name, asset.retention, deps) : undefined;
    return { run, ...(retention && { retention }) };
  } finally {
    await store.close();
  }
}
