import { replicatedAssets, vectorAssets } from '../functions/policy/assets.js';
import type { Policy } from '../functions/policy/schema.js';
import { datasetRequestPattern, eventPatternFor, logicalId } from './event-rules.js';
import type { Json } from './iam.js';

/**
 * What triggers the functions: one EventBridge rule per replicated asset routing its S3 events to
 * the replication queue (and the queue policy that lets exactly those rules send), and the
 * schedules of reconcile, snapshot-vectors and verify-restore, one per asset, and the report's.
 */

export function eventRuleResources(policy: Policy): Json {
  const resources: Json = {};
  const ruleIds: string[] = [];
  // A source on another endpoint sends no S3 events to this account: reconcile finds its changes.
  for (const asset of replicatedAssets(policy).filter((a) => !a.source.endpoint)) {
    const id = logicalId('ReplicationRule', asset.name);
    ruleIds.push(id);
    resources[id] = {
      Type: 'AWS::Events::Rule',
      Properties: {
        Description: `S3 changes of asset ${asset.name} (s3://${asset.source.bucket}/${asset.source.prefix}) to the replication queue`,
        State: 'ENABLED',
        EventPattern: eventPatternFor(asset),
        Targets: [
          {
            Id: 'replication-queue',
            Arn: { 'Fn::GetAtt': ['ReplicationQueue', 'Arn'] },
            RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
            DeadLetterConfig: { Arn: { 'Fn::GetAtt': ['ReplicationDeadLetterQueue', 'Arn'] } },
          },
        ],
      },
    };
  }
  resources.ReplicationQueuePolicy = {
    Type: 'AWS::SQS::QueuePolicy',
    Properties: {
      Queues: [{ Ref: 'ReplicationQueue' }, { Ref: 'ReplicationDeadLetterQueue' }],
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'S3EventsFromThisStacksRules',
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: 'sqs:SendMessage',
            Resource: [{ 'Fn::GetAtt': ['ReplicationQueue', 'Arn'] }, { 'Fn::GetAtt': ['ReplicationDeadLetterQueue', 'Arn'] }],
            Condition: { ArnEquals: { 'aws:SourceArn': ruleIds.map((id) => ({ 'Fn::GetAtt': [id, 'Arn'] })) } },
          },
          {
            Sid: 'DenyInsecureTransport',
            Effect: 'Deny',
            Principal: '*',
            Action: 'sqs:*',
            Resource: [{ 'Fn::GetAtt': ['ReplicationQueue', 'Arn'] }, { 'Fn::GetAtt': ['ReplicationDeadLetterQueue', 'Arn'] }],
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
        ],
      },
    },
  };
  return resources;
}

/** Request files dropped by training pipelines (policy lineage.requests) invoke the lineage function. */
export function lineageEvents(policy: Policy): Json[] {
  const requests = policy.lineage?.requests;
  return requests ? [{ eventBridge: { pattern: datasetRequestPattern(requests) } }] : [];
}

/** One schedule per replicated asset, so each asset's walk has its own invocations and checkpoint. */
export function reconcileEvents(policy: Policy): Json[] {
  return replicatedAssets(policy).map((asset) => ({
    schedule: { rate: [policy.replication.reconcileSchedule], input: { asset: asset.name } },
  }));
}

/** One restore-test schedule per replicated or vector asset (its `restoreTest.schedule`). */
export function verifyRestoreEvents(policy: Policy): Json[] {
  const tested = [...replicatedAssets(policy), ...vectorAssets(policy).map(({ asset }) => asset)];
  return [
    ...tested.map((asset) => ({ schedule: { rate: [asset.restoreTest.schedule], input: { asset: asset.name } } })),
    // The lineage check (docs/lineage.md#lineage-check): cheap when no model is registered.
    ...(replicatedAssets(policy).length > 0
      ? [{ schedule: { rate: [policy.lineage?.checkSchedule ?? 'rate(1 day)'], input: { lineage: 'check' } } }]
      : []),
  ];
}

/** One schedule per vector-index asset (its `schedule`), so each asset's snapshots run on their own. */
export function snapshotEvents(policy: Policy): Json[] {
  return vectorAssets(policy).map(({ asset }) => ({ schedule: { rate: [asset.schedule], input: { asset: asset.name } } }));
}

/**
 * One schedule per drill (its `schedule`), with its name as input: {"drill": "<name>"}; and, when
 * there are drills, {"resume": true} every 15 minutes, which continues a run whose invocation died.
 */
export function drDrillEvents(policy: Policy): Json[] {
  if (policy.drills.length === 0) return [];
  return [
    ...policy.drills.map((drill) => ({ schedule: { rate: [drill.schedule], input: { drill: drill.name } } })),
    { schedule: { rate: ['rate(15 minutes)'], input: { resume: true } } },
  ];
}

/** The report's daily schedule (report.schedule); it also runs after each drill and on demand. */
/** probe-serving's schedule, when the policy has model services (docs/serving.md). */
export function probeServingEvents(policy: Policy): Json[] {
  const serving = policy.serving;
  if (!serving) return [];
  return [
    { schedule: { rate: [serving.schedule], input: { trigger: 'schedule' } } },
    ...(serving.services.some((s) => s.smokeEval)
      ? [{ schedule: { rate: [serving.smokeEvalSchedule], input: { trigger: 'smoke-eval' } } }]
      : []),
  ];
}

export function reportEvents(policy: Policy): Json[] {
  return [{ schedule: { rate: [policy.report.schedule], input: { trigger: 'schedule' } } }];
}
