import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { publishMeasurement } from './rpo/publish-metrics.js';
import { runMonitor } from './rpo/monitor.js';
import { createMonitorDeps } from './rpo/runtime.js';
import { parseMonitorConfig } from './shared/config.js';
import { logger, metrics, lambdaHandler } from './shared/observability.js';

// Environment and policy are parsed at cold start: a bad policy fails here, naming the field.
const deps = createMonitorDeps(parseMonitorConfig(process.env));

/** Scheduled (EventBridge): measures every asset's live RPO, publishes metrics, raises and clears alerts. */
export const handler = lambdaHandler(async () => {
  const run = await runMonitor(deps, publishMeasurement);
  metrics.addMetric('DeadLetterDepth', MetricUnit.Count, run.deadLetterDepth);
  for (const m of run.measurements) {
    logger.info('measured', {
      asset: m.asset,
      status: m.status,
      rpoSeconds: m.rpoSeconds,
      pendingObjects: m.pendingObjects,
      failedObjects: m.failedObjects,
    });
  }
  for (const event of run.events) logger.warn(event.detailType, { ...event.detail });
  if (run.errors.length > 0) {
    // Fail the invocation so the function-errors alarm fires; the other assets were measured.
    throw new Error(`measuring failed for ${run.errors.map((e) => `${e.asset} (${e.error})`).join('; ')}`);
  }
  return { assets: run.measurements.length, events: run.events.map((e) => `${e.detailType}: ${e.detail.asset}`) };
});
