import type { Context } from 'aws-lambda';
import { parseDataRestore } from './restore/data-request.js';
import { restoreData } from './restore/restore-data.js';
import { createDataRestorer } from './restore/runtime.js';
import { parseConfig } from './shared/config.js';
import { logger, lambdaHandler } from './shared/observability.js';

const config = parseConfig(process.env);
const restorer = createDataRestorer(config, config.AWS_LAMBDA_FUNCTION_NAME ?? 'restore-data');

/**
 * Operator restores of object assets (docs/restore.md, events/restore-data/):
 *   {"asset", "prefix"?, "asOf"?, "target"?: {"bucket", "prefix"?}, "overwriteNewer"?, "dryRun": true}
 *   the same payload with "planToken" (from the dry run) instead of "dryRun" to run the plan,
 *   {"restoreId"} for its state, {"restoreId", "continuation": true} to continue it.
 */
export const handler = lambdaHandler(async (event: unknown, context: Context) => {
  const deps = restorer.depsFor(() => context.getRemainingTimeInMillis());
  const call = parseDataRestore(event, restorer.policy, deps.now());
  const status = await restoreData(call, deps);
  if (call.kind === 'restore')
    logger.info(call.dryRun ? 'restore planned' : 'restore run', {
      restoreId: status.restoreId,
      state: status.state,
      request: call.request,
    });
  return status;
});
