import { replicatedAssets, replicaKeyFor, vectorAssets } from '../functions/policy/assets.js';
import { loadPolicyFile } from '../functions/policy/load.js';
import { type Policy, replicatedKinds } from '../functions/policy/schema.js';
import { scheduleIntervalSeconds } from '../functions/policy/schedule.js';
import { eventPatternFor, logicalId } from './event-rules.js';
import { LEDGER_TTL_ATTRIBUTE, ledgerKeySchema } from './ledger-table.js';

/**
 * Everything serverless.yml derives from the DR policy: replica buckets, EventBridge rules, the
 * queue policy and the replicate function's IAM statements, scoped to the policy's buckets and
 * prefixes. serverless.yml reads it through infra/stack-config.cjs, so packaging validates the
 * policy and fails with the bad field's path.
 */

type Json = Record<string, unknown>;

const s3Arn = (resource: string) => ({ 'Fn::Sub': `arn:\${AWS::Partition}:s3:::${resource}` });

export function replicaBucketResources(policy: Policy): Json {
  const resources: Json = {};
  for (const bucket of [...new Set(policy.assets.map((a) => a.replica.bucket))]) {
    const id = logicalId('ReplicaBucket', bucket);
    resources[id] = {
      Type: 'AWS::S3::Bucket',
      // A DR copy outlives the stack: removing the stack never deletes the replica.
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        BucketName: bucket,
        VersioningConfiguration: { Status: 'Enabled' },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BucketKeyEnabled: true },
          ],
        },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        LifecycleConfiguration: {
          Rules: [
            { Id: 'abort-incomplete-multipart-uploads', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } },
          ],
        },
        Tags: [{ Key: 'ai-data-dr:role', Value: 'replica' }],
      },
    };
    resources[`${id}Policy`] = {
      Type: 'AWS::S3::BucketPolicy',
      Properties: {
        Bucket: { Ref: id },
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'DenyInsecureTransport',
              Effect: 'Deny',
              Principal: '*',
              Action: 's3:*',
              Resource: [{ 'Fn::GetAtt': [id, 'Arn'] }, { 'Fn::Sub': `\${${id}.Arn}/*` }],
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            },
          ],
        },
      },
    };
  }
  return resources;
}

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
            Resource: [
              { 'Fn::GetAtt': ['ReplicationQueue', 'Arn'] },
              { 'Fn::GetAtt': ['ReplicationDeadLetterQueue', 'Arn'] },
            ],
            Condition: { ArnEquals: { 'aws:SourceArn': ruleIds.map((id) => ({ 'Fn::GetAtt': [id, 'Arn'] })) } },
          },
          {
            Sid: 'DenyInsecureTransport',
            Effect: 'Deny',
            Principal: '*',
            Action: 'sqs:*',
            Resource: [
              { 'Fn::GetAtt': ['ReplicationQueue', 'Arn'] },
              { 'Fn::GetAtt': ['ReplicationDeadLetterQueue', 'Arn'] },
            ],
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
        ],
      },
    },
  };
  return resources;
}

/** Listing the versions under an asset's source prefix (replicate and reconcile). */
const listSource = (asset: ReturnType<typeof replicatedAssets>[number], name: string): Json => ({
  Sid: `ListSource${name}`,
  Effect: 'Allow',
  Action: ['s3:ListBucketVersions'],
  Resource: s3Arn(asset.source.bucket),
  Condition: { StringLike: { 's3:prefix': [`${asset.source.prefix}*`] } },
});

