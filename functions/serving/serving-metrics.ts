import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { METRIC_NAMESPACE, SERVICE_NAME } from '../shared/service.js';
import { isReady } from './failover.js';
import type { ServiceRound } from './probe-round.js';

/**
 * One round of a model service as CloudWatch metrics (embedded metric format; docs/serving.md#metrics):
 *  - per endpoint (dimensions service, model-service, endpoint): ProbeLatency, one value per probe,
 *    so CloudWatch gives its p50, p90 and p99 over any period; EndpointUp (1 when its probe
 *    answered, healthy or slow); the probe's class as a property of the record (for Logs Insights);
 *  - per model service (dimensions service, model-service): PrimaryUp, ReadyFallbacks (how many),
 *    and Switches (1 for a round that switched the active endpoint, else 0).
 */
export function publishServingRound(round: ServiceRound): void {
  for (const [endpoint, result] of Object.entries(round.results)) {
    const metrics = new Metrics({
      namespace: METRIC_NAMESPACE,
      serviceName: SERVICE_NAME,
      defaultDimensions: { 'model-service': round.service, endpoint },
    });
    metrics.addMetric('ProbeLatency', MetricUnit.Milliseconds, Math.round(result.latencyMs));
    metrics.addMetric('EndpointUp', MetricUnit.Count, isReady(result, { minHeadroom: 0 }) ? 1 : 0);
    metrics.addMetadata('class', result.class);
    metrics.publishStoredMetrics();
  }
  const metrics = new Metrics({
    namespace: METRIC_NAMESPACE,
    serviceName: SERVICE_NAME,
    defaultDimensions: { 'model-service': round.service },
  });
  metrics.addMetric('PrimaryUp', MetricUnit.Count, round.readiness.primaryUp ? 1 : 0);
  metrics.addMetric('ReadyFallbacks', MetricUnit.Count, round.readiness.readyFallbacks.length);
  metrics.addMetric('Switches', MetricUnit.Count, round.switch ? 1 : 0);
  metrics.publishStoredMetrics();
}
