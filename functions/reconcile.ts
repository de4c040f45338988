import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { replicatedAssets } from './policy/assets.js';
import { assetNameRef } from './policy/schema.js';
import { reconcileAsset } from './reconcile/reconcile-asset.js';
import { createReconciler } from './reconcile/runtime.js';
import { parseReconcileConfig } from './shared/config.js';
import { quote } from './shared/errors.js';
import { logger, metrics, lambdaHandler } from './shared/observability.js';
import { parsePayload, PayloadError } from './shared/payload.js';

const reconciler = createReconciler(parseReconcileConfig(process.env));

/** Scheduled per asset ({"asset": "<name>"}), or for every replicated asset when no asset is given. */
const inputSchema = z.object({
  asset: assetNameRef.optional(),
  /** Stop after this many keys in this invocation (the walk continues in the next one). */
  maxKeys: z.number().int().positive().optional(),
});

export const handler = lambdaHandler(async (event: unknown, context: Context) => {
  const input = parsePayload(inputSchema, event, '{"asset"?: "<replicated asset>", "maxKeys"?: <number>}');
  const assets = replicatedAssets(reconciler.policy).filter((a) => !input.asset || a.name === input.asset);
  if (input.asset && assets.length === 0) throw new PayloadError(`asset: ${quote(input.asset)} is not a replicated asset of the policy`);
  // maxKeys bounds the whole invocation: the assets after the first share what it left.
  let keysLeft = input.maxKeys;
  const results = [];
  for (const asset of assets) {
    const { finished, checkpoint, keysRead } = await reconcileAsset(
      reconciler.depsFor(asset, () => context.getRemainingTimeInMillis(), keysLeft),
      asset,
    );
    if (keysLeft !== undefined) keysLeft -= keysRead;
    metrics.addMetric('ReconcileKeysQueued', MetricUnit.Count, checkpoint.counts.keysQueued);
    logger.info(finished ? 'reconcile run finished' : 'reconcile run continues next invocation', { ...checkpoint });
    results.push({ asset: asset.name, finished, afterKey: checkpoint.afterKey, counts: checkpoint.counts });
    if (!finished) break;
  }
  return { results };
});
