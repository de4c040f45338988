import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

/** Powertools logger, metrics (embedded metric format) and tracer, one of each per container. */
export const logger = new Logger({ serviceName: 'ai-data-dr' });
export const metrics = new Metrics({ namespace: 'AiDataDr', serviceName: 'ai-data-dr' });
export const tracer = new Tracer({ serviceName: 'ai-data-dr' });
