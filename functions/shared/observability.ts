// First: it decides the X-Ray SDK's mode, which the SDK reads as the tracer loads it.
import './tracing-mode.js';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { METRIC_NAMESPACE, SERVICE_NAME } from './service.js';

/** Powertools logger, metrics (embedded metric format) and tracer, one of each per container. */
export const logger = new Logger({ serviceName: SERVICE_NAME });
export const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICE_NAME });
export const tracer = new Tracer({ serviceName: SERVICE_NAME });

/**
 * The one way a handler is wrapped: a tracer segment (responses are not captured: a restore's status
 * or a report can be large), the logger with the Lambda context, and the metrics flushed at the end
 * unless the handler publishes none.
 */
export function lambdaHandler<Event, Result>(
  handler: (event: Event, context: Context) => Promise<Result>,
  { publishesMetrics = true }: { publishesMetrics?: boolean } = {},
) {
  const wrapped = middy(handler)
    .use(captureLambdaHandler(tracer, { captureResponse: false }))
    .use(injectLambdaContext(logger));
  return publishesMetrics ? wrapped.use(logMetrics(metrics)) : wrapped;
}
