import { EVENT_SOURCE } from '../functions/alerts/target-events.js';
import { expectedBucketOwners } from '../functions/policy/assets.js';
import { loadPolicyFile } from '../functions/policy/load.js';
import { alarmResources } from './alarms.js';
import { replicaBucketResources } from './buckets.js';
import { dataKeyResources, encryptionExtensions } from './encryption.js';
import {
  drDrillEvents,
  eventRuleResources,
  lineageEvents,
  probeServingEvents,
  reconcileEvents,
  reportEvents,
  snapshotEvents,
  verifyRestoreEvents,
} from './events.js';
import { LEDGER_TTL_ATTRIBUTE, ledgerKeySchema } from './ledger-table.js';
import { functionRoles } from './roles.js';
import { METRIC_NAMESPACE, SERVICE_NAME, functionSettings } from './service.js';

/**
 * What serverless.yml reads from infra/ (through infra/stack-config.cjs): the service name, each
 * function's name and role (from the function list in service.ts), and everything derived from
 * the DR policy — replica buckets (buckets.ts), EventBridge rules and schedules (events.ts), alarms
 * (alarms.ts), every function's IAM role (roles.ts) and the customer-managed key option (encryption.ts). Loading the policy validates it, so
 * packaging fails with the bad field's path.
 */
export function stackConfig(policyFile: string, stage: string) {
  const policy = loadPolicyFile(policyFile);
  const { timeoutSeconds, batchSize, maxReceiveCount } = policy.replication;
  return {
    service: SERVICE_NAME,
    metricNamespace: METRIC_NAMESPACE,
    // What measure-rpo and verify-restore publish target events as (the on-call rule matches it).
    eventSource: EVENT_SOURCE,
    policyFile,
    region: policy.deployment.region,
    // X-Ray for every function (deployment.tracing), and POWERTOOLS_TRACE_ENABLED, which the tracer and applyTracingMode read.
    tracing: { lambda: policy.deployment.tracing, enabled: String(policy.deployment.tracing) },
    functions: functionSettings(stage),
    replication: {
      timeoutSeconds,
      batchSize,
      maxReceiveCount,
      // AWS recommends a visibility timeout of six times the function timeout for SQS sources.
      visibilityTimeoutSeconds: Math.min(43200, timeoutSeconds * 6),
      leaseSeconds: timeoutSeconds + 60,
    },
    ledgerTable: { ...ledgerKeySchema, ttlAttribute: LEDGER_TTL_ATTRIBUTE },
    monitoring: policy.monitoring,
    resources: {
      Resources: {
        ...replicaBucketResources(policy),
        ...dataKeyResources(policy),
        ...eventRuleResources(policy),
        ...alarmResources(policy),
        ...functionRoles(policy),
      },
      // The customer-managed key option on the ledger, queues, log groups and functions (encryption.ts).
      extensions: encryptionExtensions(policy),
    },
    // Vault accounts' buckets and their owners: every request to one names it (functions/shared/aws-clients.ts).
    expectedBucketOwners: JSON.stringify(expectedBucketOwners(policy)),
    reconcileEvents: reconcileEvents(policy),
    snapshotEvents: snapshotEvents(policy),
    verifyRestoreEvents: verifyRestoreEvents(policy),
    lineageEvents: lineageEvents(policy),
    probeServingEvents: probeServingEvents(policy),
    drDrillEvents: drDrillEvents(policy),
    reportEvents: reportEvents(policy),
  };
}
