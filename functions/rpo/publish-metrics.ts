import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { METRIC_NAMESPACE, SERVICE_NAME } from '../shared/service.js';
import type { AssetMeasurement } from './measure.js';

/**
 * Publishes one asset's measurement as CloudWatch metrics in embedded metric format, with the
 * dimensions service, asset and tier (the alarms in serverless.yml use the same three). RpoSeconds
 * is left out when it is unknown (no verified snapshot): the alarm treats missing data as
 * breaching, so an unknown RPO pages like a missed one. Every replicated version's lag is one
 * ReplicationLagSeconds value, so CloudWatch gives p50, p99 and max over any period.
 */
export function publishMeasurement(m: AssetMeasurement): void {
  if (m.status === 'not-measured') return;
  const metrics = new Metrics({
    namespace: METRIC_NAMESPACE,
    serviceName: SERVICE_NAME,
    defaultDimensions: { asset: m.asset, tier: m.tier },
  });
  if (m.rpoSeconds !== null) metrics.addMetric('RpoSeconds', MetricUnit.Seconds, m.rpoSeconds);
  metrics.addMetric('PendingObjects', MetricUnit.Count, m.pendingObjects);
  metrics.addMetric('PendingBytes', MetricUnit.Bytes, m.pendingBytes);
  metrics.addMetric('FailedObjects', MetricUnit.Count, m.failedObjects);
  // Powertools flushes a record on its own every 100 values (the EMF limit).
  for (const value of m.lagValues) metrics.addMetric('ReplicationLagSeconds', MetricUnit.Seconds, value);
  metrics.publishStoredMetrics();
}