/** The replicate function's S3 permissions: read the sources' prefixes, add versions to the replicas. */
export function replicateS3Statements(policy: Policy): Json[] {
  const assets = replicatedAssets(policy);
  const statements: Json[] = [];
  for (const asset of assets) {
    const name = logicalId('', asset.name);
    const replicaPrefix = replicaKeyFor(asset, asset.source.prefix);
    statements.push(
      listSource(asset, name),
      {
        Sid: `ReadSource${name}`,
        Effect: 'Allow',
        Action: ['s3:GetObjectVersion', 's3:GetObjectVersionTagging', 's3:GetObjectVersionAttributes'],
        Resource: s3Arn(`${asset.source.bucket}/${asset.source.prefix}*`),
      },
      {
        Sid: `ListReplica${name}`,
        Effect: 'Allow',
        Action: ['s3:ListBucketVersions', 's3:GetBucketVersioning'],
        Resource: s3Arn(asset.replica.bucket),
      },
      {
        Sid: `WriteReplica${name}`,
        Effect: 'Allow',
        // DeleteObject without a version id only adds a delete marker on a versioned bucket.
        // Multipart copies: UploadPartCopy is s3:PutObject; resuming lists parts; giving up aborts.
        Action: [
          's3:PutObject',
          's3:PutObjectTagging',
          's3:GetObjectVersion',
          's3:DeleteObject',
          's3:ListMultipartUploadParts',
          's3:AbortMultipartUpload',
        ],
        Resource: s3Arn(`${asset.replica.bucket}/${replicaPrefix}*`),
      },
    );
  }
  const replicaBuckets = [...new Set(assets.map((a) => a.replica.bucket))];
  statements.push({
    Sid: 'NeverDestroyReplicas',
    Effect: 'Deny',
    Action: [
      's3:DeleteObjectVersion',
      's3:DeleteBucket',
      's3:PutBucketVersioning',
      's3:PutLifecycleConfiguration',
      's3:PutBucketPolicy',
    ],
    Resource: replicaBuckets.flatMap((b) => [s3Arn(b), s3Arn(`${b}/*`)]),
  });
  return statements;
}

/** Reconcile lists the sources' prefixes and the replicas; it reads no object. */
export function reconcileS3Statements(policy: Policy): Json[] {
  return replicatedAssets(policy).flatMap((asset) => {
    const name = logicalId('', asset.name);
    return [
      listSource(asset, name),
      {
        Sid: `ListReplica${name}`,
        Effect: 'Allow',
        Action: ['s3:ListBucketVersions'],
        Resource: s3Arn(asset.replica.bucket),
        Condition: { StringLike: { 's3:prefix': [`${replicaKeyFor(asset, asset.source.prefix)}*`] } },
      },
    ];
  });
}

/** One schedule per replicated asset, so each asset's walk has its own invocations and checkpoint. */
export function reconcileEvents(policy: Policy): Json[] {
  return replicatedAssets(policy).map((asset) => ({
    schedule: { rate: [policy.replication.reconcileSchedule], input: { asset: asset.name } },
  }));
}

const METRIC_DIMENSIONS = (asset: Policy['assets'][number]) => [
  { Name: 'service', Value: 'ai-data-dr' },
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
      Namespace: 'AiDataDr',
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
  for (const fn of ['Replicate', 'MeasureRpo', 'Status', 'Reconcile', 'Backfill', 'SnapshotVectors', 'RestoreData', 'RestoreVectors', 'VerifyRestore']) {
    resources[`${fn}ErrorsAlarm`] = alarm({
      AlarmName: { 'Fn::Sub': `\${${fn}LambdaFunction}-errors` },
      AlarmDescription: `Errors of the ${fn} function`,
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: `${fn}LambdaFunction` } }],
      Statistic: 'Sum',
      Threshold: 0,
    });
  }
  return resources;
}

/** One restore-test schedule per replicated or vector asset (its `restoreTest.schedule`). */
export function verifyRestoreEvents(policy: Policy): Json[] {
  const tested = [...replicatedAssets(policy), ...vectorAssets(policy).map(({ asset }) => asset)];
  return tested.map((asset) => ({ schedule: { rate: [asset.restoreTest.schedule], input: { asset: asset.name } } }));
}

