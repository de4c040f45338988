import type { AlertDeps } from '../alerts/evaluate.js';
import type { ReplicationLedger } from '../ledger/ledger.js';
import type { Asset, ObjectAsset, Policy, VectorAsset } from '../policy/schema.js';
import type { DataRestoreStatus } from '../restore/restore-data.js';
import type { VectorRestoreStatus } from '../restore/restore-vectors.js';
import type { AssetMeasurement } from '../rpo/measure.js';
import type { Continuation } from '../shared/continuation.js';
import type { InvocationTime } from '../shared/invocation-time.js';
import type { VersionedStore } from '../storage/versioned-store.js';
import type { SnapshotObjects } from '../vectors/snapshot-objects.js';
import type { VectorStore } from '../vectors/vector-store.js';
import type { PinDeps } from '../serving/operator-pin.js';
import type { ServingDeps } from '../serving/probe-round.js';
import type { DrillStore } from './drill-run.js';

/**
 * What a drill needs, every piece of it in the DR region (a region-outage drill must pass with the
 * primary region answering nothing but errors): the ledger table, the replica and workspace buckets,
 * the snapshot files, and the engine that receives the scratch indexes.
 *
 * reserveMs: a drill stops starting steps when fewer milliseconds than this remain (default 60 s),
 * saves where it stands and continues in a new invocation.
 */
export interface DrillDeps extends InvocationTime {
  policy: Policy;
  store: DrillStore;
  /** The runbooks' "status" step: an asset's live RPO at a time (what measure-rpo and status compute). */
  measure: (asset: Asset, at: Date) => Promise<AssetMeasurement>;
  /** A restore-data payload, run as the restore-data function runs it (parsed against the policy first). */
  restoreData: (payload: Record<string, unknown>) => Promise<DataRestoreStatus>;
  /**
   * A restore-vectors payload, run as the restore-vectors function runs it. `inParts`: the restore
   * fans out, so its parts and continuations go to the restore-vectors function (a restore in one
   * chain is continued by the drill's own invocations).
   */
  restoreVectors: (payload: Record<string, unknown>, options?: { inParts: boolean }) => Promise<VectorRestoreStatus>;
  ledger: ReplicationLedger;
  /** The store of an object asset's replica (the DR region's). */
  replicaStore: (asset: ObjectAsset) => VersionedStore;
  /** The store of the drill's workspace bucket (its region's). */
  workspaceStore: (region: string) => VersionedStore;
  /**
   * Removes every version and incomplete upload under a prefix of a workspace bucket, a page at a
   * time while `more()` says there is time: how many, and whether nothing is left (`done`).
   */
  destroy: (bucket: string, region: string, prefix: string, more: () => boolean) => Promise<{ removed: number; done: boolean }>;
  /** The snapshot files of a vector asset (its replica bucket). */
  snapshotObjects: (asset: VectorAsset) => SnapshotObjects;
  openStore: (asset: VectorAsset) => Promise<VectorStore>;
  alerts: AlertDeps;
  /** Where a drill that does not fit one invocation continues: {"drill", "drillId", "continuation": true} to the dr-drill function, asynchronously. */
  continuation: Continuation;
  /** How long a step waiting on work elsewhere (a restore's parts) waits before it looks again. Default 10 s. */
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Told when a run has finished (the report function, asynchronously); its failure does not fail the drill. */
  finished?: (drill: string, drillId: string) => Promise<void>;
  /** probe-serving's round and pins (model-provider-outage drills); undefined when the policy has no serving section. */
  serving?: ServingDeps & PinDeps;
}
