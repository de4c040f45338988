import type { Context } from 'aws-lambda';
import { batchRequestSchema, runBatchTasks } from './replication/batch-operations.js';
import { createReplicator } from './replication/runtime.js';
import { parseConfig } from './shared/config.js';
import { logger, lambdaHandler } from './shared/observability.js';
import { PayloadError, payloadProblem } from './shared/payload.js';

const replicator = createReplicator(parseConfig(process.env));

/** Invoked by S3 Batch Operations (LambdaInvoke), schema 1.0 or 2.0: docs/backfill.md. */
export const handler = lambdaHandler(
  async (event: unknown, context: Context) => {
    const parsed = batchRequestSchema.safeParse(event);
    if (!parsed.success) {
      throw new PayloadError(`not an S3 Batch Operations invocation: ${payloadProblem(parsed.error)}`);
    }
    const response = await runBatchTasks(
      replicator.batch(() => context.getRemainingTimeInMillis()),
      parsed.data,
    );
    for (const r of response.results.filter((r) => r.resultCode !== 'Succeeded')) logger.warn('task not replicated', { ...r });
    return response;
  },
  { publishesMetrics: false },
);