/** One schedule per vector-index asset (its `schedule`), so each asset's snapshots run on their own. */
export function snapshotEvents(policy: Policy): Json[] {
  return vectorAssets(policy).map(({ asset }) => ({ schedule: { rate: [asset.schedule], input: { asset: asset.name } } }));
}

/**
 * snapshot-vectors writes, reads back and (retention only) destroys snapshot files under each
 * asset's `<replica prefix>snapshots/`, and nothing else of the replica bucket. It reads the
 * engines' credentials, and S3 Vectors indexes or LanceDB datasets on S3 where the policy has them.
 */
export function snapshotStatements(policy: Policy): Json[] {
  const statements: Json[] = [
    ...runtimeStatements('snapshot-vectors'),
    ledgerItems('Catalog', ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], ['SNAPSHOT#*']),
    invokeItself('snapshot-vectors'),
  ];
  for (const { asset } of vectorAssets(policy)) {
    const name = logicalId('', asset.name);
    const prefix = `${asset.replica.prefix ?? ''}snapshots/`;
    statements.push(
      {
        Sid: `ListSnapshots${name}`,
        Effect: 'Allow',
        Action: ['s3:ListBucketVersions'],
        Resource: s3Arn(asset.replica.bucket),
        Condition: { StringLike: { 's3:prefix': [`${prefix}*`] } },
      },
      // A missing chunk or manifest must answer 404 (HEAD and GET carry no prefix to condition on).
      { Sid: `FindSnapshots${name}`, Effect: 'Allow', Action: ['s3:ListBucket'], Resource: s3Arn(asset.replica.bucket) },
      {
        Sid: `WriteSnapshots${name}`,
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:GetObject', 's3:DeleteObjectVersion'],
        Resource: s3Arn(`${asset.replica.bucket}/${prefix}*`),
      },
    );
    const { engine, endpoint, vectorBucket, index, region } = asset.source;
    if (engine === 's3vectors') {
      statements.push({
        Sid: `ReadVectorIndex${name}`,
        Effect: 'Allow',
        Action: ['s3vectors:GetIndex', 's3vectors:ListVectors', 's3vectors:GetVectors', 's3vectors:QueryVectors'],
        Resource: { 'Fn::Sub': `arn:\${AWS::Partition}:s3vectors:${region}:\${AWS::AccountId}:bucket/${vectorBucket}/index/${index}` },
      });
    }
    if (engine === 'lancedb' && endpoint?.startsWith('s3://')) {
      const [bucket, ...rest] = endpoint.slice('s3://'.length).split('/');
      const path = rest.filter(Boolean).join('/');
      statements.push(
        { Sid: `ListLanceDb${name}`, Effect: 'Allow', Action: 's3:ListBucket', Resource: s3Arn(bucket!) },
        {
          Sid: `ReadLanceDb${name}`,
          Effect: 'Allow',
          // A native snapshot tags a dataset version: a small write into the dataset.
          Action: asset.nativeSnapshot ? ['s3:GetObject', 's3:PutObject'] : ['s3:GetObject'],
          Resource: s3Arn(`${bucket}/${path ? `${path}/` : ''}*`),
        },
      );
    }
  }
  const secrets = [...new Set(vectorAssets(policy).flatMap(({ asset }) => (asset.source.credentialsSecretArn ? [asset.source.credentialsSecretArn] : [])))];
  if (secrets.length > 0) statements.push({ Sid: 'EngineCredentials', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: secrets });
  return statements;
}

/** The basics every function role has: its own log group and traces. */
function runtimeStatements(functionName: string): Json[] {
  return [
    {
      Sid: 'Logs',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: { 'Fn::Sub': `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/\${AWS::StackName}-${functionName}:*` },
    },
    { Sid: 'Tracing', Effect: 'Allow', Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], Resource: '*' },
  ];
}

const invokeItself = (functionName: string): Json => ({
  Sid: 'ContinueItself',
  Effect: 'Allow',
  Action: 'lambda:InvokeFunction',
  Resource: { 'Fn::Sub': `arn:\${AWS::Partition}:lambda:\${AWS::Region}:\${AWS::AccountId}:function:\${AWS::StackName}-${functionName}` },
});

