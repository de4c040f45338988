import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { isObjectAsset } from './policy/schema.js';
import { parseDataRestore, type DataRestoreRequest } from './restore/data-request.js';
import { planDataRestore, runDataRestore, startDataRestore } from './restore/restore-data.js';
import type { StoredPlan } from './restore/restore-plan.js';
import { createDataRestorer } from './restore/runtime.js';
import { parseConfig } from './shared/config.js';
import { logger, metrics, tracer } from './shared/observability.js';
import { PayloadError } from './shared/payload.js';

const config = parseConfig(process.env);
const restorer = createDataRestorer(config, config.AWS_LAMBDA_FUNCTION_NAME ?? 'restore-data');

/** What the operator sees: the plan (and its token while it can run), then progress and result. */
const view = (plan: StoredPlan) => ({
  restoreId: plan.token,
  state: plan.state,
  ...(plan.state === 'planned' && { planToken: plan.token, expiresAt: plan.expiresAt }),
  request: plan.request,
  plan: plan.summary,
  ...(plan.progress !== undefined && plan.state !== 'planned' && { progress: plan.progress }),
  ...(plan.result !== undefined && { result: plan.result }),
  ...(plan.reason && { reason: plan.reason }),
});

/** Operator restores (docs/restore.md, events/restore-data/): dry run, run with the plan token, status. */
export const handler = middy(async (event: unknown, context: Context) => {
  const now = new Date();
  const call = parseDataRestore(event, restorer.policy, now);
  const remaining = () => context.getRemainingTimeInMillis();

  if (call.kind === 'status') {
    const plan = await restorer.plans.get(call.restoreId);
    if (!plan || plan.kind !== 'restore-data') throw new PayloadError(`restoreId: no restore-data plan "${call.restoreId}"`);
    if (!call.continuation) return view(plan);
    const request = plan.request as unknown as DataRestoreRequest;
    const asset = restorer.policy.assets.find((a) => a.name === request.asset);
    if (!asset || !isObjectAsset(asset)) throw new PayloadError(`restoreId: asset ${request.asset} is no longer in the policy`);
    const deps = restorer.depsFor(asset, request.target.region, remaining);
    if (plan.state === 'planning') return view(await planDataRestore(deps, asset, request, plan));
    if (plan.state === 'running') return view(await runDataRestore(deps, asset, plan));
    return view(plan);
  }

  const deps = restorer.depsFor(call.asset, call.request.target.region, remaining);
  const plan = call.dryRun
    ? await planDataRestore(deps, call.asset, call.request)
    : await startDataRestore(deps, call.asset, call.request, call.planToken!, call.asOfDefaulted);
  logger.info(call.dryRun ? 'restore planned' : 'restore run', { restoreId: plan.token, state: plan.state, request: call.request });
  return view(plan);
})
  .use(captureLambdaHandler(tracer, { captureResponse: false }))
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
