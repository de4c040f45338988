/**
 * The service's identity, in one place: the Serverless service name (serverless.yml reads it
 * through infra/), the Powertools service name, the `service` dimension of the DR metrics and
 * their namespace, and the source of the DR target events. No side effects, so infra/ can import it.
 */
export const SERVICE_NAME = 'ai-data-dr';
export const METRIC_NAMESPACE = 'AiDataDr';
