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
 *   {"asset", "snapshotId"? | "before"?, "target"?: {"asset"?, "index"?}, "overwrite"?, "useNative"?, "dryRun": true}
 *   the same payload with "planToken" (from the dry run) instead of "dryRun" to run the plan,
 *   {"restoreId"} for its state, {"restoreId", "continuation": true} to continue it.
 */
export const handler = lambdaHandler(async (event: unknown, context: Context) => {
  const deps = restorer.depsFor(() => context.getRemainingTimeInMillis());
  const call = parseVectorRestore(event, restorer.policy, deps.now());
  const status = await restoreVectors(call, deps);

  const fields = { restoreId: status.restoreId, state: status.state, snapshotId: status.plan.snapshotId, target: status.plan.target };
  if (status.state === 'failed') logger.error('vector restore failed', { ...fields, reason: status.reason });
  else logger.info(`vector restore ${status.state}`, { ...fields, progress: status.progress, result: status.result });
  const ran = call.kind === 'restore' ? !call.dryRun : call.continuation;
  if (ran && (status.state === 'done' || status.state === 'failed')) {
    metrics.addDimension('asset', status.plan.source.asset);
    metrics.addMetric(status.state === 'done' ? 'VectorRestoreVerified' : 'VectorRestoreFailed', MetricUnit.Count, 1);
  }
  return status;
});
