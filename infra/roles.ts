import {
  lineageBuckets,
  lineagePrefix,
  replicaKeyFor,
  replicatedAssets,
  reportLocation,
  vectorAssets,
} from '../functions/policy/assets.js';
import { isInferenceProfile } from '../functions/serving/bedrock-probe.js';
import { lockOf, replicaHasObjectLock } from '../functions/policy/object-lock.js';
import {
  type Asset,
  drillAssets,
  endpointRegion,
  isAssetDrill,
  isServingDrill,
  type Policy,
  type ServingEndpoint,
} from '../functions/policy/schema.js';
import { logicalId } from './event-rules.js';
import { SCRATCH_BUCKET } from './buckets.js';
import { dataKeyStatements } from './encryption.js';
import { type Json, functionRole, invokeFunction, invokeItself, ledgerItems, ledgerTableAndIndexes, ledgerTableArn, s3Arn } from './iam.js';
import { type RoleOwner, roleLogicalId, roleOwners } from './service.js';

/**
 * The IAM role of every function, each scoped to what the function does, all built the same way
 * (infra/iam.ts `functionRole`: the log groups and traces of the functions that use the role come
 * first). S3 permissions are scoped to the policy's buckets and prefixes.
 */

const queueArn = { 'Fn::GetAtt': ['ReplicationQueue', 'Arn'] };

/** replicate (and backfill): consume and continue on the queue, keep the ledger, copy versions. */
function replicateStatements(): Json[] {
  return [
    {
      Sid: 'ConsumeQueue',
      Effect: 'Allow',
      Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ChangeMessageVisibility'],
      Resource: queueArn,
    },
    { Sid: 'ContinueLongCopies', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: queueArn },
    {
      Sid: 'Ledger',
      Effect: 'Allow',
      Action: ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      Resource: ledgerTableAndIndexes,
    },
  ];
}

