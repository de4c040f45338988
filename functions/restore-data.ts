import type { Context } from 'aws-lambda';
import { isModelRestore, parseModelRestore } from './lineage/model-restore-request.js';
import { restoreModel } from './lineage/restore-model.js';
import { createModelRestorer } from './lineage/runtime.js';
import { parseDataRestore } from './restore/data-request.js';
import { batchTaskPlans, restoreData } from './restore/restore-data.js';
import { runRestoreTasks } from './restore/batch-restore.js';
import { batchRequestSchema } from './replication/batch-operations.js';
import { createDataRestorer } from './restore/runtime.js';
import { parseConfig } from './shared/config.js';
import { logger, lambdaHandler } from './shared/observability.js';

const config = parseConfig(process.env);
const functionName = config.AWS_LAMBDA_FUNCTION_NAME ?? 'restore-data';
const restorer = createDataRestorer(config, functionName);
const byModel = createModelRestorer(config, functionName);

/**
 * Operator restores of object assets (docs/restore.md, events/restore-data/):
 *   {"asset", "prefix"?, "asOf"?, "target"?: {"bucket", "prefix"?}, "overwriteNewer"?, "dryRun": true}
 *   the same payload with "planToken" (from the dry run) instead of "dryRun" to run the plan,
 *   {"model": "<name>@<version>", "artifacts"?, "target"?, "overwrite"?, "dryRun" | "planToken"}: what a model's record names (docs/lineage.md),
 *   {"restoreId"} for its state, {"restoreId", "continuation": true} to continue it;
 * and the tasks of its own S3 Batch Operations jobs (schema 2.0: a restore with "method": "batch-operations").
 */
export const handler = lambdaHandler(async (event: unknown, context: Context) => {
  const remainingMs = () => context.getRemainingTimeInMillis();
  if (event && typeof event === 'object' && 'invocationSchemaVersion' in event) {
    const response = await runRestoreTasks(batchRequestSchema.parse(event), batchTaskPlans(restorer.depsFor(remainingMs, context)));
    for (const r of response.results.filter((r) => r.resultCode !== 'Succeeded')) logger.warn('restore task failed', { ...r });
    return response;
  }
  if (isModelRestore(event)) {
    const call = parseModelRestore(event, byModel.policy);
    const status = await restoreModel(call, byModel.depsFor(remainingMs));
    logger.info(call.dryRun ? 'restore planned' : 'restore run', {
      restoreId: status.restoreId,
      state: status.state,
      request: call.request,
    });
    return status;
  }
  const deps = restorer.depsFor(remainingMs, context);
  const call = parseDataRestore(event, restorer.policy, deps.now());
  // A restoreId may be of a restore by model: its plan is of that kind.
  if (call.kind === 'status' && !(await deps.plans.get(call.restoreId))) return restoreModel(call, byModel.depsFor(remainingMs));
  const status = await restoreData(call, deps);
  if (call.kind === 'restore')
    logger.info(call.dryRun ? 'restore planned' : 'restore run', {
      restoreId: status.restoreId,
      state: status.state,
      request: call.request,
    });
  return status;
});
