import type { TargetCheck } from '../alerts/target-events.js';
import type { Asset } from '../policy/schema.js';
import type { JsonValue } from '../shared/json.js';

/**
 * The result of one scheduled restore test (verify-restore) of one asset: whether the restore was
 * proven, what was checked, how long it took, and the asset's measured RTO.
 */
export interface RestoreTestResult {
  asset: string;
  /** lineage: a registered model's training set (functions/lineage/lineage-check.ts; its "asset" is `lineage:<model>`). */
  kind: 'data' | 'vectors' | 'lineage';
  ok: boolean;
  /** The first check that failed, in words an operator can act on. */
  reason?: string;
  startedAt: string;
  finishedAt: string;
  /** Wall time of the restore itself (not of the checks after it). */
  restoreMs: number;
  /** What this test restored: bytes for data, records for vectors. */
  restored: number;
  /** The same measure for the whole asset (the RTO is scaled to it). */
  assetTotal: number;
  /** measuredRto(restoreMs, restored, assetTotal), in seconds; null when nothing could be restored. */
  rtoSeconds: number | null;
  checks: Record<string, JsonValue>;
}

/**
 * The measured RTO: the restore's throughput in this test, applied to the whole asset.
 *   rto = restoreSeconds × assetTotal / restored
 * (bytes for data, records for vectors; a vector test restores the whole newest snapshot, so there
 * restored = assetTotal and the RTO is the measured duration). It leaves out what a test cannot see:
 * the operator's time to decide and invoke, and parallelism beyond one restore function.
 */
export function measuredRto(restoreMs: number, restored: number, assetTotal: number): number | null {
  if (restored <= 0) return assetTotal === 0 ? restoreMs / 1000 : null;
  return ((restoreMs / 1000) * Math.max(assetTotal, restored)) / restored;
}

/**
 * A restore test as a check of the asset's RTO target, for alerting: missed when the test failed,
 * when nothing could be restored, or when the measured RTO is over the target.
 */
export function rtoCheck(asset: Asset, result: RestoreTestResult): TargetCheck {
  const over = result.rtoSeconds !== null && result.rtoSeconds > asset.rtoTargetSeconds;
  const missed = !result.ok || result.rtoSeconds === null || over;
  return {
    asset: asset.name,
    kind: asset.kind,
    tier: asset.tier,
    target: 'rto',
    targetSeconds: asset.rtoTargetSeconds,
    actualSeconds: result.rtoSeconds,
    status: missed ? 'missed' : 'ok',
    ...(missed && { reason: result.ok && result.rtoSeconds !== null ? 'rto-over-target' : 'restore-test-failed' }),
    ...(missed && {
      description:
        result.reason ?? (result.rtoSeconds === null ? 'nothing could be restored' : `measured RTO ${Math.round(result.rtoSeconds)} s`),
    }),
    pendingObjects: 0,
    failedObjects: 0,
    oldestChange: null,
    measuredAt: result.finishedAt,
  };
}
