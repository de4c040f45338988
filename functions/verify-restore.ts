import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { checkLineage } from './lineage/lineage-check.js';
import { createLineageChecker } from './lineage/runtime.js';
import { replicatedAssets, vectorAssets } from './policy/assets.js';
import { assetNameRef } from './policy/schema.js';
import { planTokenField } from './restore/restore-plan.js';
import { runRestoreTest } from './restore/restore-tests.js';
import { createRestoreTester } from './restore/verify-runtime.js';
import { parseVerifyConfig } from './shared/config.js';
import { quote } from './shared/errors.js';
import { logger, metrics, lambdaHandler } from './shared/observability.js';
import { parsePayload, PayloadError } from './shared/payload.js';

const config = parseVerifyConfig(process.env);
const tester = createRestoreTester(config);
const lineageChecker = createLineageChecker(config, tester);

/**
 * Scheduled per asset ({"asset": "<name>"}), and the lineage check ({"lineage": "check"}); operators
 * may invoke it the same way. A vector restore test in parts continues itself with
 * {"asset", "continuation": {...}} (docs/restore.md#restore-tests-in-parts).
 */
const inputSchema = z.strictObject({
  asset: assetNameRef,
  continuation: z
    .strictObject({
      restoreId: planTokenField,
      startedAt: z.iso.datetime(),
      snapshotId: z.string().min(1),
      scratchIndex: z.string().min(1),
      continuedAt: z.iso.datetime().optional(),
    })
    .optional(),
});
const lineageSchema = z.strictObject({ lineage: z.literal('check') });
const EXPECTED = '{"asset": "<replicated or vector-index asset>"} or {"lineage": "check"}';

export const handler = lambdaHandler(async (event: unknown, context: Context) => {
  if (event !== null && typeof event === 'object' && 'lineage' in event) {
    parsePayload(lineageSchema, event, EXPECTED);
    const { check, events } = await checkLineage(lineageChecker(() => context.getRemainingTimeInMillis()));
    if (check.risks.length || check.restoreTest?.ok === false) logger.error('lineage check found problems', { ...check });
    else logger.info('lineage check passed', { ...check });
    return { ...check, events: events.map((e) => e.detailType) };
  }
  const input = parsePayload(inputSchema, event, EXPECTED);
  const tested = [...replicatedAssets(tester.policy), ...vectorAssets(tester.policy).map(({ asset }) => asset)];
  const asset = tested.find((a) => a.name === input.asset);
  if (!asset)
    throw new PayloadError(`asset: ${quote(input.asset)} is not an asset this release tests (${tested.map((a) => a.name).join(', ')})`);

  if (input.continuation && !(asset.kind === 'vector-index' && asset.restoreParts > 1))
    throw new PayloadError(`continuation: asset ${quote(asset.name)} is not a vector-index asset restored in parts (restoreParts > 1)`);

  const run = await runRestoreTest(
    tester.depsFor(() => context.getRemainingTimeInMillis()),
    asset,
    input.continuation,
  );
  if ('continued' in run) {
    logger.info('restore test in parts continues in a new invocation', { asset: asset.name, ...run.continued });
    return { asset: asset.name, state: 'running', continuation: run.continued };
  }
  if ('underWay' in run) {
    logger.info('a restore test in parts of the asset is under way; none started', { asset: asset.name, ...run.underWay });
    return { asset: asset.name, state: 'running', underWay: run.underWay };
  }
  const { result, events, recorded } = run;
  if (!recorded) {
    logger.info('restore test already recorded by another invocation', { asset: asset.name, startedAt: result.startedAt });
    return { ...result, events: [], duplicate: true };
  }
  metrics.addDimensions({ asset: asset.name, tier: asset.tier });
  if (result.rtoSeconds !== null) metrics.addMetric('RtoSeconds', MetricUnit.Seconds, result.rtoSeconds);
  metrics.addMetric(result.ok ? 'RestoreTestPassed' : 'RestoreTestFailed', MetricUnit.Count, 1);
  if (result.ok) logger.info('restore test passed', { ...result });
  else logger.error('restore test failed', { ...result });
  return { ...result, events: events.map((e) => e.detailType) };
});
