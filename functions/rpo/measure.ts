import type { OldestChange, TargetCheck, TargetMissReason } from '../alerts/target-events.js';
import type { LedgerQueries } from '../ledger/ledger.js';
import type { Asset } from '../policy/schema.js';
import { replicatedKinds } from '../policy/schema.js';
import { type LagStats, lagStats } from './percentiles.js';
import type { SnapshotCatalog } from './snapshot-catalog.js';

/** Why an asset misses its RPO target. */
export type MissReason = Extract<TargetMissReason, 'rpo-over-target' | 'no-verified-snapshot'>;

export interface AssetMeasurement {
  asset: string;
  kind: Asset['kind'];
  tier: Asset['tier'];
  rpoTargetSeconds: number;
  /** now − source write time of the oldest unverified change (0 when none); null when unknown. */
  rpoSeconds: number | null;
  status: 'ok' | 'missed' | 'not-measured';
  reason?: MissReason;
  oldestChange?: OldestChange;
  pendingObjects: number;
  pendingBytes: number;
  failedObjects: number;
  /** Lag of the versions replicated within the window. */
  lag: LagStats;
  lagValues: number[];
  lastReplicatedAt?: string;
  newestSnapshotAt?: string;
  /** Age of the oldest change still unread in the replication queue (stack-wide), when known. */
  queueAgeSeconds?: number;
  /** The pending count stopped at the read limit: there are at least this many. */
  pendingCapped?: boolean;
  measuredAt: string;
}

export interface MeasureDeps {
  ledger: LedgerQueries;
  snapshots: SnapshotCatalog;
  /** The time the measurement is of (one time for every asset of a run). */
  at: Date;
  /** Lag is measured over versions replicated in the last windowSeconds. */
  windowSeconds: number;
  /** At most this many recent replications are read for lag (bounds a run after a huge burst). */
  maxLagSamples?: number;
  /** At most this many unreplicated entries are read (the oldest first; counts above are "at least"). */
  maxPending?: number;
  /** Age of the oldest unread change in the replication queue, measured once per run. */
  queueAgeSeconds?: number;
}

const seconds = (from: string | Date, to: Date) => Math.max(0, (to.getTime() - new Date(from).getTime()) / 1000);

/**
 * Live RPO of one asset: how much (in time) would be lost if the primary region died now. Reads
 * only the asset's unreplicated ledger items and its recent replications: cost grows with pending
 * work and recent change, never with history.
 */
export async function measureAsset(deps: MeasureDeps, asset: Asset): Promise<AssetMeasurement> {
  const base = {
    asset: asset.name,
    kind: asset.kind,
    tier: asset.tier,
    rpoTargetSeconds: asset.rpoTargetSeconds,
    measuredAt: deps.at.toISOString(),
    pendingObjects: 0,
    pendingBytes: 0,
    failedObjects: 0,
    lag: lagStats([]),
    lagValues: [],
  };
  if (asset.kind === 'vector-index') {
    const newest = await deps.snapshots.newestVerifiedSnapshotAt(asset.name);
    if (!newest) return { ...base, rpoSeconds: null, status: 'missed', reason: 'no-verified-snapshot' };
    const rpoSeconds = seconds(newest, deps.at);
    return {
      ...base,
      rpoSeconds,
      newestSnapshotAt: newest.toISOString(),
      ...(rpoSeconds > asset.rpoTargetSeconds ? { status: 'missed', reason: 'rpo-over-target' } : { status: 'ok' }),
    };
  }
  if (!replicatedKinds.includes(asset.kind)) return { ...base, rpoSeconds: null, status: 'not-measured' };

  const since = new Date(deps.at.getTime() - deps.windowSeconds * 1000);
  const maxPending = deps.maxPending ?? 100_000;
  const [unreplicated, recent, last] = await Promise.all([
    deps.ledger.unreplicated(asset.name, maxPending),
    deps.ledger.replicatedSince(asset.name, since, deps.maxLagSamples ?? 10_000),
    deps.ledger.lastReplicated(asset.name),
  ]);
  const oldest = unreplicated[0];
  // A change still unread in the queue is not in the ledger yet: the queue's oldest message bounds
  // the RPO from below (the queue is shared, so this errs on the side of paging).
  const rpoSeconds = Math.max(oldest ? seconds(oldest.sourceLastModified, deps.at) : 0, deps.queueAgeSeconds ?? 0);
  const lagValues = recent.map((r) => r.lagSeconds);
  return {
    ...base,
    rpoSeconds,
    ...(rpoSeconds > asset.rpoTargetSeconds ? { status: 'missed', reason: 'rpo-over-target' } : { status: 'ok' }),
    ...(oldest && {
      oldestChange: {
        key: oldest.key,
        sourceVersionId: oldest.sourceVersionId,
        sourceLastModified: oldest.sourceLastModified,
        state: oldest.state,
        attempts: oldest.attempts,
        ...(oldest.lastError && { lastError: oldest.lastError }),
      },
    }),
    pendingObjects: unreplicated.length,
    ...(unreplicated.length >= maxPending && { pendingCapped: true }),
    ...(deps.queueAgeSeconds !== undefined && { queueAgeSeconds: deps.queueAgeSeconds }),
    pendingBytes: unreplicated.reduce((sum, e) => sum + (e.size ?? 0), 0),
    failedObjects: unreplicated.filter((e) => e.state === 'failed').length,
    lag: lagStats(lagValues),
    lagValues,
    ...(last && { lastReplicatedAt: last.replicatedAt }),
  };
}

/** A measurement as a check of the asset's RPO target, the input of alerting. */
export function rpoCheck(m: AssetMeasurement): TargetCheck {
  return {
    asset: m.asset,
    kind: m.kind,
    tier: m.tier,
    target: 'rpo',
    targetSeconds: m.rpoTargetSeconds,
    actualSeconds: m.rpoSeconds,
    status: m.status,
    ...(m.reason && { reason: m.reason }),
    pendingObjects: m.pendingObjects,
    failedObjects: m.failedObjects,
    oldestChange: m.oldestChange ?? null,
    measuredAt: m.measuredAt,
  };
}