/** Items of the ledger table whose partition key starts with one of `prefixes`. */
const ledgerItems = (sid: string, actions: string[], prefixes: string[]): Json => ({
  Sid: sid,
  Effect: 'Allow',
  Action: actions,
  Resource: { 'Fn::GetAtt': ['LedgerTable', 'Arn'] },
  Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': prefixes } },
});

/** Reading what was replicated: every version under each asset's replica prefix. */
function readReplicas(policy: Policy): Json[] {
  return replicatedAssets(policy).flatMap((asset) => {
    const name = logicalId('', asset.name);
    const prefix = replicaKeyFor(asset, asset.source.prefix);
    return [
      {
        Sid: `ListReplica${name}`,
        Effect: 'Allow',
        Action: ['s3:ListBucketVersions'],
        Resource: s3Arn(asset.replica.bucket),
        Condition: { StringLike: { 's3:prefix': [`${prefix}*`] } },
      },
      {
        Sid: `ReadReplica${name}`,
        Effect: 'Allow',
        Action: ['s3:GetObjectVersion', 's3:GetObjectVersionTagging', 's3:GetObjectVersionAttributes'],
        Resource: s3Arn(`${asset.replica.bucket}/${prefix}*`),
      },
    ];
  });
}

/** Never destroy: no restore or test may delete a version anywhere but its own scratch area. */
const neverDestroy = (buckets: string[]): Json => ({
  Sid: 'NeverDestroy',
  Effect: 'Deny',
  Action: ['s3:DeleteObjectVersion', 's3:DeleteBucket', 's3:PutBucketVersioning', 's3:PutLifecycleConfiguration', 's3:PutBucketPolicy'],
  Resource: buckets.flatMap((b) => [s3Arn(b), s3Arn(`${b}/*`)]),
});

/**
 * restore-data reads the ledger and the replicas, writes new versions into the assets' source
 * buckets and restore.targetBuckets (never deleting one), and keeps its plans and multipart
 * progress in the ledger table.
 */
