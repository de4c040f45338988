import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { vectorAssets } from './policy/assets.js';
import { assetNameRef } from './policy/schema.js';
import { parseConfig } from './shared/config.js';
import { quote } from './shared/errors.js';
import { parsePayload, PayloadError } from './shared/payload.js';
import { logger, metrics, lambdaHandler } from './shared/observability.js';
import { createSnapshotter } from './vectors/runtime.js';
import { rebuildCatalog } from './vectors/rebuild-catalog.js';
import { runScheduledSnapshot } from './vectors/snapshot-run.js';

const config = parseConfig(process.env);
const snapshotter = createSnapshotter(config, config.AWS_LAMBDA_FUNCTION_NAME ?? 'snapshot-vectors');

/**
 * Scheduled per vector-index asset ({"asset": "<name>"}); a continuation adds "continuation": true,
 * and one part of a partitioned snapshot "snapshotId" and "part" (docs/vector-snapshots.md#partitioned-snapshots).
 * An operator rebuilds the asset's catalog from the replica with "rebuildCatalog": true
 * (docs/vector-snapshots.md#rebuilding-the-catalog).
 */
const inputSchema = z
  .strictObject({
    asset: assetNameRef,
    rebuildCatalog: z.literal(true).optional(),
    continuation: z.boolean().optional(),
    snapshotId: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z$/, 'must be a snapshot id like 2026-11-26T15-42-07Z')
      .optional(),
    part: z
      .string()
      .regex(/^\d{4}$/, 'must be a part number like "0003"')
      .optional(),
  })
  .refine((input) => (input.snapshotId === undefined) === (input.part === undefined), {
    message: '"snapshotId" and "part" come together (one part of a partitioned snapshot)',
    path: ['part'],
  });

export const handler = lambdaHandler(async (event: unknown, context: Context) => {
  const input = parsePayload(
    inputSchema,
    event,
    '{"asset": "<vector-index asset>", "rebuildCatalog"?: true, "continuation"?: true, "snapshotId"?: "<id>", "part"?: "<NNNN>"}',
  );
  const found = vectorAssets(snapshotter.policy).find(({ asset }) => asset.name === input.asset);
  if (!found) throw new PayloadError(`asset: ${quote(input.asset)} is not a vector-index asset of the policy`);
  const deps = snapshotter.depsFor(found.asset, () => context.getRemainingTimeInMillis());
  if (input.rebuildCatalog) {
    const rebuilt = await rebuildCatalog(found.asset, deps);
    if (!rebuilt.done) await deps.continuation.continueLater({ asset: input.asset, rebuildCatalog: true, continuation: true });
    logger.info('vector snapshot catalog rebuilt from the replica', { ...rebuilt });
    return rebuilt;
  }
  const part = input.snapshotId !== undefined && input.part !== undefined ? { snapshotId: input.snapshotId, part: input.part } : undefined;
  const { run, retention } = await runScheduledSnapshot(found.asset, found.path, deps, part);

  metrics.addDimension('asset', input.asset);
  // A part's work, or the dispatch of parts, is not a snapshot's outcome: only its end is counted.
  const partWork = (part !== undefined || run.outcome === 'dispatched') && !['verified', 'failed', 'corrupt'].includes(run.outcome);
  if (!partWork) metrics.addMetric(run.outcome === 'verified' ? 'SnapshotVerified' : 'SnapshotNotVerified', MetricUnit.Count, 1);
  if (run.outcome === 'failed' || run.outcome === 'corrupt') logger.error('vector snapshot did not succeed', { ...run });
  else logger.info(`vector snapshot ${run.outcome}`, { ...run, removedByRetention: retention?.remove.length ?? 0 });
  return { asset: input.asset, ...run, removedByRetention: retention?.remove.map((r) => r.entry.snapshotId) ?? [] };
});
