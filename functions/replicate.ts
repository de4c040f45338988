import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import type { ReplicationBatch } from './replication/replicator.js';
import { CopyContinuesError, KeyBusyError } from './replication/errors.js';
import { createContinuations, createReplicator } from './replication/runtime.js';
import { parseConfig } from './shared/config.js';
import { describeError } from './shared/errors.js';
import { logger, metrics, lambdaHandler } from './shared/observability.js';

// Environment and policy are parsed at cold start: a bad policy fails here, naming the field.
const config = parseConfig(process.env);
const replicator = createReplicator(config);
const continueLater = createContinuations(config);
const processor = new BatchProcessor(EventType.SQS);
/** How long a version waits for an earlier version of its key that another invocation is copying. */
const BUSY_DELAY_SECONDS = 30;

async function replicateRecord(batch: ReplicationBatch, record: SQSRecord): Promise<void> {
  try {
    const outcome = await batch.replicateMessage(record.body);
    for (const { bucket, key } of outcome.unmanaged) {
      logger.warn('key belongs to no asset of the policy; ignored', { bucket, key, messageId: record.messageId });
    }
    for (const v of outcome.keys.flatMap((k) => k.replicated)) {
      const metric = metrics.singleMetric();
      metric.addDimension('asset', v.asset);
      metric.addMetric('VersionsReplicated', MetricUnit.Count, 1);
      metric.addMetric('BytesReplicated', MetricUnit.Bytes, v.size);
      metric.addMetric('ReplicationLagSeconds', MetricUnit.Seconds, v.lagSeconds);
      logger.info('replicated', { ...v });
    }
  } catch (error: unknown) {
    if (error instanceof CopyContinuesError && continueLater) {
      await continueLater(record.body);
      logger.info('long copy continues in the next invocation', { messageId: record.messageId, progress: error.message });
      return;
    }
    if (error instanceof KeyBusyError && continueLater) {
      await continueLater(record.body, BUSY_DELAY_SECONDS);
      logger.info('waits for an earlier version another invocation is copying', { messageId: record.messageId, reason: error.message });
      return;
    }
    logger.error('record failed; it is retried, then dead-lettered', {
      messageId: record.messageId,
      error: describeError(error),
    });
    metrics.addMetric('ReplicationFailures', MetricUnit.Count, 1);
    throw error;
  }
}

export const handler = lambdaHandler(async (event: SQSEvent, context: Context) => {
  const batch = replicator.batch(() => context.getRemainingTimeInMillis());
  metrics.addMetric('MessagesReceived', MetricUnit.Count, event.Records.length);
  void batch.prefetch(event.Records.map((r) => r.body)); // in flight while the first claims are made
  return processPartialResponse(event, (record: SQSRecord) => replicateRecord(batch, record), processor, { context });
});