export function restoreDataStatements(policy: Policy): Json[] {
  const targets = [...new Set([...replicatedAssets(policy).filter((a) => !a.source.endpoint && !a.source.credentialsSecretArn).map((a) => a.source.bucket), ...policy.restore.targetBuckets.map((t) => t.bucket)])];
  return [
    ...runtimeStatements('restore-data'),
    invokeItself('restore-data'),
    { Sid: 'ReadLedger', Effect: 'Allow', Action: ['dynamodb:Query', 'dynamodb:GetItem'], Resource: { 'Fn::GetAtt': ['LedgerTable', 'Arn'] } },
    ledgerItems('Plans', ['dynamodb:PutItem', 'dynamodb:UpdateItem'], ['RESTORE#*']),
    ledgerItems('MultipartProgress', ['dynamodb:PutItem', 'dynamodb:DeleteItem'], ['K#restore#*']),
    ...readReplicas(policy),
    // ListBucket: a HEAD of a missing key answers 404 (not 403), which is how "absent" is known;
    // GetBucketVersioning: a restore writes only into versioned buckets (it never destroys a version).
    { Sid: 'ListTargets', Effect: 'Allow', Action: ['s3:ListBucket', 's3:GetBucketVersioning'], Resource: targets.map((b) => s3Arn(b)) },
    {
      Sid: 'WriteTargets',
      Effect: 'Allow',
      Action: ['s3:PutObject', 's3:PutObjectTagging', 's3:GetObject', 's3:GetObjectVersion', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload'],
      Resource: targets.map((b) => s3Arn(`${b}/*`)),
    },
    neverDestroy([...targets, ...new Set(policy.assets.map((a) => a.replica.bucket))]),
  ];
}

/**
 * verify-restore reads the ledger and the replicas, writes and removes its scratch copies under
 * `_dr-restore-tests/` of the replica buckets, keeps its scrub and alert state, and publishes
 * target events; for vector assets it reads snapshots and uses the engines (a scratch index).
 */
export function verifyRestoreStatements(policy: Policy): Json[] {
  const replicaBuckets = [...new Set(replicatedAssets(policy).map((a) => a.replica.bucket))];
  return [
    ...runtimeStatements('verify-restore'),
    { Sid: 'ReadLedger', Effect: 'Allow', Action: ['dynamodb:Query', 'dynamodb:GetItem'], Resource: { 'Fn::GetAtt': ['LedgerTable', 'Arn'] } },
    ledgerItems('TestState', ['dynamodb:PutItem', 'dynamodb:UpdateItem'], ['SCRUB#*', 'ALERT#*', 'RESTORETEST#*']),
    ledgerItems('ScratchMultipartProgress', ['dynamodb:PutItem', 'dynamodb:DeleteItem'], ['K#restore#verify-*']),
    { Sid: 'PublishTargetEvents', Effect: 'Allow', Action: 'events:PutEvents', Resource: { 'Fn::GetAtt': ['DrEventBus', 'Arn'] } },
    ...readReplicas(policy),
    ...(replicaBuckets.length > 0
      ? [
          {
            Sid: 'ScratchCopies',
            Effect: 'Allow',
            Action: ['s3:PutObject', 's3:PutObjectTagging', 's3:GetObjectVersion', 's3:DeleteObjectVersion', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload'],
            Resource: replicaBuckets.map((b) => s3Arn(`${b}/_dr-restore-tests/*`)),
          },
          {
            Sid: 'ListScratch',
            Effect: 'Allow',
            Action: ['s3:ListBucketVersions'],
            Resource: replicaBuckets.map((b) => s3Arn(b)),
            Condition: { StringLike: { 's3:prefix': ['_dr-restore-tests/*'] } },
          },
          { Sid: 'ScratchVersioning', Effect: 'Allow', Action: ['s3:GetBucketVersioning'], Resource: replicaBuckets.map((b) => s3Arn(b)) },
        ]
      : []),
    // A restore test that finds a corrupt snapshot marks it so in the catalog.
    ...vectorEngineStatements(policy, 'VerifyVectors', ['dynamodb:UpdateItem']),
  ];
}

/** restore-vectors reads snapshots, writes into the policy's engines, keeps its plans. */
export function restoreVectorsStatements(policy: Policy): Json[] {
  return [
    ...runtimeStatements('restore-vectors'),
    invokeItself('restore-vectors'),
    ledgerItems('Plans', ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], ['RESTORE#*']),
    ...vectorEngineStatements(policy, 'Vectors'),
  ];
}

/**
 * What working with the policy's vector engines needs beyond their HTTP/PostgreSQL endpoints:
 * reading snapshots and the catalog, the engines' credentials, and S3 Vectors indexes and LanceDB
 * datasets on S3 (including scratch or restored indexes).
 */
export function vectorEngineStatements(policy: Policy, sid: string, catalogWrites: string[] = []): Json[] {
  const assets = vectorAssets(policy).map(({ asset }) => asset);
  if (assets.length === 0) return [];
  const statements: Json[] = [
    ledgerItems(`${sid}Catalog`, ['dynamodb:Query', 'dynamodb:GetItem', ...catalogWrites], ['SNAPSHOT#*']),
    {
      Sid: `${sid}ReadSnapshots`,
      Effect: 'Allow',
      Action: ['s3:GetObject'],
      Resource: assets.map((a) => s3Arn(`${a.replica.bucket}/${a.replica.prefix ?? ''}snapshots/*`)),
    },
    // A missing chunk or manifest must answer 404 (an incomplete snapshot), not 403.
    { Sid: `${sid}SnapshotBuckets`, Effect: 'Allow', Action: ['s3:ListBucket'], Resource: [...new Set(assets.map((a) => a.replica.bucket))].map((b) => s3Arn(b)) },
  ];
  const secrets = [...new Set(assets.flatMap((a) => (a.source.credentialsSecretArn ? [a.source.credentialsSecretArn] : [])))];
  if (secrets.length > 0) statements.push({ Sid: `${sid}EngineCredentials`, Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: secrets });
  const vectorBuckets = [...new Set(assets.filter((a) => a.source.engine === 's3vectors').map((a) => `${a.source.region}:${a.source.vectorBucket}`))];
  if (vectorBuckets.length > 0) {
    statements.push({
      Sid: `${sid}S3Vectors`,
      Effect: 'Allow',
      Action: ['s3vectors:GetIndex', 's3vectors:CreateIndex', 's3vectors:DeleteIndex', 's3vectors:ListVectors', 's3vectors:GetVectors', 's3vectors:PutVectors', 's3vectors:QueryVectors'],
      Resource: vectorBuckets.map((rb) => {
        const [region, bucket] = rb.split(':');
        return { 'Fn::Sub': `arn:\${AWS::Partition}:s3vectors:${region}:\${AWS::AccountId}:bucket/${bucket}/index/*` };
      }),
    });
  }
  const lance = [...new Set(assets.filter((a) => a.source.engine === 'lancedb' && a.source.endpoint?.startsWith('s3://')).map((a) => a.source.endpoint!.slice(5).replace(/\/+$/, '')))];
  if (lance.length > 0) {
    statements.push(
      { Sid: `${sid}ListLanceDb`, Effect: 'Allow', Action: 's3:ListBucket', Resource: [...new Set(lance.map((p) => s3Arn(p.split('/')[0]!)))] },
      { Sid: `${sid}LanceDb`, Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], Resource: lance.map((p) => s3Arn(`${p}/*`)) },
    );
  }
  return statements;
}

