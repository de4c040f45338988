import { replicatedKinds, type Policy } from '../functions/policy/schema.js';
import { scheduleIntervalSeconds } from '../functions/policy/schedule.js';
import { logicalId } from './event-rules.js';
import type { Json } from './iam.js';
import { METRIC_NAMESPACE, SERVICE_NAME, functionId, functionKeys, functionLogicalId } from './service.js';

const METRIC_DIMENSIONS = (asset: Policy['assets'][number]) => [
  { Name: 'service', Value: SERVICE_NAME },
  { Name: 'asset', Value: asset.name },
  { Name: 'tier', Value: asset.tier },
];

/**
 * CloudWatch alarms from the policy's targets, all notifying the on-call topic: per measured asset,
 * RpoSeconds above its target (missing data breaches, so a stopped measurer or an asset with no
 * recovery point pages too); per stack, dead-lettered changes, the queue's oldest message older
 * than the tightest RPO target (a cross-check that also catches a stalled consumer), and errors
 * of each function.
 */
export function alarmResources(policy: Policy): Json {
  const periods = policy.monitoring.alarmEvaluationPeriods;
  // One datapoint per measure-rpo run: a period shorter than the schedule would see missing data.
  const rpoPeriod = Math.max(60, scheduleIntervalSeconds(policy.monitoring.schedule));
  const notify = { AlarmActions: [{ Ref: 'OnCallTopic' }], OKActions: [{ Ref: 'OnCallTopic' }] };
  /** An alarm that pages on-call (and tells it when it is over): one-minute periods unless given. */
  const alarm = (properties: Json): Json => ({
    Type: 'AWS::CloudWatch::Alarm',
    Properties: {
      Period: 60,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      ...notify,
      ...properties,
    },
  });
  const resources: Json = {};
  const measured = policy.assets.filter((a) => a.kind === 'vector-index' || replicatedKinds.includes(a.kind));
  for (const asset of measured) {
    resources[logicalId('RpoAlarm', asset.name)] = alarm({
      AlarmName: { 'Fn::Sub': `\${AWS::StackName}-rpo-${asset.name}` },
      AlarmDescription: `RPO of ${asset.name} (${asset.tier}) above its ${asset.rpoTargetSeconds} s target, or not measured. Runbook: docs/runbooks/rpo-breach.md`,
      Namespace: METRIC_NAMESPACE,
      MetricName: 'RpoSeconds',
      Dimensions: METRIC_DIMENSIONS(asset),
      Statistic: 'Maximum',
      Period: rpoPeriod,
      EvaluationPeriods: periods,
      DatapointsToAlarm: periods,
      Threshold: asset.rpoTargetSeconds,
      TreatMissingData: 'breaching',
    });
  }
  const tightest = Math.min(...measured.map((a) => a.rpoTargetSeconds));
  resources.DeadLetterAlarm = alarm({
    AlarmName: { 'Fn::Sub': '${AWS::StackName}-dead-letters' },
    AlarmDescription: 'Changes in the replication dead-letter queue. Runbook: docs/runbooks/replication-failures.md',
    Namespace: 'AWS/SQS',
    MetricName: 'ApproximateNumberOfMessagesVisible',
    Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['ReplicationDeadLetterQueue', 'QueueName'] } }],
    Statistic: 'Maximum',
    Threshold: 0,
  });
  resources.QueueAgeAlarm = alarm({
    AlarmName: { 'Fn::Sub': '${AWS::StackName}-queue-age' },
    AlarmDescription: `Oldest replication message older than the tightest RPO target (${tightest} s): replication is stalled or behind. Runbook: docs/runbooks/rpo-breach.md`,
    Namespace: 'AWS/SQS',
    MetricName: 'ApproximateAgeOfOldestMessage',
    Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['ReplicationQueue', 'QueueName'] } }],
    Statistic: 'Maximum',
    EvaluationPeriods: periods,
    Threshold: tightest,
  });
  for (const key of functionKeys) {
    const [id, fn] = [functionId(key), functionLogicalId(key)];
    resources[`${id}ErrorsAlarm`] = alarm({
      AlarmName: { 'Fn::Sub': `\${${fn}}-errors` },
      AlarmDescription: `Errors of the ${id} function`,
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: fn } }],
      Statistic: 'Sum',
      Threshold: 0,
    });
  }
  return resources;
}
