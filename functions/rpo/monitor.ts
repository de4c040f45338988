import { evaluateCheck, type AlertDeps } from '../alerts/evaluate.js';
import type { AlertState, AlertStateStore } from '../alerts/alert-state.js';
import type { TargetEvent } from '../alerts/target-events.js';
import type { LedgerQueries } from '../ledger/ledger.js';
import { scheduleIntervalSeconds } from '../policy/schedule.js';
import type { Policy } from '../policy/schema.js';
import { describeError } from '../shared/errors.js';
import type { DeadLetterQueue } from './dead-letter-queue.js';
import type { QueueAge } from './queue-age.js';
import { type AssetMeasurement, measureAsset, rpoCheck } from './measure.js';
import type { SnapshotCatalog } from './snapshot-catalog.js';
import { replicaProtection, type BucketLock, type ReplicaBucketProtection } from '../storage/object-lock.js';

export interface MonitorDeps extends AlertDeps {
  policy: Policy;
  ledger: LedgerQueries;
  snapshots: SnapshotCatalog;
  deadLetters: DeadLetterQueue;
  queueAge: QueueAge;
  now: () => Date;
}

export interface MonitorRun {
  measurements: AssetMeasurement[];
  events: TargetEvent[];
  deadLetterDepth: number;
  /** Assets whose measurement or alerting failed (the others were still measured). */
  errors: { asset: string; error: string }[];
}

/**
 * One run of measure-rpo: measures every asset, publishes its metrics (through `publish`), and
 * raises or clears its alert. A failure on one asset is recorded and does not stop the others.
 */
export async function runMonitor(deps: MonitorDeps, publish: (m: AssetMeasurement) => void = () => undefined): Promise<MonitorRun> {
  const now = deps.now();
  const run: MonitorRun = { measurements: [], events: [], deadLetterDepth: await deps.deadLetters.depth(), errors: [] };
  const windowSeconds = scheduleIntervalSeconds(deps.policy.monitoring.schedule);
  const queueAgeSeconds = await deps.queueAge.oldestMessageAgeSeconds(now);
  for (const asset of deps.policy.assets) {
    try {
      const measurement = await measureAsset(
        { ledger: deps.ledger, snapshots: deps.snapshots, at: now, windowSeconds, queueAgeSeconds },
        asset,
      );
      publish(measurement);
      run.measurements.push(measurement);
      run.events.push(
        ...(await evaluateCheck({ ...deps, recoverySeconds: deps.policy.monitoring.recoverySeconds }, rpoCheck(measurement))),
      );
    } catch (error: unknown) {
      run.errors.push({ asset: asset.name, error: describeError(error) });
    }
  }
  return run;
}

export interface StatusRow {
  asset: string;
  kind: AssetMeasurement['kind'];
  tier: AssetMeasurement['tier'];
  status: AssetMeasurement['status'];
  rpoSeconds: number | null;
  rpoTargetSeconds: number;
  reason?: string;
  oldestChange: AssetMeasurement['oldestChange'] | null;
  pendingObjects: number;
  pendingBytes: number;
  failedObjects: number;
  lag: AssetMeasurement['lag'] & { windowSeconds: number };
  lastReplicatedAt: string | null;
  newestSnapshotAt?: string;
  queueAgeSeconds?: number;
  pendingCapped?: boolean;
  lastAlert: AlertState['lastEvent'] | null;
}

export interface StatusReport {
  generatedAt: string;
  deadLetterDepth: number;
  assets: StatusRow[];
  /** Each replica bucket's Object Lock, and the assets it leaves unprotected (Object Lock off). */
  replicaBuckets: ReplicaBucketProtection[];
}

/** What the status function returns: the same measurement as measure-rpo, read-only (no metrics, no events). */
export async function statusReport(
  deps: Omit<MonitorDeps, 'publisher'> & { store: AlertStateStore; bucketLock: (bucket: string) => Promise<BucketLock> },
  assetNames?: string[],
): Promise<StatusReport> {
  const now = deps.now();
  const windowSeconds = deps.policy.monitoring.lagWindowSeconds;
  const assets = deps.policy.assets.filter((a) => !assetNames || assetNames.includes(a.name));
  const queueAgeSeconds = await deps.queueAge.oldestMessageAgeSeconds(now);
  const rows = await Promise.all(
    assets.map(async (asset): Promise<StatusRow> => {
      const [m, alert] = await Promise.all([
        measureAsset({ ledger: deps.ledger, snapshots: deps.snapshots, at: now, windowSeconds, queueAgeSeconds }, asset),
        deps.store.get(asset.name),
      ]);
      return {
        asset: m.asset,
        kind: m.kind,
        tier: m.tier,
        status: m.status,
        rpoSeconds: m.rpoSeconds,
        rpoTargetSeconds: m.rpoTargetSeconds,
        ...(m.reason && { reason: m.reason }),
        oldestChange: m.oldestChange ?? null,
        pendingObjects: m.pendingObjects,
        pendingBytes: m.pendingBytes,
        failedObjects: m.failedObjects,
        lag: { ...m.lag, windowSeconds },
        lastReplicatedAt: m.lastReplicatedAt ?? null,
        ...(m.newestSnapshotAt && { newestSnapshotAt: m.newestSnapshotAt }),
        ...(m.queueAgeSeconds !== undefined && { queueAgeSeconds: m.queueAgeSeconds }),
        ...(m.pendingCapped && { pendingCapped: true }),
        lastAlert: alert?.lastEvent ?? null,
      };
    }),
  );
  return {
    generatedAt: now.toISOString(),
    deadLetterDepth: await deps.deadLetters.depth(),
    assets: rows,
    replicaBuckets: await replicaProtection({ ...deps.policy, assets }, deps.bucketLock),
  };
}