/** reconcile: queue the gaps it finds, keep its checkpoints, mark gaps pending. */
function reconcileStatements(): Json[] {
  return [
    { Sid: 'QueueGaps', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: queueArn },
    ledgerItems('Checkpoints', ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'], ['RECONCILE#*']),
    ledgerItems('GapsArePending', 'dynamodb:UpdateItem', ['K#*']),
  ];
}

/** What measure-rpo and status both read: the ledger and alert state, queue depth and age. */
const readLedgerAndAlertState: Json = {
  Sid: 'ReadLedgerAndAlertState',
  Effect: 'Allow',
  Action: ['dynamodb:Query', 'dynamodb:GetItem'],
  Resource: ledgerTableAndIndexes,
};
const deadLetterDepth: Json = {
  Sid: 'DeadLetterDepth',
  Effect: 'Allow',
  Action: 'sqs:GetQueueAttributes',
  Resource: { 'Fn::GetAtt': ['ReplicationDeadLetterQueue', 'Arn'] },
};
const queueAge: Json = { Sid: 'QueueAge', Effect: 'Allow', Action: 'cloudwatch:GetMetricStatistics', Resource: '*' };
const publishTargetEvents: Json = {
  Sid: 'PublishTargetEvents',
  Effect: 'Allow',
  Action: 'events:PutEvents',
  Resource: { 'Fn::GetAtt': ['DrEventBus', 'Arn'] },
};

/** measure-rpo reads what it measures, keeps the alert state and the incident log, and publishes target events. */
function measureRpoStatements(): Json[] {
  return [
    readLedgerAndAlertState,
    ledgerItems('WriteAlertState', ['dynamodb:PutItem', 'dynamodb:UpdateItem'], ['ALERT#*', 'INCIDENT#*']),
    publishTargetEvents,
    deadLetterDepth,
    queueAge,
  ];
}

/** status reads what measure-rpo reads and the replica buckets' Object Lock, and changes nothing. */
function statusStatements(policy: Policy): Json[] {
  return [queueAge, readLedgerAndAlertState, deadLetterDepth, readObjectLock(policy)];
}

/** Reading whether the replica buckets have Object Lock on (status and the report show it). */
const readObjectLock = (policy: Policy): Json => ({
  Sid: 'ReadObjectLock',
  Effect: 'Allow',
  Action: 's3:GetBucketObjectLockConfiguration',
  Resource: [...new Set(policy.assets.map((a) => a.replica.bucket))].map((b) => s3Arn(b)),
});

/** Listing the versions under an asset's source prefix (replicate and reconcile). */
const listSource = (asset: ReturnType<typeof replicatedAssets>[number], name: string): Json => ({
  Sid: `ListSource${name}`,
  Effect: 'Allow',
  Action: ['s3:ListBucketVersions'],
  Resource: s3Arn(asset.source.bucket),
  Condition: { StringLike: { 's3:prefix': [`${asset.source.prefix}*`] } },
});

/** The replicate function's S3 permissions: read the sources' prefixes, add versions to the replicas. */
function replicateS3Statements(policy: Policy): Json[] {
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
        // A write into a bucket with Object Lock on sets the version's retention; else versioning is checked.
        Action: ['s3:ListBucketVersions', 's3:GetBucketVersioning', 's3:GetBucketObjectLockConfiguration'],
        Resource: s3Arn(asset.replica.bucket),
      },
      {
        Sid: `WriteReplica${name}`,
        Effect: 'Allow',
        // DeleteObject without a version id only adds a delete marker on a versioned bucket.
        // Multipart copies: UploadPartCopy is s3:PutObject; resuming lists parts; giving up aborts.
        // PutObjectRetention: a new version's lock (shortening one needs the bypass, denied below).
        Action: [
          's3:PutObject',
          's3:PutObjectRetention',
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
  statements.push(neverDestroy([...new Set(assets.map((a) => a.replica.bucket))]), ...neverOverLock(policy, assets));
  return statements;
}

/** Reconcile lists the sources' prefixes and the replicas; it reads no object. */
function reconcileS3Statements(policy: Policy): Json[] {
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

/**
 * snapshot-vectors writes, reads back and (retention only) destroys snapshot files under each
 * asset's `<replica prefix>snapshots/`, and nothing else of the replica bucket. It reads the
 * engines' credentials, and S3 Vectors indexes or LanceDB datasets on S3 where the policy has them.
 */
export function snapshotStatements(policy: Policy): Json[] {
  const statements: Json[] = [
    // A partitioned snapshot's parts are items of their own (SNAPSHOT-PART#), checkpointed in transactions with the entry.
    ledgerItems(
      'Catalog',
      ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:ConditionCheckItem'],
      SNAPSHOT_ITEMS,
    ),
    invokeItself('snapshotVectors'),
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
      {
        Sid: `FindSnapshots${name}`,
        Effect: 'Allow',
        Action: ['s3:ListBucket', 's3:GetBucketObjectLockConfiguration'],
        Resource: s3Arn(asset.replica.bucket),
      },
      {
        Sid: `WriteSnapshots${name}`,
        Effect: 'Allow',
        // PutObjectRetention: snapshot files are written locked, and retention extends the locks of
        // those it keeps; GetObjectRetention: a catalog rebuilt from the manifests learns their locks;
        // DeleteObjectVersion: retention removes expired snapshots (once unlocked).
        Action: ['s3:PutObject', 's3:PutObjectRetention', 's3:GetObjectRetention', 's3:GetObject', 's3:DeleteObjectVersion'],
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
  const secrets = [
    ...new Set(vectorAssets(policy).flatMap(({ asset }) => (asset.source.credentialsSecretArn ? [asset.source.credentialsSecretArn] : []))),
  ];
  if (secrets.length > 0)
    statements.push({ Sid: 'EngineCredentials', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: secrets });
  const buckets = [...new Set(vectorAssets(policy).map(({ asset }) => asset.replica.bucket))];
  if (buckets.length > 0)
    statements.push(
      neverWeaken(buckets),
      ...neverOverLock(
        policy,
        vectorAssets(policy).map(({ asset }) => asset),
      ),
    );
  return statements;
}

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
/**
 * What no role of the stack may do to the buckets it protects: weaken them (delete the bucket,
 * change its versioning, lifecycle, policy or Object Lock configuration, bypass a GOVERNANCE lock),
 * and, with `destroy`, delete any version.
 */
const neverWeaken = (buckets: string[], { destroy = false, holds = false } = {}): Json => ({
  Sid: destroy ? 'NeverDestroy' : 'NeverWeaken',
  Effect: 'Deny',
  Action: [
    ...(destroy ? ['s3:DeleteObjectVersion'] : []),
    // Legal holds keep what registered models need (docs/lineage.md#legal-holds): only lineage places or removes them.
    ...(holds ? [] : ['s3:PutObjectLegalHold']),
    's3:DeleteBucket',
    's3:PutBucketVersioning',
    's3:PutLifecycleConfiguration',
    's3:PutBucketPolicy',
    's3:PutBucketObjectLockConfiguration',
    's3:BypassGovernanceRetention',
  ],
  Resource: buckets.flatMap((b) => [s3Arn(b), s3Arn(`${b}/*`)]),
});
const neverDestroy = (buckets: string[], { holds = false } = {}): Json => neverWeaken(buckets, { destroy: true, holds });

/**
 * A role that locks versions (replicate, snapshot-vectors) may lock them no longer than the
 * policy's longest retention for `assets` (plus a day for S3's rounding): a compromised role cannot
 * lock the replica for a century to run up its bill. S3 compares
 * s3:object-lock-remaining-retention-days on writes that set a retention; others lack the key,
 * so the deny does not touch them.
 */
function neverOverLock(policy: Policy, assets: Asset[]): Json[] {
  const days = assets.flatMap((a) => {
    const lock = lockOf(policy, a);
    return lock ? [lock.days] : [];
  });
  if (days.length === 0) return [];
  return [
    {
      Sid: 'NeverLockLongerThanThePolicy',
      Effect: 'Deny',
      Action: ['s3:PutObject', 's3:PutObjectRetention'],
      Resource: [...new Set(assets.map((a) => a.replica.bucket))].map((b) => s3Arn(`${b}/*`)),
      Condition: { NumericGreaterThan: { 's3:object-lock-remaining-retention-days': Math.max(...days) + 1 } },
    },
  ];
}

/**
 * restore-data reads the ledger and the replicas, writes new versions into the assets' source
 * buckets and restore.targetBuckets (never deleting one), and keeps its plans and multipart
 * progress in the ledger table.
 */
export function restoreDataStatements(policy: Policy): Json[] {
  const targets = [
    ...new Set([
      ...replicatedAssets(policy)
        .filter((a) => !a.source.endpoint && !a.source.credentialsSecretArn)
        .map((a) => a.source.bucket),
      ...policy.restore.targetBuckets.map((t) => t.bucket),
    ]),
  ];
  return [
    invokeItself('restoreData'),
    { Sid: 'ReadLedger', Effect: 'Allow', Action: ['dynamodb:Query', 'dynamodb:GetItem'], Resource: ledgerTableArn },
    ledgerItems('Plans', ['dynamodb:PutItem', 'dynamodb:UpdateItem'], ['RESTORE#*']),
    ledgerItems('MultipartProgress', ['dynamodb:PutItem', 'dynamodb:DeleteItem'], ['K#restore#*']),
    ...readReplicas(policy),
    // ListBucket: a HEAD of a missing key answers 404 (not 403), which is how "absent" is known;
    // GetBucketVersioning: a restore writes only into versioned buckets (it never destroys a version);
    // one with Object Lock on is versioned for good.
    {
      Sid: 'ListTargets',
      Effect: 'Allow',
      Action: ['s3:ListBucket', 's3:GetBucketVersioning', 's3:GetBucketObjectLockConfiguration'],
      Resource: targets.map((b) => s3Arn(b)),
    },
    {
      Sid: 'WriteTargets',
      Effect: 'Allow',
      Action: [
        's3:PutObject',
        's3:PutObjectTagging',
        's3:GetObject',
        's3:GetObjectVersion',
        's3:ListMultipartUploadParts',
        's3:AbortMultipartUpload',
      ],
      Resource: targets.map((b) => s3Arn(`${b}/*`)),
    },
    ...readDatasetVersions(policy),
    ...batchRestoreJobStatements(policy),
    neverDestroy([...targets, ...new Set(policy.assets.map((a) => a.replica.bucket))]),
  ];
}

/** The files of batch restores' jobs (manifests, completion reports): restore-jobs/ in each object asset's replica bucket. */
const restoreJobFiles = (policy: Policy) =>
  [...new Set(replicatedAssets(policy).map((a) => a.replica.bucket))].map((b) => s3Arn(`${b}/restore-jobs/*`));

/**
 * restore-data's large restores as S3 Batch Operations jobs (docs/restore.md#batch-operations): it
 * writes the manifest and reads the report in restore-jobs/, creates and describes jobs, and passes
 * the batch restore role to S3 only.
 */
function batchRestoreJobStatements(policy: Policy): Json[] {
  return [
    { Sid: 'BatchRestoreJobFiles', Effect: 'Allow', Action: ['s3:PutObject', 's3:GetObject'], Resource: restoreJobFiles(policy) },
    // CreateJob takes no resource; DescribeJob takes the job.
    { Sid: 'CreateBatchRestoreJobs', Effect: 'Allow', Action: 's3:CreateJob', Resource: '*' },
    {
      Sid: 'DescribeBatchRestoreJobs',
      Effect: 'Allow',
      Action: 's3:DescribeJob',
      Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:s3:${AWS::Region}:${AWS::AccountId}:job/*' },
    },
    {
      Sid: 'PassBatchRestoreRole',
      Effect: 'Allow',
      Action: 'iam:PassRole',
      Resource: { 'Fn::GetAtt': ['BatchRestoreRole', 'Arn'] },
      Condition: { StringEquals: { 'iam:PassedToService': 'batchoperations.s3.amazonaws.com' } },
    },
  ];
}

/**
 * The role S3 Batch Operations assumes to run a batch restore's job: it invokes restore-data per
 * task, reads the job's manifest and writes its completion report (restore-jobs/ in the replica
 * buckets). The objects themselves are copied by restore-data, with its own role.
 */
export function batchRestoreRole(policy: Policy): Json {
  const dataKey = dataKeyStatements(policy);
  return {
    BatchRestoreRole: {
      Type: 'AWS::IAM::Role',
      Properties: {
        AssumeRolePolicyDocument: {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { Service: 'batchoperations.s3.amazonaws.com' }, Action: 'sts:AssumeRole' }],
        },
        Policies: [
          {
            PolicyName: 'batch-restore',
            PolicyDocument: {
              Version: '2012-10-17',
              Statement: [
                invokeFunction('InvokeRestoreData', 'restoreData'),
                {
                  Sid: 'JobFiles',
                  Effect: 'Allow',
                  Action: ['s3:GetObject', 's3:GetObjectVersion', 's3:PutObject'],
                  Resource: restoreJobFiles(policy),
                },
                // It writes (reports) into the replica buckets: denied, explicitly, whatever would weaken them.
                neverDestroy([...new Set(replicatedAssets(policy).map((a) => a.replica.bucket))]),
              ],
            },
          },
          // With the customer-managed key option, the job files are encrypted with it.
          ...(dataKey.length > 0 ? [{ PolicyName: 'data-key', PolicyDocument: { Version: '2012-10-17', Statement: dataKey } }] : []),
        ],
      },
    },
  };
}

/** Reading dataset versions (restores by model, lineage restore tests): the files under the lineage prefix of each replica bucket. */
function readDatasetVersions(policy: Policy): Json[] {
  const buckets = lineageBuckets(policy);
  return buckets.length === 0
    ? []
    : [
        {
          Sid: 'ReadDatasetVersions',
          Effect: 'Allow',
          Action: ['s3:GetObjectVersion'],
          Resource: buckets.map((b) => s3Arn(`${b}/${lineagePrefix(policy)}*`)),
        },
      ];
}

/**
 * verify-restore reads the ledger and the replicas, writes and removes its scratch copies in the
 * stack's restore-test scratch bucket (never in a replica bucket, where Object Lock would keep
 * them), keeps its scrub and alert state, and publishes target events; for vector assets it reads
 * snapshots and uses the engines (a scratch index).
 */
export function verifyRestoreStatements(policy: Policy): Json[] {
  const replicaBuckets = [...new Set(replicatedAssets(policy).map((a) => a.replica.bucket))];
  // A vector restore test in parts (restoreParts) plans and starts its restore here, sends the parts
  // to restore-vectors, and continues itself while it waits.
  const inParts = vectorAssets(policy).some(({ asset }) => asset.restoreParts > 1);
  return [
    { Sid: 'ReadLedger', Effect: 'Allow', Action: ['dynamodb:Query', 'dynamodb:GetItem'], Resource: ledgerTableArn },
    ...(inParts
      ? [
          invokeItself('verifyRestore'),
          invokeFunction('RunRestoreParts', 'restoreVectors'),
          ledgerItems('RestorePlans', ['dynamodb:PutItem', 'dynamodb:UpdateItem'], ['RESTORE#*']),
          // The test under way, where the next scheduled test finds it if its continuation is lost.
          ledgerItems('TestsUnderWay', ['dynamodb:PutItem', 'dynamodb:DeleteItem'], ['RESTORETESTRUN#*']),
        ]
      : []),
    ledgerItems(
      'TestState',
      ['dynamodb:PutItem', 'dynamodb:UpdateItem'],
      ['SCRUB#*', 'ALERT#*', 'INCIDENT#*', 'RESTORETEST#*', 'LINEAGECHECK'],
    ),
    ledgerItems('ScratchMultipartProgress', ['dynamodb:PutItem', 'dynamodb:DeleteItem'], ['K#restore#verify-*']),
    publishTargetEvents,
    ...readReplicas(policy),
    // The lineage check: the dataset versions registered models link, and the lifecycle rules of their buckets.
    ...readDatasetVersions(policy),
    ...(replicaBuckets.length > 0
      ? [
          {
            Sid: 'ReadLifecycleRules',
            Effect: 'Allow',
            Action: ['s3:GetLifecycleConfiguration'],
            Resource: [
              ...new Set([
                ...replicaBuckets,
                ...replicatedAssets(policy)
                  .filter((a) => !a.source.endpoint && !a.source.credentialsSecretArn)
                  .map((a) => a.source.bucket),
              ]),
            ].map((b) => s3Arn(b)),
          },
        ]
      : []),
    ...(replicaBuckets.length > 0
      ? [
          {
            Sid: 'ScratchCopies',
            Effect: 'Allow',
            Action: [
              's3:PutObject',
              's3:PutObjectTagging',
              's3:GetObjectVersion',
              's3:DeleteObjectVersion',
              's3:ListMultipartUploadParts',
              's3:AbortMultipartUpload',
            ],
            Resource: { 'Fn::Sub': `\${${SCRATCH_BUCKET}.Arn}/*` },
          },
          {
            Sid: 'ScratchBucket',
            Effect: 'Allow',
            Action: ['s3:ListBucketVersions', 's3:GetBucketVersioning', 's3:GetBucketObjectLockConfiguration'],
            Resource: { 'Fn::GetAtt': [SCRATCH_BUCKET, 'Arn'] },
          },
          neverDestroy(replicaBuckets),
        ]
      : []),
    // A restore test that finds a corrupt snapshot marks it so in the catalog.
    ...vectorEngineStatements(policy, 'VerifyVectors', ['dynamodb:UpdateItem']),
  ];
}

/**
 * dr-drill runs the restores of its drills (as restore-data and restore-vectors do, into its
 * workspace only), writes, damages and removes its copies under each drill's workspace prefix,
 * keeps its runs, plans and alert state, and publishes target events. It never deletes a version
 * anywhere else: the source and replica buckets are denied.
 */
export function drDrillStatements(policy: Policy): Json[] {
  const drills = policy.drills.filter(isAssetDrill);
  const workspaces = [...new Set(drills.map((d) => `${d.workspace.bucket}/${d.workspace.prefix}`))];
  const buckets = [...new Set(drills.map((d) => d.workspace.bucket))];
  const drillVectorAssets = new Set(
    drills.flatMap((d) => [
      ...drillAssets(policy, d)
        .filter((a) => a.kind === 'vector-index')
        .map((a) => a.name),
      ...(d.workspace.vectorTarget ? [d.workspace.vectorTarget] : []),
    ]),
  );
  const protectedBuckets = [
    ...new Set([...replicatedAssets(policy).map((a) => a.source.bucket), ...policy.assets.map((a) => a.replica.bucket)]),
  ].filter((b) => !buckets.includes(b));
  return [
    invokeItself('drDrill'),
    // The RPO at the start is measured as measure-rpo measures it: on the ledger's indexes too.
    { Sid: 'ReadLedger', Effect: 'Allow', Action: ['dynamodb:Query', 'dynamodb:GetItem'], Resource: ledgerTableAndIndexes },
    ledgerItems(
      'DrillState',
      ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      ['DRILL#*', 'ALERT#*', 'INCIDENT#*', 'RESTORE#*'],
    ),
    // A finished drill tells the report to write itself again (asynchronously).
    invokeFunction('TellTheReport', 'report'),
    // A vector restore in parts (restoreParts) runs its parts in restore-vectors.
    ...(drills.some((d) => drillAssets(policy, d).some((a) => a.kind === 'vector-index' && a.restoreParts > 1))
      ? [invokeFunction('RunRestoreParts', 'restoreVectors')]
      : []),
    ledgerItems('MultipartProgress', ['dynamodb:PutItem', 'dynamodb:DeleteItem'], ['K#restore#*']),
    publishTargetEvents,
    ...readReplicas(policy),
    ...(workspaces.length > 0
      ? [
          {
            Sid: 'WorkspaceBuckets',
            Effect: 'Allow',
            // ListBucketMultipartUploads: cleanup aborts what a copy killed halfway left.
            Action: ['s3:ListBucket', 's3:GetBucketVersioning', 's3:GetBucketObjectLockConfiguration', 's3:ListBucketMultipartUploads'],
            Resource: buckets.map((b) => s3Arn(b)),
          },
          {
            Sid: 'ListWorkspaces',
            Effect: 'Allow',
            Action: ['s3:ListBucketVersions'],
            Resource: buckets.map((b) => s3Arn(b)),
            Condition: { StringLike: { 's3:prefix': [...new Set(drills.map((d) => `${d.workspace.prefix}*`))] } },
          },
          {
            Sid: 'Workspaces',
            Effect: 'Allow',
            Action: [
              's3:PutObject',
              's3:PutObjectTagging',
              's3:GetObject',
              's3:GetObjectVersion',
              's3:DeleteObjectVersion',
              's3:ListMultipartUploadParts',
              's3:AbortMultipartUpload',
            ],
            Resource: workspaces.map((w) => s3Arn(`${w}*`)),
          },
        ]
      : []),
    ...(protectedBuckets.length > 0 ? [neverDestroy(protectedBuckets)] : []),
    // Only the engines drills use: the snapshots of their vector assets, and the engines of their scratch indexes.
    ...vectorEngineStatements({ ...policy, assets: policy.assets.filter((a) => drillVectorAssets.has(a.name)) }, 'DrillVectors'),
  ];
}

/** The snapshot catalog's items: entries (SNAPSHOT#<asset>) and the parts of partitioned snapshots (SNAPSHOT-PART#<asset>#<id>). */
const SNAPSHOT_ITEMS = ['SNAPSHOT#*', 'SNAPSHOT-PART#*'];

/** restore-vectors reads snapshots, writes into the policy's engines, keeps its plans, marks a snapshot that does not restore corrupt. */
export function restoreVectorsStatements(policy: Policy): Json[] {
  return [
    invokeItself('restoreVectors'),
    // A restore in parts lists its parts and saves each in a transaction that checks the plan.
    ledgerItems(
      'Plans',
      ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:ConditionCheckItem'],
      ['RESTORE#*'],
    ),
    // A snapshot whose files do not restore is marked corrupt in the catalog.
    ...vectorEngineStatements(policy, 'Vectors', ['dynamodb:UpdateItem']),
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
    ledgerItems(`${sid}Catalog`, ['dynamodb:Query', 'dynamodb:GetItem', ...catalogWrites], SNAPSHOT_ITEMS),
    {
      Sid: `${sid}ReadSnapshots`,
      Effect: 'Allow',
      Action: ['s3:GetObject'],
      Resource: assets.map((a) => s3Arn(`${a.replica.bucket}/${a.replica.prefix ?? ''}snapshots/*`)),
    },
    // A missing chunk or manifest must answer 404 (an incomplete snapshot), not 403.
    {
      Sid: `${sid}SnapshotBuckets`,
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: [...new Set(assets.map((a) => a.replica.bucket))].map((b) => s3Arn(b)),
    },
  ];
  const secrets = [...new Set(assets.flatMap((a) => (a.source.credentialsSecretArn ? [a.source.credentialsSecretArn] : [])))];
  if (secrets.length > 0)
    statements.push({ Sid: `${sid}EngineCredentials`, Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: secrets });
  const vectorBuckets = [
    ...new Set(assets.filter((a) => a.source.engine === 's3vectors').map((a) => `${a.source.region}:${a.source.vectorBucket}`)),
  ];
  if (vectorBuckets.length > 0) {
    statements.push({
      Sid: `${sid}S3Vectors`,
      Effect: 'Allow',
      Action: [
        's3vectors:GetIndex',
        's3vectors:CreateIndex',
        's3vectors:DeleteIndex',
        's3vectors:ListVectors',
        's3vectors:GetVectors',
        's3vectors:PutVectors',
        's3vectors:QueryVectors',
      ],
      Resource: vectorBuckets.map((rb) => {
        const [region, bucket] = rb.split(':');
        return { 'Fn::Sub': `arn:\${AWS::Partition}:s3vectors:${region}:\${AWS::AccountId}:bucket/${bucket}/index/*` };
      }),
    });
  }
  const lance = [
    ...new Set(
      assets
        .filter((a) => a.source.engine === 'lancedb' && a.source.endpoint?.startsWith('s3://'))
        .map((a) => a.source.endpoint!.slice(5).replace(/\/+$/, '')),
    ),
  ];
  if (lance.length > 0) {
    statements.push(
      {
        Sid: `${sid}ListLanceDb`,
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: [...new Set(lance.map((p) => s3Arn(p.split('/')[0]!)))],
      },
      {
        Sid: `${sid}LanceDb`,
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        Resource: lance.map((p) => s3Arn(`${p}/*`)),
      },
    );
  }
  return statements;
}

/**
 * report reads the RPO history (CloudWatch GetMetricData, which has no resource-level permissions)
 * and the ledger table (what measure-rpo reads, restore tests, alert states, incidents, drill
 * runs) and the replica buckets' Object Lock configuration, and writes only under the report
 * prefix of its bucket. It changes nothing else.
 */
export function reportStatements(policy: Policy): Json[] {
  const { bucket, prefix } = reportLocation(policy);
  return [
    { Sid: 'RpoHistory', Effect: 'Allow', Action: 'cloudwatch:GetMetricData', Resource: '*' },
    { Sid: 'ReadLedger', Effect: 'Allow', Action: ['dynamodb:Query', 'dynamodb:GetItem'], Resource: ledgerTableAndIndexes },
    { Sid: 'WriteReport', Effect: 'Allow', Action: 's3:PutObject', Resource: s3Arn(`${bucket}/${prefix}*`) },
    readObjectLock(policy),
    neverWeaken([bucket]),
  ];
}

/** Credentials of sources on other endpoints or accounts, read by replicate and reconcile. */
function sourceSecretStatements(policy: Policy): Json[] {
  const secrets = [
    ...new Set(replicatedAssets(policy).flatMap((a) => (a.source.credentialsSecretArn ? [a.source.credentialsSecretArn] : []))),
  ];
  return secrets.length === 0
    ? []
    : [{ Sid: 'SourceCredentials', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: secrets }];
}

/**
 * lineage reads the ledger and the replicas (which version of each key as of a time), keeps the
 * dataset and model catalogs, writes dataset versions only under the lineage prefix of each object asset's
 * replica bucket, destroys nothing, and continues only itself.
 */
export function lineageStatements(policy: Policy): Json[] {
  const buckets = [...new Set(replicatedAssets(policy).map((a) => a.replica.bucket))];
  const writable = lineageBuckets(policy);
  // Legal holds need Object Lock on the bucket; a vault's bucket policy keeps them to the vault.
  const holdable = replicatedAssets(policy).filter(
    (a) => !a.replica.account && replicaHasObjectLock(policy, a.replica.bucket) && writable.includes(a.replica.bucket),
  );
  return [
    invokeItself('lineage'),
    // The index too: a dataset version looks for versions still pending (the unreplicated index).
    { Sid: 'ReadLedger', Effect: 'Allow', Action: ['dynamodb:Query', 'dynamodb:GetItem'], Resource: ledgerTableAndIndexes },
    // Dataset versions, model records and which models use each dataset version (TransactWriteItems is PutItem or
    // UpdateItem per item: retiring a model updates its record and use items), the dataset versions' legal holds.
    ledgerItems('LineageCatalog', ['dynamodb:PutItem'], ['DATASET#*', 'MODEL#*', 'DATASETUSE#*', 'HOLD#*']),
    ledgerItems('RetireModels', ['dynamodb:UpdateItem'], ['MODEL#*', 'DATASETUSE#*']),
    // Retirement plans (dry run and token).
    ledgerItems('Plans', ['dynamodb:PutItem', 'dynamodb:UpdateItem'], ['RESTORE#*']),
    ...readReplicas(policy),
    ...(holdable.length > 0
      ? [
          {
            Sid: 'HoldWhatModelsUse',
            Effect: 'Allow',
            Action: ['s3:PutObjectLegalHold'],
            Resource: [
              ...holdable.map((a) => `${a.replica.bucket}/${replicaKeyFor(a, a.source.prefix)}*`),
              ...new Set(holdable.map((a) => `${a.replica.bucket}/${lineagePrefix(policy)}*`)),
            ].map(s3Arn),
          },
        ]
      : []),
    ...(writable.length > 0
      ? [
          {
            Sid: 'WriteDatasetVersions',
            Effect: 'Allow',
            Action: ['s3:PutObject', 's3:GetObjectVersion'],
            Resource: writable.map((b) => s3Arn(`${b}/${lineagePrefix(policy)}*`)),
          },
        ]
      : []),
    // Request files dropped by pipelines (docs/lineage.md#request-files), and the results written beside them.
    ...(policy.lineage?.requests
      ? [
          {
            Sid: 'DatasetRequestFiles',
            Effect: 'Allow',
            Action: ['s3:GetObject', 's3:PutObject'],
            Resource: s3Arn(`${policy.lineage.requests.bucket}/${policy.lineage.requests.prefix}*`),
          },
        ]
      : []),
    ...(policy.lineage?.mlflow?.credentialsSecretArn
      ? [
          {
            Sid: 'MlflowCredentials',
            Effect: 'Allow',
            Action: 'secretsmanager:GetSecretValue',
            Resource: policy.lineage.mlflow.credentialsSecretArn,
          },
        ]
      : []),
    neverDestroy(buckets, { holds: true }),
  ];
}

/**
 * probe-serving reads the keys of the policy's serving endpoints, looks up its Bedrock models,
 * describes its SageMaker endpoints
 * (and the models of those that must serve an artifact; the ledger says which), keeps each service's failover
 * state, its alert state and operators' pin plans, writes only the switch parameters under serving.parameterPrefix, and
 * publishes target events. It touches no data.
 */
export function probeServingStatements(policy: Policy): Json[] {
  const serving = policy.serving;
  const endpoints = (serving?.services ?? []).flatMap((s) => [s.primary, ...s.fallbacks]);
  const secrets = [...new Set(endpoints.flatMap((e) => (e.credentialsSecretArn ? [e.credentialsSecretArn] : [])))];
  // SageMaker's ARNs name resources in lower case.
  const sageMakerArn = (region: string, resource: string) => ({
    'Fn::Sub': `arn:\${AWS::Partition}:sagemaker:${region}:\${AWS::AccountId}:${resource.toLowerCase()}`,
  });
  const regionOf = (e: ServingEndpoint) => endpointRegion(policy, e);
  const sageMaker = endpoints.filter((e) => e.provider === 'sagemaker');
  const served = sageMaker.filter((e) => e.servesArtifact);
  const servedRegions = [...new Set(served.map(regionOf))];
  const bedrock = endpoints.filter((e) => e.provider === 'bedrock');
  // Smoke evals read their golden prompts from the replica (the key's versions there).
  const golden = (serving?.services ?? []).flatMap((s) => {
    const asset = s.smokeEval && replicatedAssets(policy).find((a) => a.name === s.smokeEval!.asset);
    return asset ? [s3Arn(`${asset.replica.bucket}/${replicaKeyFor(asset, s.smokeEval!.key)}`)] : [];
  });
  const bedrockArn = (e: ServingEndpoint) =>
    e.model!.startsWith('arn:')
      ? e.model!
      : isInferenceProfile(e.model!)
        ? { 'Fn::Sub': `arn:\${AWS::Partition}:bedrock:${regionOf(e)}:\${AWS::AccountId}:inference-profile/${e.model}` }
        : { 'Fn::Sub': `arn:\${AWS::Partition}:bedrock:${regionOf(e)}::foundation-model/${e.model}` };
  const parameters = {
    'Fn::Sub': `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${serving?.parameterPrefix ?? '/ai-data-dr/serving/'}*`,
  };
  return [
    readLedgerAndAlertState,
    // Its state, its alerts, and operators' pins (dry run and token, as restores).
    ledgerItems('ServingState', ['dynamodb:PutItem', 'dynamodb:UpdateItem'], ['SERVING#*', 'ALERT#*', 'INCIDENT#*', 'RESTORE#*']),
    publishTargetEvents,
    { Sid: 'SwitchParameters', Effect: 'Allow', Action: ['ssm:GetParameter', 'ssm:PutParameter'], Resource: parameters },
    ...(secrets.length > 0 ? [{ Sid: 'EndpointKeys', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: secrets }] : []),
    ...(sageMaker.length > 0
      ? [
          {
            Sid: 'DescribeEndpoints',
            Effect: 'Allow',
            Action: 'sagemaker:DescribeEndpoint',
            Resource: sageMaker.map((e) => sageMakerArn(regionOf(e), `endpoint/${e.endpointName}`)),
          },
        ]
      : []),
    ...(bedrock.length > 0
      ? [
          {
            Sid: 'LookUpBedrockModels',
            Effect: 'Allow',
            Action: ['bedrock:GetFoundationModel', 'bedrock:GetInferenceProfile'],
            Resource: bedrock.map(bedrockArn),
          },
          // Whether the account may invoke a model: an action without a resource type (Bedrock's authorization reference).
          { Sid: 'BedrockModelAccess', Effect: 'Allow', Action: 'bedrock:GetFoundationModelAvailability', Resource: '*' },
        ]
      : []),
    ...(golden.length > 0
      ? [{ Sid: 'GoldenPrompts', Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectVersion'], Resource: golden }]
      : []),
    // What a DR-region endpoint serves: its configuration's models (their names are the pipeline's, not the policy's).
    ...(served.length > 0
      ? [
          {
            Sid: 'DescribeServedModels',
            Effect: 'Allow',
            Action: ['sagemaker:DescribeEndpointConfig', 'sagemaker:DescribeModel'],
            Resource: servedRegions.flatMap((r) => [sageMakerArn(r, 'endpoint-config/*'), sageMakerArn(r, 'model/*')]),
          },
        ]
      : []),
  ];
}

/** The inline policies of each function's role, in order (their names are the deployed ones). */
const rolePolicies: Record<RoleOwner, (policy: Policy) => [name: string, statements: Json[]][]> = {
  replicate: (policy) => [
    ['replicate-runtime', replicateStatements()],
    ['replicate-s3', [...replicateS3Statements(policy), ...sourceSecretStatements(policy)]],
  ],
  measureRpo: () => [['measure-rpo', measureRpoStatements()]],
  status: (policy) => [['status', statusStatements(policy)]],
  reconcile: (policy) => [
    ['reconcile-runtime', reconcileStatements()],
    ['reconcile-s3', [...reconcileS3Statements(policy), ...sourceSecretStatements(policy)]],
  ],
  snapshotVectors: (policy) => [['snapshot-vectors', snapshotStatements(policy)]],
  restoreData: (policy) => [['restore-data', restoreDataStatements(policy)]],
  restoreVectors: (policy) => [['restore-vectors', restoreVectorsStatements(policy)]],
  verifyRestore: (policy) => [['verify-restore', verifyRestoreStatements(policy)]],
  drDrill: (policy) => [
    ['dr-drill', drDrillStatements(policy)],
    // A model-provider-outage drill follows its runbook through probe-serving's own code: its round and its pins.
    ...(policy.drills.some(isServingDrill) ? [['dr-drill-serving', probeServingStatements(policy)] as [string, Json[]]] : []),
  ],
  report: (policy) => [['report', reportStatements(policy)]],
  lineage: (policy) => [['lineage', lineageStatements(policy)]],
  probeServing: (policy) => [['probe-serving', probeServingStatements(policy)]],
};

/**
 * Every function's role, by logical id (`<Function>Role`; backfill runs with ReplicateRole); with
 * the customer-managed key option, each may use the key through the services it stores in.
 */
export function functionRoles(policy: Policy): Json {
  const dataKey = dataKeyStatements(policy);
  return {
    ...Object.fromEntries(
      roleOwners.map((owner) => {
        const policies = rolePolicies[owner](policy);
        return [roleLogicalId(owner), functionRole(owner, dataKey.length > 0 ? [...policies, ['data-key', dataKey]] : policies)];
      }),
    ),
    ...batchRestoreRole(policy),
  };
}