/** An IAM role for one function, from its statements. */
const functionRole = (policyName: string, statements: Json[]): Json => ({
  Type: 'AWS::IAM::Role',
  Properties: {
    AssumeRolePolicyDocument: {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
    },
    Policies: [{ PolicyName: policyName, PolicyDocument: { Version: '2012-10-17', Statement: statements } }],
  },
});

/** The roles of the vector, restore and restore-test functions, each scoped to what it does. */
export function functionRoles(policy: Policy): Json {
  return {
    SnapshotVectorsRole: functionRole('snapshot-vectors', snapshotStatements(policy)),
    RestoreDataRole: functionRole('restore-data', restoreDataStatements(policy)),
    RestoreVectorsRole: functionRole('restore-vectors', restoreVectorsStatements(policy)),
    VerifyRestoreRole: functionRole('verify-restore', verifyRestoreStatements(policy)),
  };
}

/** Credentials of sources on other endpoints or accounts, read by replicate and reconcile. */
export function sourceSecretStatements(policy: Policy): Json[] {
  const secrets = [...new Set(replicatedAssets(policy).flatMap((a) => (a.source.credentialsSecretArn ? [a.source.credentialsSecretArn] : [])))];
  return secrets.length === 0 ? [] : [{ Sid: 'SourceCredentials', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: secrets }];
}

export function stackConfig(policyFile: string) {
  const policy = loadPolicyFile(policyFile);
  const { timeoutSeconds, batchSize, maxReceiveCount } = policy.replication;
  return {
    policyFile,
    region: policy.deployment.region,
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
    resources: { Resources: { ...replicaBucketResources(policy), ...eventRuleResources(policy), ...alarmResources(policy), ...functionRoles(policy) } },
    replicateS3Statements: [...replicateS3Statements(policy), ...sourceSecretStatements(policy)],
    reconcileS3Statements: [...reconcileS3Statements(policy), ...sourceSecretStatements(policy)],
    reconcileEvents: reconcileEvents(policy),
    snapshotEvents: snapshotEvents(policy),
    verifyRestoreEvents: verifyRestoreEvents(policy),
  };
}
