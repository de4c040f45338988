import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { parseVectorRestore } from './restore/restore-vectors-request.js';
import { createVectorRestorer } from './restore/restore-vectors-runtime.js';
import { restoreVectors } from './restore/restore-vectors.js';
import { parseConfig } from './shared/config.js';
import { logger, metrics, lambdaHandler } from './shared/observability.js';

const config = parseConfig(process.env);
const restorer = createVectorRestorer(config, config.AWS_LAMBDA_FUNCTION_NAME ?? 'restore-vectors');

/**
 * Operator restores of vector indexes (docs/restore.md, events/restore-vectors/):
 *   {"asset", "snapshotId"? | "before"?, "target"?: {"asset"?, "index"?}, "overwrite"?, "useNative"?, "parts"?, "dryRun": true}
 *   the same payload with "planToken" (from the dry run) instead of "dryRun" to run the plan,
 *   {"restoreId"} for its state, {"restoreId", "continuation": true} to continue it,
 *   {"restoreId", "part"} for one part of a restore that fans out ("parts" > 1; the run sends these).
 */
export const handler = lambdaHandler(async (event: unknown, context: Context) => {
  const deps = restorer.depsFor(() => context.getRemainingTimeInMillis());
  const started = deps.now();
  const call = parseVectorRestore(event, restorer.policy, started);
  const status = await restoreVectors(call, deps);

  const fields = { restoreId: status.restoreId, state: status.state, snapshotId: status.plan.snapshotId, target: status.plan.target };
  if (status.state === 'failed') logger.error('vector restore failed', { ...fields, reason: status.reason });
  else logger.info(`vector restore ${status.state}`, { ...fields, progress: status.progress, result: status.result });
  // Counted by the invocation that finished the restore (a late part or continuation sees it finished too).
  const finishedHere = status.finishedAt !== undefined && new Date(status.finishedAt) >= started;
  if (finishedHere && (status.state === 'done' || status.state === 'failed')) {
    metrics.addDimension('asset', status.plan.source.asset);
    metrics.addMetric(status.state === 'done' ? 'VectorRestoreVerified' : 'VectorRestoreFailed', MetricUnit.Count, 1);
  }
  return status;
});
