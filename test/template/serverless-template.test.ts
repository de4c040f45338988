import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../functions/policy/load.js';
import { parse } from 'yaml';
import { projectRoot, scanVenvBin, venvBin } from '../../scripts/local-aws/venv.js';
import { cfnGuardBin } from '../../scripts/tools/cfn-guard.js';

/**
 * Packages the service with `osls package` (offline, dummy credentials), then reads the generated
 * CloudFormation template and asserts the wiring, and runs cfn-lint and checkov on it.
 */
type Resource = { Type: string; Properties: Record<string, any>; DependsOn?: unknown };
type Template = { Resources: Record<string, Resource> };

function osls(args: string[], env: Record<string, string> = {}) {
  return spawnSync(join(projectRoot, 'node_modules/.bin/osls'), args, {
    cwd: projectRoot,
    encoding: 'utf8',
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'packaging-only', AWS_SECRET_ACCESS_KEY: 'packaging-only', ...env },
  });
}

const stackFile = (dir: string) => join(dir, 'cloudformation-template-update-stack.json');
const readTemplate = (dir: string) => JSON.parse(readFileSync(stackFile(dir), 'utf8')) as Template;

/** Model services with an endpoint of every provider (added to the key option's package). */
const SERVING = `serving:
  services:
    - name: chat
      tier: critical
      rtoTargetMinutes: 5
      primary: { id: claude, provider: anthropic, model: claude-opus-4-6, credentialsSecretArn: "arn:aws:secretsmanager:us-west-2:111122223333:secret:anthropic-AbCdEf" }
      fallbacks:
        - { id: haiku, provider: bedrock, model: us.anthropic.claude-3-5-haiku-20241022-v1:0 }
        - { id: haiku-east, provider: bedrock, model: anthropic.claude-3-5-haiku-20241022-v1:0, region: us-east-1 }
        - { id: gateway, provider: http, url: "https://gateway.internal/health" }
    - name: ranker
      tier: high
      rtoTargetMinutes: 15
      primary: { id: prod, provider: sagemaker, endpointName: ranker-prod, region: us-east-1 }
      fallbacks:
        - { id: dr, provider: sagemaker, endpointName: ranker-dr, servesArtifact: { asset: model-artifacts, key: ranker/model.tar.gz } }
`;

let dir: string;
let template: Template;
/**
 * The stack packaged with the customer-managed key option (deployment.kmsKey: stack,
 * docs/encryption.md), tracing off (deployment.tracing: false) and model services (serving: every
 * kind of endpoint), linted and scanned too.
 */
let kmsDir: string;
let kmsTemplate: Template;
/** The vault account's template (docs/vault-account.md), linted and scanned with the stack's. */
const VAULT_TEMPLATE = join(projectRoot, 'infra/vault-account.yml');
const byType = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
const resource = (id: string) => {
  const found = template.Resources[id];
  if (!found) throw new Error(`no resource ${id} in the template`);
  return found;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dr-package-'));
  kmsDir = mkdtempSync(join(tmpdir(), 'dr-package-kms-'));
  const kmsPolicy = join(kmsDir, 'kms-policy.yml');
  const example = readFileSync(join(projectRoot, 'dr-policy.yml'), 'utf8');
  if (!/^ {2}region: us-west-2$/m.test(example)) throw new Error('dr-policy.yml: expected deployment.region us-west-2');
  writeFileSync(
    kmsPolicy,
    `${example.replace(/^ {2}region: us-west-2$/m, '  region: us-west-2\n  kmsKey: stack\n  tracing: false')}\n${SERVING}`,
  );
  // One at a time: osls keeps its state in the project's .serverless/ while it packages.
  for (const [into, env] of [
    [dir, {}],
    [join(kmsDir, 'package'), { DR_POLICY_FILE: kmsPolicy }],
  ] as const) {
    const run = osls(['package', '--stage', 'test', '--package', into], env);
    if (run.status !== 0) throw new Error(`osls package into ${into} failed:\n${run.stdout}\n${run.stderr}`);
  }
  template = readTemplate(dir);
  kmsTemplate = readTemplate(join(kmsDir, 'package'));
}, 240_000);

describe('the packaged template', () => {
  it('passes cfn-lint, with the customer-managed key option too, and so does the vault account’s template', () => {
    const lint = spawnSync(venvBin('cfn-lint'), [stackFile(dir), stackFile(join(kmsDir, 'package')), VAULT_TEMPLATE], {
      cwd: projectRoot,
      encoding: 'utf8',
    });
    expect(lint.stdout + lint.stderr).toBe('');
    expect(lint.status).toBe(0);
  });

  it('checkov finds nothing but what infra/checkov-skips.yml lists with its reason, and every listed skip still applies', () => {
    type Report = {
      summary: { passed: number; failed: number; parsing_errors: number };
      results: { failed_checks?: { check_id: string; resource: string }[] };
    };
    const scan = (file: string): Report =>
      JSON.parse(
        spawnSync(scanVenvBin('checkov'), ['-f', file, '--framework', 'cloudformation', '--quiet', '--compact', '-o', 'json'], {
          cwd: projectRoot,
          encoding: 'utf8',
          maxBuffer: 64 * 1024 * 1024,
        }).stdout,
      ) as Report;
    const [stack, kms, vault] = [scan(stackFile(dir)), scan(stackFile(join(kmsDir, 'package'))), scan(VAULT_TEMPLATE)];
    for (const report of [stack, kms, vault]) expect(report.summary.parsing_errors).toBe(0);
    expect(stack.summary.passed).toBeGreaterThan(100); // the template was read and checked
    expect(kms.summary.passed).toBeGreaterThan(stack.summary.passed);
    expect(vault.summary.passed).toBeGreaterThan(10);
    const skips = parse(readFileSync(join(projectRoot, 'infra/checkov-skips.yml'), 'utf8')) as {
      check: string;
      resources: string[];
      reason: string;
      unlessKmsKey?: boolean;
    }[];
    const covers = (pattern: string, resource: string) => pattern === resource || resource.startsWith(`${pattern}.`);
    const findingsOf = (...reports: Report[]) =>
      reports.flatMap((r) => r.results.failed_checks ?? []).map((f) => `${f.check_id} ${f.resource}`);
    const unlistedIn = (findings: string[], listed: typeof skips) =>
      findings.filter((f) => {
        const [check, resource] = f.split(' ') as [string, string];
        return !listed.some((s) => s.check === check && s.resources.some((p) => covers(p, resource)));
      });
    const findings = findingsOf(stack, vault);
    expect(unlistedIn(findings, skips)).toEqual([]);
    // What the key option fixes (unlessKmsKey) must not be found on the stack that has it.
    expect(
      unlistedIn(
        findingsOf(kms),
        skips.filter((s) => !s.unlessKmsKey),
      ),
    ).toEqual([]);
    expect(skips.filter((s) => s.unlessKmsKey).map((s) => s.check)).toEqual(['CKV_AWS_158', 'CKV_AWS_173', 'CKV_AWS_119', 'CKV_AWS_27']);
    const stale = skips.flatMap((s) =>
      s.resources
        .filter((p) => !findings.some((f) => f.startsWith(`${s.check} `) && covers(p, f.split(' ')[1]!)))
        .map((p) => `${s.check} ${p}`),
    );
    expect(stale).toEqual([]);
    for (const skip of skips) expect(skip.reason.length, skip.check).toBeGreaterThan(40);
  });

  it('passes the Guard rules (infra/guard/), as the vault’s template does; they fail a replica bucket losing its lock or a role allowed to weaken one', () => {
    const validate = (file: string) =>
      spawnSync(cfnGuardBin, ['validate', '-d', file, '-r', join(projectRoot, 'infra/guard'), '--show-summary', 'fail'], {
        encoding: 'utf8',
      });
    for (const passing of [stackFile(dir), stackFile(join(kmsDir, 'package')), VAULT_TEMPLATE]) {
      const run = validate(passing);
      expect(run.stdout + run.stderr, passing).toBe('');
      expect(run.status, passing).toBe(0);
    }
    // The same template, weakened: the rules name what broke.
    const weakened = structuredClone(template);
    delete weakened.Resources.ReplicaBucketAcmeMlDrReplica!.Properties.ObjectLockEnabled;
    weakened.Resources.ReplicateRole!.Properties.Policies[0].PolicyDocument.Statement.push({
      Effect: 'Allow',
      Action: 's3:BypassGovernanceRetention',
      Resource: '*',
    });
    const file = join(dir, 'weakened.json');
    writeFileSync(file, JSON.stringify(weakened));
    const failed = validate(file);
    expect(failed.status).not.toBe(0);
    expect(failed.stdout).toMatch(/replica_buckets_keep_every_version\s+FAIL/);
    expect(failed.stdout).toMatch(/no_role_may_weaken_a_replica\s+FAIL/);
  });

  it('traces every function with X-Ray, or none with deployment.tracing: false (then the tracer is told so, and the X-Ray SDK installs no hook)', () => {
    const functions = (t: Template) => Object.values(t.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(functions(template).length).toBeGreaterThan(10);
    for (const fn of functions(template)) {
      expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
      expect(fn.Properties.Environment.Variables.POWERTOOLS_TRACE_ENABLED).toBe('true');
    }
    for (const fn of functions(kmsTemplate)) {
      expect(fn.Properties.TracingConfig?.Mode).not.toBe('Active');
      expect(fn.Properties.Environment.Variables.POWERTOOLS_TRACE_ENABLED).toBe('false');
    }
    // The packaged replicate function loaded with its environment: the X-Ray SDK's automatic mode
    // keeps its context in cls-hooked's namespace (process.namespaces.AWSXRay), whose hook runs for every promise.
    const hookInstalled = (packageDir: string, t: Template) => {
      const unpacked = mkdtempSync(join(tmpdir(), 'dr-replicate-'));
      const unzip = spawnSync(venvBin('python'), [
        '-c',
        'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])',
        join(packageDir, 'replicate.zip'),
        unpacked,
      ]);
      expect(unzip.status).toBe(0);
      const variables = t.Resources.ReplicateLambdaFunction!.Properties.Environment.Variables as Record<string, unknown>;
      const env = Object.fromEntries(
        Object.entries(variables).map(([name, value]) => [name, typeof value === 'string' ? value : 'from-the-stack']),
      );
      const script = `await import('./functions/replicate.js'); console.log(String(Boolean(process.namespaces?.AWSXRay)));`;
      const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: unpacked,
        env: { PATH: process.env.PATH, AWS_REGION: 'us-west-2', ...env },
        encoding: 'utf8',
      });
      expect(run.status, run.stderr).toBe(0);
      return run.stdout.trim().split('\n').at(-1);
    };
    expect(hookInstalled(dir, template)).toBe('true');
    expect(hookInstalled(join(kmsDir, 'package'), kmsTemplate)).toBe('false');
  });

  it('runs replicate on nodejs24.x, arm64, in the DR region, with the policy file in its package', () => {
    const fn = resource('ReplicateLambdaFunction').Properties;
    expect(fn).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], Handler: 'functions/replicate.handler', Timeout: 300 });
    expect(fn.TracingConfig).toEqual({ Mode: 'Active' });
    expect(fn.Environment.Variables).toMatchObject({
      DR_POLICY_FILE: 'dr-policy.yml',
      LEDGER_TABLE: { Ref: 'LedgerTable' },
      DR_LEASE_SECONDS: '360',
    });
    const zip = spawnSync(
      venvBin('python'),
      ['-c', 'import sys, zipfile; print("\\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))', join(dir, 'replicate.zip')],
      { encoding: 'utf8' },
    );
    expect(zip.stdout.trim().split('\n').sort()).toEqual(['dr-policy.yml', 'functions/replicate.js', 'functions/replicate.js.map']);
    const state = JSON.parse(readFileSync(join(dir, 'serverless-state.json'), 'utf8')) as { service: { provider: { region: string } } };
    expect(state.service.provider.region).toBe('us-west-2');
  });

  it('consumes the queue with partial batch responses; the queue redrives to a dead-letter queue', () => {
    const [[, mapping]] = byType('AWS::Lambda::EventSourceMapping') as [[string, Resource]];
    expect(mapping.Properties).toMatchObject({
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      EventSourceArn: { 'Fn::GetAtt': ['ReplicationQueue', 'Arn'] },
      FunctionName: { 'Fn::GetAtt': ['ReplicateLambdaFunction', 'Arn'] },
    });
    expect(resource('ReplicationQueue').Properties).toMatchObject({
      VisibilityTimeout: 1800,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['ReplicationDeadLetterQueue', 'Arn'] }, maxReceiveCount: 5 },
    });
  });

  it("routes each replicated asset's S3 events to the queue, with the dead-letter queue for failed deliveries", () => {
    const rules = byType('AWS::Events::Rule')
      .filter(([, r]) => r.Properties.EventPattern?.source?.[0] === 'aws.s3')
      .map(([id, r]) => [id, r.Properties.EventPattern]);
    expect(rules).toEqual([
      [
        'ReplicationRuleTrainingData',
        {
          source: ['aws.s3'],
          'detail-type': ['Object Created', 'Object Deleted'],
          detail: { bucket: { name: ['acme-ml-prod-data'] }, object: { key: [{ prefix: 'training/' }] } },
        },
      ],
      [
        'ReplicationRuleEvalSets',
        {
          source: ['aws.s3'],
          'detail-type': ['Object Created', 'Object Deleted'],
          detail: { bucket: { name: ['acme-ml-prod-data'] }, object: { key: [{ prefix: 'evals/' }] } },
        },
      ],
      [
        'ReplicationRuleModelArtifacts',
        { source: ['aws.s3'], 'detail-type': ['Object Created', 'Object Deleted'], detail: { bucket: { name: ['acme-ml-prod-models'] } } },
      ],
    ]);
    const target = resource('ReplicationRuleEvalSets').Properties.Targets[0];
    expect(target.Arn).toEqual({ 'Fn::GetAtt': ['ReplicationQueue', 'Arn'] });
    expect(target.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': ['ReplicationDeadLetterQueue', 'Arn'] } });
    const queuePolicy = resource('ReplicationQueuePolicy').Properties.PolicyDocument.Statement[0];
    expect(queuePolicy.Condition.ArnEquals['aws:SourceArn']).toEqual([
      { 'Fn::GetAtt': ['ReplicationRuleTrainingData', 'Arn'] },
      { 'Fn::GetAtt': ['ReplicationRuleEvalSets', 'Arn'] },
      { 'Fn::GetAtt': ['ReplicationRuleModelArtifacts', 'Arn'] },
    ]);
  });

  it('keeps the ledger: on-demand, point-in-time recovery, the sparse unreplicated index, retained', () => {
    const table = resource('LedgerTable');
    expect(table).toMatchObject({ DeletionPolicy: 'Retain' });
    expect(table.Properties).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    });
    expect(table.Properties.GlobalSecondaryIndexes[0]).toMatchObject({
      IndexName: 'unreplicated',
      KeySchema: [
        { AttributeName: 'pendingAsset', KeyType: 'HASH' },
        { AttributeName: 'pendingSince', KeyType: 'RANGE' },
      ],
    });
  });

  it('creates the replica bucket versioned, private, encrypted, TLS-only and retained', () => {
    const bucket = resource('ReplicaBucketAcmeMlDrReplica');
    expect(bucket).toMatchObject({ DeletionPolicy: 'Retain' });
    expect(bucket.Properties).toMatchObject({
      BucketName: 'acme-ml-dr-replica',
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
    });
    const [deny] = resource('ReplicaBucketAcmeMlDrReplicaPolicy').Properties.PolicyDocument.Statement;
    expect(deny).toMatchObject({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } });
  });

  it('logs every request to the replica bucket into an access-log bucket that only S3 logging writes, kept 400 days', () => {
    expect(resource('ReplicaBucketAcmeMlDrReplica').Properties.LoggingConfiguration).toEqual({
      DestinationBucketName: { Ref: 'ReplicaAccessLogsBucket' },
      LogFilePrefix: 'acme-ml-dr-replica/',
    });
    const logs = resource('ReplicaAccessLogsBucket');
    expect(logs).toMatchObject({ DeletionPolicy: 'Retain' });
    expect(logs.Properties).toMatchObject({
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: { BlockPublicPolicy: true, RestrictPublicBuckets: true },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      LifecycleConfiguration: { Rules: [expect.objectContaining({ ExpirationInDays: 400 })] },
    });
    const [deny, write] = resource('ReplicaAccessLogsBucketPolicy').Properties.PolicyDocument.Statement;
    expect(deny).toMatchObject({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } });
    expect(write).toMatchObject({
      Effect: 'Allow',
      Principal: { Service: 'logging.s3.amazonaws.com' },
      Action: 's3:PutObject',
      Condition: {
        ArnLike: { 'aws:SourceArn': ['arn:aws:s3:::acme-ml-dr-replica', { 'Fn::GetAtt': ['RestoreTestScratchBucket', 'Arn'] }] },
      },
    });
  });

  it('creates the replica bucket with Object Lock on, defaulting to the weakest retention of the assets in it', () => {
    // acme-ml-dr-replica holds critical (COMPLIANCE 90 days), high (COMPLIANCE 30) and standard (GOVERNANCE 30) assets.
    expect(resource('ReplicaBucketAcmeMlDrReplica').Properties).toMatchObject({
      ObjectLockEnabled: true,
      ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 30 } } },
    });
    // The restore tests' scratch copies go where they can be removed: a bucket without Object Lock, emptied within a day.
    const scratch = resource('RestoreTestScratchBucket').Properties;
    expect(scratch).not.toHaveProperty('ObjectLockEnabled');
    expect(scratch.LifecycleConfiguration.Rules).toEqual([
      expect.objectContaining({ ExpirationInDays: 1, NoncurrentVersionExpiration: { NoncurrentDays: 1 } }),
    ]);
    expect(resource('VerifyRestoreLambdaFunction').Properties.Environment.Variables.DR_SCRATCH_BUCKET).toEqual({
      Ref: 'RestoreTestScratchBucket',
    });
  });

  it('lets no role of the stack bypass a lock, or change a protected bucket’s Object Lock, versioning, lifecycle or policy', () => {
    const weakening = [
      's3:BypassGovernanceRetention',
      's3:PutBucketObjectLockConfiguration',
      's3:PutBucketVersioning',
      's3:PutLifecycleConfiguration',
      's3:PutBucketPolicy',
      's3:DeleteBucket',
    ];
    const replica = ['arn:${AWS::Partition}:s3:::acme-ml-dr-replica', 'arn:${AWS::Partition}:s3:::acme-ml-dr-replica/*'];
    const roles = byType('AWS::IAM::Role').filter(([id]) => id !== 'IamRoleCustomResourcesLambdaExecution');
    expect(roles.length).toBeGreaterThanOrEqual(10);
    for (const [id, role] of roles) {
      const statements: any[] = role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement);
      const allowed = statements.filter((st) => st.Effect === 'Allow').flatMap((st) => [st.Action].flat());
      expect(
        allowed.filter((a) => weakening.includes(a) || a === 's3:*' || a === '*'),
        id,
      ).toEqual([]);
      const writesReplica = statements.some(
        (st) =>
          st.Effect === 'Allow' &&
          [st.Action].flat().some((a: string) => /^s3:(Put|Delete)/.test(a)) &&
          [st.Resource].flat().some((r: any) => String(r?.['Fn::Sub']).includes('acme-ml-dr-replica/')),
      );
      if (!writesReplica) continue;
      // A role that writes the replica is also denied, explicitly, everything that would weaken it.
      const denied = statements.filter((st) => st.Effect === 'Deny');
      expect(
        denied.some((st) => weakening.every((a) => st.Action.includes(a)) && replica.every((r) => JSON.stringify(st.Resource).includes(r))),
        id,
      ).toBe(true);
    }
  });

  it('lets the roles that lock versions (replicate, snapshot-vectors) lock them no longer than the policy’s longest retention', () => {
    // dr-policy.yml: critical COMPLIANCE 90 days is the object assets' longest, 30 days (high, standard) the
    // vector indexes'; a day more for S3's rounding.
    for (const [id, days] of [
      ['ReplicateRole', 91],
      ['SnapshotVectorsRole', 31],
    ] as const) {
      const statements: any[] = resource(id).Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement);
      expect(
        statements.find((st) => st.Sid === 'NeverLockLongerThanThePolicy'),
        id,
      ).toEqual({
        Sid: 'NeverLockLongerThanThePolicy',
        Effect: 'Deny',
        Action: ['s3:PutObject', 's3:PutObjectRetention'],
        Resource: [{ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::acme-ml-dr-replica/*' }],
        Condition: { NumericGreaterThan: { 's3:object-lock-remaining-retention-days': days } },
      });
    }
  });

  it("scopes the replicate role to the policy's buckets and prefixes, and forbids destroying replica data", () => {
    const role = resource('ReplicateRole').Properties;
    expect(resource('ReplicateLambdaFunction').Properties.Role).toEqual({ 'Fn::GetAtt': ['ReplicateRole', 'Arn'] });
    const statements = role.Policies.flatMap((p: { PolicyDocument: { Statement: any[] } }) => p.PolicyDocument.Statement);
    for (const s of statements) {
      const actions: string[] = [s.Action].flat();
      expect(actions.some((a) => a === '*' || a === 's3:*')).toBe(false);
      if (actions.some((a) => a.startsWith('s3:'))) {
        const resources = [s.Resource].flat().map((r: { 'Fn::Sub': string }) => r['Fn::Sub']);
        for (const r of resources)
          expect(r).toMatch(
            /^arn:\$\{AWS::Partition\}:s3:::acme-ml-(prod-data|prod-models|dr-replica)(\/(training|evals|models)\/)?(\*)?(\/\*)?$/,
          );
      }
    }
    const sids = Object.fromEntries(statements.map((s: { Sid: string }) => [s.Sid, s]));
    expect(sids.ReadSourceTrainingData.Resource).toEqual({ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::acme-ml-prod-data/training/*' });
    expect(sids.ListSourceEvalSets.Condition).toEqual({ StringLike: { 's3:prefix': ['evals/*'] } });
    expect(sids.WriteReplicaEvalSets.Action).not.toContain('s3:DeleteObjectVersion');
    expect(sids.WriteReplicaEvalSets.Action).toContain('s3:PutObjectRetention'); // a new version's lock
    expect(sids.NeverDestroy).toMatchObject({
      Effect: 'Deny',
      Action: expect.arrayContaining(['s3:DeleteObjectVersion', 's3:PutBucketVersioning', 's3:BypassGovernanceRetention']),
    });
  });
});

describe('monitoring in the packaged template', () => {
  it("runs measure-rpo on the policy's schedule and status on demand, each with its own role", () => {
    expect(resource('MeasureRpoLambdaFunction').Properties).toMatchObject({
      FunctionName: 'ai-data-dr-test-measure-rpo',
      Role: { 'Fn::GetAtt': ['MeasureRpoRole', 'Arn'] },
      Environment: { Variables: { DR_EVENT_BUS: { Ref: 'DrEventBus' }, DEAD_LETTER_QUEUE_URL: { Ref: 'ReplicationDeadLetterQueue' } } },
    });
    expect(resource('StatusLambdaFunction').Properties).toMatchObject({
      FunctionName: 'ai-data-dr-test-status',
      Role: { 'Fn::GetAtt': ['StatusRole', 'Arn'] },
    });
    const schedules = byType('AWS::Events::Rule').filter(([, r]) => r.Properties.ScheduleExpression);
    expect(schedules.map(([, r]) => [r.Properties.ScheduleExpression, r.Properties.Targets[0].Arn, r.Properties.Targets[0].Input])).toEqual(
      [
        ['rate(1 minute)', { 'Fn::GetAtt': ['MeasureRpoLambdaFunction', 'Arn'] }, undefined],
        ['rate(6 hours)', { 'Fn::GetAtt': ['ReconcileLambdaFunction', 'Arn'] }, '{"asset":"training-data"}'],
        ['rate(6 hours)', { 'Fn::GetAtt': ['ReconcileLambdaFunction', 'Arn'] }, '{"asset":"eval-sets"}'],
        ['rate(6 hours)', { 'Fn::GetAtt': ['ReconcileLambdaFunction', 'Arn'] }, '{"asset":"model-artifacts"}'],
        ['rate(1 hour)', { 'Fn::GetAtt': ['SnapshotVectorsLambdaFunction', 'Arn'] }, '{"asset":"product-search-index"}'],
        ['rate(6 hours)', { 'Fn::GetAtt': ['SnapshotVectorsLambdaFunction', 'Arn'] }, '{"asset":"support-kb-index"}'],
        ...['training-data', 'eval-sets', 'model-artifacts', 'product-search-index', 'support-kb-index'].map((asset) => [
          'rate(1 day)',
          { 'Fn::GetAtt': ['VerifyRestoreLambdaFunction', 'Arn'] },
          JSON.stringify({ asset }),
        ]),
        // The lineage check (docs/lineage.md#lineage-check).
        ['rate(1 day)', { 'Fn::GetAtt': ['VerifyRestoreLambdaFunction', 'Arn'] }, '{"lineage":"check"}'],
        ['cron(0 6 1 1,4,7,10 ? *)', { 'Fn::GetAtt': ['DrDrillLambdaFunction', 'Arn'] }, '{"drill":"quarterly-region-outage"}'],
        ['cron(0 6 15 11 ? *)', { 'Fn::GetAtt': ['DrDrillLambdaFunction', 'Arn'] }, '{"drill":"annual-model-regression"}'],
        ['rate(15 minutes)', { 'Fn::GetAtt': ['DrDrillLambdaFunction', 'Arn'] }, '{"resume":true}'],
        ['cron(0 6 * * ? *)', { 'Fn::GetAtt': ['ReportLambdaFunction', 'Arn'] }, '{"trigger":"schedule"}'],
      ],
    );
  });

  it("has one RPO alarm per measured asset with the policy's target, missing data breaching, paging on-call", () => {
    const policy = loadPolicyFile(join(projectRoot, 'dr-policy.yml'));
    const alarms = byType('AWS::CloudWatch::Alarm').filter(([, a]) => a.Properties.MetricName === 'RpoSeconds');
    const measured = policy.assets;
    expect(alarms.map(([, a]) => [a.Properties.Dimensions, a.Properties.Threshold])).toEqual(
      measured.map((a) => [
        [
          { Name: 'service', Value: 'ai-data-dr' },
          { Name: 'asset', Value: a.name },
          { Name: 'tier', Value: a.tier },
        ],
        a.rpoTargetSeconds,
      ]),
    );
    for (const [, alarm] of alarms) {
      expect(alarm.Properties).toMatchObject({
        Namespace: 'AiDataDr',
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'breaching',
        EvaluationPeriods: 3,
        Period: 60,
        AlarmActions: [{ Ref: 'OnCallTopic' }],
        OKActions: [{ Ref: 'OnCallTopic' }],
      });
    }
  });

  it('every function role may write traces (tracing is on for all functions)', () => {
    for (const role of [
      'ReplicateRole',
      'MeasureRpoRole',
      'StatusRole',
      'ReconcileRole',
      'SnapshotVectorsRole',
      'RestoreDataRole',
      'RestoreVectorsRole',
      'VerifyRestoreRole',
      'DrDrillRole',
      'ReportRole',
      'LineageRole',
      'ProbeServingRole',
    ]) {
      const statements = resource(role).Properties.Policies.flatMap(
        (p: { PolicyDocument: { Statement: any[] } }) => p.PolicyDocument.Statement,
      );
      expect(statements.some((s: { Action: string[] }) => [s.Action].flat().includes('xray:PutTraceSegments'))).toBe(true);
    }
  });

  it("every function writes only its own log group, with a role of the stack's, and pages on its errors", () => {
    const functions = byType('AWS::Lambda::Function');
    expect(functions.map(([id]) => id).sort()).toEqual(
      [
        'Backfill',
        'DrDrill',
        'Lineage',
        'MeasureRpo',
        'ProbeServing',
        'Reconcile',
        'Replicate',
        'Report',
        'RestoreData',
        'RestoreVectors',
        'SnapshotVectors',
        'Status',
        'VerifyRestore',
      ].map((f) => `${f}LambdaFunction`),
    );
    const logGroupsOf = (role: string) =>
      resource(role)
        .Properties.Policies.flatMap((p: { PolicyDocument: { Statement: any[] } }) => p.PolicyDocument.Statement)
        .filter((s: { Action: string[] }) => [s.Action].flat().some((a) => a.startsWith('logs:')))
        .flatMap((s: { Resource: unknown }) => [s.Resource].flat().map((r: any) => r['Fn::Sub']));
    const roles = byType('AWS::IAM::Role').map(([id]) => id);
    for (const [id, fn] of functions) {
      const name = fn.Properties.FunctionName.replace(/^ai-data-dr-test-/, '');
      const role = fn.Properties.Role['Fn::GetAtt'][0];
      expect(roles).toContain(role);
      const users = functions
        .filter(([, f]) => f.Properties.Role['Fn::GetAtt'][0] === role)
        .map(([, f]) => f.Properties.FunctionName.replace(/^ai-data-dr-test-/, ''));
      expect(logGroupsOf(role), id).toEqual(
        users.map((n) => `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/\${AWS::StackName}-${n}:*`),
      );
      expect(users).toContain(name);
      expect(resource(`${id.replace(/LambdaFunction$/, '')}ErrorsAlarm`).Properties.Dimensions).toEqual([
        { Name: 'FunctionName', Value: { Ref: id } },
      ]);
    }
    expect(resource('ReplicateLambdaFunction').Properties.FunctionName).toBe('ai-data-dr-test-replicate');
    expect(resource('BackfillLambdaFunction').Properties.FunctionName).toBe('ai-data-dr-test-backfill');
    // Every role but S3 Batch Operations' (batch restores) is a function's.
    expect(roles.sort()).toEqual([
      'BatchRestoreRole',
      'DrDrillRole',
      'LineageRole',
      'MeasureRpoRole',
      'ProbeServingRole',
      'ReconcileRole',
      'ReplicateRole',
      'ReportRole',
      'RestoreDataRole',
      'RestoreVectorsRole',
      'SnapshotVectorsRole',
      'StatusRole',
      'VerifyRestoreRole',
    ]);
  });

  it('runs one measure-rpo at a time, and encrypts the on-call topic with a key alarms and EventBridge may use', () => {
    expect(resource('MeasureRpoLambdaFunction').Properties.ReservedConcurrentExecutions).toBe(1);
    expect(resource('OnCallTopic').Properties.KmsMasterKeyId).toEqual({ Ref: 'OnCallTopicKey' });
    const grant = resource('OnCallTopicKey').Properties.KeyPolicy.Statement.find(
      (s: { Sid: string }) => s.Sid === 'AlarmsAndEventsPublish',
    );
    expect(grant).toMatchObject({
      Principal: { Service: ['cloudwatch.amazonaws.com', 'events.amazonaws.com'] },
      Action: ['kms:GenerateDataKey*', 'kms:Decrypt'],
    });
  });

  it('pages on dead letters, a stale queue and function errors; target events reach the on-call topic', () => {
    expect(resource('DeadLetterAlarm').Properties).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(resource('QueueAgeAlarm').Properties).toMatchObject({ MetricName: 'ApproximateAgeOfOldestMessage', Threshold: 900 });
    for (const fn of ['Replicate', 'MeasureRpo', 'Status']) {
      expect(resource(`${fn}ErrorsAlarm`).Properties).toMatchObject({
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: `${fn}LambdaFunction` } }],
      });
    }
    expect(resource('DrTargetEventsToOnCall').Properties).toMatchObject({
      EventBusName: { Ref: 'DrEventBus' },
      EventPattern: { source: ['ai-data-dr'], 'detail-type': ['DR Target Missed', 'DR Target Recovered'] },
      Targets: [{ Arn: { Ref: 'OnCallTopic' } }],
    });
    const publish = resource('MeasureRpoRole').Properties.Policies[0].PolicyDocument.Statement.find(
      (s: { Sid: string }) => s.Sid === 'PublishTargetEvents',
    );
    expect(publish).toMatchObject({ Action: 'events:PutEvents', Resource: { 'Fn::GetAtt': ['DrEventBus', 'Arn'] } });
  });
});

describe('reconcile in the packaged template', () => {
  it("lists only the policy's prefixes, queues to the replication queue, keeps its checkpoints apart", () => {
    expect(resource('ReconcileLambdaFunction').Properties).toMatchObject({
      Timeout: 900,
      Role: { 'Fn::GetAtt': ['ReconcileRole', 'Arn'] },
      Environment: { Variables: { REPLICATION_QUEUE_URL: { Ref: 'ReplicationQueue' } } },
    });
    const statements = resource('ReconcileRole').Properties.Policies.flatMap(
      (p: { PolicyDocument: { Statement: any[] } }) => p.PolicyDocument.Statement,
    );
    const s3 = statements.filter((s: { Action: string[] | string }) => [s.Action].flat().some((a) => a.startsWith('s3:')));
    expect(s3.flatMap((s: { Action: string[] }) => s.Action)).toEqual(Array(6).fill('s3:ListBucketVersions'));
    expect(s3.map((s: { Condition: any }) => s.Condition.StringLike['s3:prefix'][0])).toEqual([
      'training/*',
      'training/*',
      'evals/*',
      'evals/*',
      '*',
      'models/*',
    ]);
    expect(statements.find((s: { Sid: string }) => s.Sid === 'QueueGaps')).toMatchObject({ Action: 'sqs:SendMessage' });
    expect(statements.find((s: { Sid: string }) => s.Sid === 'Checkpoints').Condition).toEqual({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['RECONCILE#*'] },
    });
  });
});

describe('backfill in the packaged template', () => {
  it('runs the replicate logic for S3 Batch Operations with the replicate role', () => {
    expect(resource('BackfillLambdaFunction').Properties).toMatchObject({
      Handler: 'functions/backfill.handler',
      Role: { 'Fn::GetAtt': ['ReplicateRole', 'Arn'] },
      Timeout: 300,
    });
    expect(resource('BackfillErrorsAlarm').Properties.Dimensions).toEqual([
      { Name: 'FunctionName', Value: { Ref: 'BackfillLambdaFunction' } },
    ]);
  });
});

describe('snapshot-vectors in the packaged template', () => {
  it("runs on each vector asset's schedule with its name as input", () => {
    expect(resource('SnapshotVectorsLambdaFunction').Properties).toMatchObject({
      FunctionName: 'ai-data-dr-test-snapshot-vectors',
      Handler: 'functions/snapshot-vectors.handler',
      Role: { 'Fn::GetAtt': ['SnapshotVectorsRole', 'Arn'] },
      Timeout: 900,
      MemorySize: 1024,
      // The heap settings bench:vectors measures it with (docs/benchmarks.md).
      Environment: { Variables: { NODE_OPTIONS: '--enable-source-maps --max-semi-space-size=64' } },
    });
    const rules = byType('AWS::Events::Rule').filter(([, r]) =>
      JSON.stringify(r.Properties.Targets).includes('SnapshotVectorsLambdaFunction'),
    );
    expect(rules.map(([, r]) => [r.Properties.ScheduleExpression, JSON.parse(r.Properties.Targets[0].Input)])).toEqual([
      ['rate(1 hour)', { asset: 'product-search-index' }],
      ['rate(6 hours)', { asset: 'support-kb-index' }],
    ]);
  });

  it('may write and destroy only its snapshots, keeps its catalog apart, and continues only itself', () => {
    const statements: any[] = resource('SnapshotVectorsRole').Properties.Policies[0].PolicyDocument.Statement;
    const s3 = statements.filter((s) => s.Sid.endsWith('ProductSearchIndex') && [s.Action].flat().some((a: string) => a.startsWith('s3:')));
    expect(s3).toEqual([
      expect.objectContaining({
        Action: ['s3:ListBucketVersions'],
        Condition: { StringLike: { 's3:prefix': ['vectors/product-search/snapshots/*'] } },
      }),
      expect.objectContaining({
        Action: ['s3:ListBucket', 's3:GetBucketObjectLockConfiguration'],
        Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:s3:::acme-ml-dr-replica' },
      }),
      expect.objectContaining({
        Action: ['s3:PutObject', 's3:PutObjectRetention', 's3:GetObjectRetention', 's3:GetObject', 's3:DeleteObjectVersion'],
        Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:s3:::acme-ml-dr-replica/vectors/product-search/snapshots/*' },
      }),
    ]);
    // Partitioned snapshots: parts are items of their own, checkpointed in transactions that check the entry.
    expect(statements.find((s) => s.Sid === 'Catalog')).toMatchObject({
      Action: expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:ConditionCheckItem']),
      Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['SNAPSHOT#*', 'SNAPSHOT-PART#*'] } },
    });
    expect(statements.find((s) => s.Sid === 'ContinueItself').Resource['Fn::Sub']).toMatch(
      /function:\$\{AWS::StackName\}-snapshot-vectors$/,
    );
    expect(statements.find((s) => s.Sid === 'EngineCredentials').Resource).toEqual([
      'arn:aws:secretsmanager:us-east-1:123456789012:secret:dr/search-db-reader',
    ]);
    expect(resource('SnapshotVectorsErrorsAlarm').Properties.Dimensions).toEqual([
      { Name: 'FunctionName', Value: { Ref: 'SnapshotVectorsLambdaFunction' } },
    ]);
  });
});

describe('restores and restore tests in the packaged template', () => {
  const statementsOf = (role: string): any[] => resource(role).Properties.Policies[0].PolicyDocument.Statement;

  it('restore-data writes new versions into source and restore buckets, never deletes a version, writes the replica only under restore-jobs/', () => {
    const statements = statementsOf('RestoreDataRole');
    expect(statements.find((s) => s.Sid === 'BatchRestoreJobFiles')).toEqual({
      Sid: 'BatchRestoreJobFiles',
      Effect: 'Allow',
      Action: ['s3:PutObject', 's3:GetObject'],
      Resource: [{ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::acme-ml-dr-replica/restore-jobs/*' }],
    });
    expect(statements.find((s) => s.Sid === 'PassBatchRestoreRole')).toMatchObject({
      Resource: { 'Fn::GetAtt': ['BatchRestoreRole', 'Arn'] },
      Condition: { StringEquals: { 'iam:PassedToService': 'batchoperations.s3.amazonaws.com' } },
    });
    const write = statements.find((s) => s.Sid === 'WriteTargets');
    expect(write.Action).not.toContain('s3:DeleteObjectVersion');
    expect(write.Resource.map((r: any) => r['Fn::Sub'])).toEqual([
      'arn:${AWS::Partition}:s3:::acme-ml-prod-data/*',
      'arn:${AWS::Partition}:s3:::acme-ml-prod-models/*',
      'arn:${AWS::Partition}:s3:::acme-ml-restore/*',
      'arn:${AWS::Partition}:s3:::acme-ml-dr-workspace/*',
    ]);
    const allowedS3 = statements.filter((s) => s.Effect === 'Allow').flatMap((s) => [s.Resource].flat());
    expect(JSON.stringify(allowedS3)).not.toMatch(/acme-ml-dr-replica\/\*"|acme-ml-dr-replica"\}.*PutObject/);
    expect(statements.find((s) => s.Sid === 'NeverDestroy')).toMatchObject({
      Effect: 'Deny',
      Action: expect.arrayContaining(['s3:DeleteObjectVersion']),
    });
    expect(statements.find((s) => s.Sid === 'Plans').Condition).toEqual({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['RESTORE#*'] },
    });
  });

  it('S3 Batch Operations runs batch restores with a role of its own: it invokes restore-data and touches only restore-jobs/', () => {
    const role = resource('BatchRestoreRole').Properties;
    expect(role.AssumeRolePolicyDocument.Statement).toEqual([
      { Effect: 'Allow', Principal: { Service: 'batchoperations.s3.amazonaws.com' }, Action: 'sts:AssumeRole' },
    ]);
    const statements = role.Policies.flatMap((p: { PolicyDocument: { Statement: any[] } }) => p.PolicyDocument.Statement);
    expect(statements.map((s: { Sid: string }) => s.Sid)).toEqual(['InvokeRestoreData', 'JobFiles', 'NeverDestroy']);
    expect(statements[0].Resource['Fn::Sub']).toMatch(/:function:\$\{AWS::StackName\}-restore-data$/);
    expect(statements[1].Resource).toEqual([{ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::acme-ml-dr-replica/restore-jobs/*' }]);
    expect(resource('RestoreDataLambdaFunction').Properties.Environment.Variables.RESTORE_BATCH_ROLE).toEqual({ Ref: 'BatchRestoreRole' });
  });

  it('verify-restore deletes only its scratch copies and pages through the DR bus; each restore function continues only itself', () => {
    const statements = statementsOf('VerifyRestoreRole');
    const deleting = statements.filter((s) => s.Effect === 'Allow' && [s.Action].flat().includes('s3:DeleteObjectVersion'));
    expect(deleting.map((s) => s.Resource)).toEqual([{ 'Fn::Sub': '${RestoreTestScratchBucket.Arn}/*' }]);
    expect(statements.find((s) => s.Sid === 'NeverDestroy').Resource).toContainEqual({
      'Fn::Sub': 'arn:${AWS::Partition}:s3:::acme-ml-dr-replica/*',
    });
    expect(statements.find((s) => s.Sid === 'PublishTargetEvents').Resource).toEqual({ 'Fn::GetAtt': ['DrEventBus', 'Arn'] });
    expect(resource('VerifyRestoreLambdaFunction').Properties.Environment.Variables.DR_EVENT_BUS).toEqual({ Ref: 'DrEventBus' });
    for (const [role, fn] of [
      ['RestoreDataRole', 'restore-data'],
      ['RestoreVectorsRole', 'restore-vectors'],
    ] as const) {
      expect(statementsOf(role).find((s) => s.Sid === 'ContinueItself').Resource['Fn::Sub']).toMatch(
        new RegExp(`function:\\$\\{AWS::StackName\\}-${fn}$`),
      );
    }
    // A vector restore in parts lists its parts and saves each in a transaction that checks the plan; it reads
    // partitioned snapshots' parts from the catalog.
    const vectorRestore = statementsOf('RestoreVectorsRole');
    expect(vectorRestore.find((s) => s.Sid === 'Plans').Action).toEqual(
      expect.arrayContaining(['dynamodb:Query', 'dynamodb:ConditionCheckItem']),
    );
    expect(vectorRestore.find((s) => s.Sid === 'VectorsCatalog').Condition).toEqual({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['SNAPSHOT#*', 'SNAPSHOT-PART#*'] },
    });
    // It marks a snapshot whose files do not restore corrupt.
    expect(vectorRestore.find((s) => s.Sid === 'VectorsCatalog').Action).toEqual([
      'dynamodb:Query',
      'dynamodb:GetItem',
      'dynamodb:UpdateItem',
    ]);
    // A vector restore test in parts (product-search-index, restoreParts 8) plans and starts its restore,
    // sends the parts to restore-vectors and continues itself; it invokes nothing else.
    const invokes = statements.filter((s) => [s.Action].flat().includes('lambda:InvokeFunction')).map((s) => s.Resource['Fn::Sub']);
    expect(invokes).toEqual([
      'arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-verify-restore',
      'arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-restore-vectors',
    ]);
    expect(statements.find((s) => s.Sid === 'RestorePlans')).toMatchObject({
      Action: ['dynamodb:PutItem', 'dynamodb:UpdateItem'],
      Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['RESTORE#*'] } },
    });
    expect(resource('VerifyRestoreLambdaFunction').Properties.Environment.Variables.DR_RESTORE_VECTORS_FUNCTION).toBe(
      'ai-data-dr-test-restore-vectors',
    );
    for (const fn of ['RestoreData', 'RestoreVectors', 'VerifyRestore']) {
      expect(resource(`${fn}LambdaFunction`).Properties).toMatchObject({ Timeout: 900, Role: { 'Fn::GetAtt': [`${fn}Role`, 'Arn'] } });
      expect(resource(`${fn}ErrorsAlarm`).Properties.AlarmActions).toEqual([{ Ref: 'OnCallTopic' }]);
    }
  });

  it("dr-drill runs each drill on its schedule, deletes only under its workspaces' prefix, never in a source or the replica", () => {
    const schedules = byType('AWS::Events::Rule')
      .filter(([, r]) => r.Properties.Targets?.some((t: any) => t.Arn?.['Fn::GetAtt']?.[0] === 'DrDrillLambdaFunction'))
      .map(([, r]) => [r.Properties.ScheduleExpression, JSON.parse(r.Properties.Targets[0].Input)]);
    expect(schedules).toEqual([
      ['cron(0 6 1 1,4,7,10 ? *)', { drill: 'quarterly-region-outage' }],
      ['cron(0 6 15 11 ? *)', { drill: 'annual-model-regression' }],
      ['rate(15 minutes)', { resume: true }],
    ]);
    const statements = statementsOf('DrDrillRole');
    const deleting = statements.filter((s) => s.Effect === 'Allow' && [s.Action].flat().includes('s3:DeleteObjectVersion'));
    expect(deleting.flatMap((s) => s.Resource.map((r: any) => r['Fn::Sub']))).toEqual([
      'arn:${AWS::Partition}:s3:::acme-ml-dr-workspace/_dr-drills/*',
      'arn:${AWS::Partition}:s3:::acme-ml-restore/_dr-drills/*',
    ]);
    expect(statements.find((s) => s.Sid === 'WorkspaceBuckets').Action).toContain('s3:ListBucketMultipartUploads');
    expect(statements.find((s) => s.Sid === 'ReadLedger').Resource).toEqual([
      { 'Fn::GetAtt': ['LedgerTable', 'Arn'] },
      { 'Fn::Sub': '${LedgerTable.Arn}/index/*' },
    ]);
    const denied = statements.find((s) => s.Sid === 'NeverDestroy');
    expect(denied.Effect).toBe('Deny');
    expect(denied.Action).toContain('s3:DeleteObjectVersion');
    const deniedBuckets = denied.Resource.map((r: any) => r['Fn::Sub']);
    for (const bucket of ['acme-ml-prod-data', 'acme-ml-dr-replica'])
      expect(deniedBuckets).toContain(`arn:\${AWS::Partition}:s3:::${bucket}`);
    expect(statements.find((s) => s.Sid === 'ContinueItself').Resource['Fn::Sub']).toMatch(/function:\$\{AWS::StackName\}-dr-drill$/);
    expect(statements.find((s) => s.Sid === 'PublishTargetEvents').Resource).toEqual({ 'Fn::GetAtt': ['DrEventBus', 'Arn'] });
    expect(resource('DrDrillLambdaFunction').Properties).toMatchObject({
      Timeout: 900,
      Role: { 'Fn::GetAtt': ['DrDrillRole', 'Arn'] },
      Environment: {
        Variables: {
          DR_EVENT_BUS: { Ref: 'DrEventBus' },
          DR_REPORT_FUNCTION: 'ai-data-dr-test-report',
          DR_RESTORE_VECTORS_FUNCTION: 'ai-data-dr-test-restore-vectors',
        },
      },
    });
    // After a drill, it may invoke the report, itself, and restore-vectors for the parts of a
    // restore in parts (product-search-index, restoreParts 8, is in the outage drill), nothing else.
    const invokes = statements.filter((s) => [s.Action].flat().includes('lambda:InvokeFunction')).map((s) => s.Resource['Fn::Sub']);
    expect(invokes).toEqual([
      'arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-dr-drill',
      'arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-report',
      'arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-restore-vectors',
    ]);
    expect(resource('DrDrillErrorsAlarm').Properties.AlarmActions).toEqual([{ Ref: 'OnCallTopic' }]);
  });
});

/** Every statement of a role's inline policies. */
const statementsOf = (role: string): any[] => resource(role).Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement);

describe('probe-serving in the packaged template', () => {
  it('keeps only its failover and alert state, writes only the switch parameters, and has no schedule without model services', () => {
    expect(resource('ProbeServingLambdaFunction').Properties).toMatchObject({
      FunctionName: 'ai-data-dr-test-probe-serving',
      Handler: 'functions/probe-serving.handler',
      Role: { 'Fn::GetAtt': ['ProbeServingRole', 'Arn'] },
      Environment: { Variables: { DR_EVENT_BUS: { Ref: 'DrEventBus' } } },
    });
    const statements = statementsOf('ProbeServingRole').filter((s) => !['Logs', 'Tracing'].includes(s.Sid));
    expect(statements.map((s) => s.Sid)).toEqual(['ReadLedgerAndAlertState', 'ServingState', 'PublishTargetEvents', 'SwitchParameters']);
    expect(statements.find((s) => s.Sid === 'SwitchParameters')).toMatchObject({
      Action: ['ssm:GetParameter', 'ssm:PutParameter'],
      Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/ai-data-dr/serving/*' },
    });
    // dr-policy.yml has no serving section: nothing schedules the function.
    const targets = byType('AWS::Events::Rule').flatMap(([, r]) => r.Properties.Targets ?? []);
    expect(targets.filter((target: { Arn: unknown }) => JSON.stringify(target.Arn).includes('ProbeServing'))).toEqual([]);
  });

  it('with model services, reads only their key, looks up only their Bedrock models and describes only their SageMaker endpoints', () => {
    const role = kmsTemplate.Resources.ProbeServingRole!.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement) as any[];
    const sid = (name: string) => role.find((s) => s.Sid === name);
    expect(sid('EndpointKeys').Resource).toEqual(['arn:aws:secretsmanager:us-west-2:111122223333:secret:anthropic-AbCdEf']);
    expect(sid('LookUpBedrockModels')).toMatchObject({
      Action: ['bedrock:GetFoundationModel', 'bedrock:GetInferenceProfile'],
      Resource: [
        {
          'Fn::Sub':
            'arn:${AWS::Partition}:bedrock:us-west-2:${AWS::AccountId}:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0',
        },
        { 'Fn::Sub': 'arn:${AWS::Partition}:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0' },
      ],
    });
    expect(sid('BedrockModelAccess')).toMatchObject({ Action: 'bedrock:GetFoundationModelAvailability', Resource: '*' });
    expect(sid('DescribeServedModels')).toMatchObject({
      Action: ['sagemaker:DescribeEndpointConfig', 'sagemaker:DescribeModel'],
      Resource: [
        { 'Fn::Sub': 'arn:${AWS::Partition}:sagemaker:us-west-2:${AWS::AccountId}:endpoint-config/*' },
        { 'Fn::Sub': 'arn:${AWS::Partition}:sagemaker:us-west-2:${AWS::AccountId}:model/*' },
      ],
    });
    expect(sid('DescribeEndpoints').Resource).toEqual([
      { 'Fn::Sub': 'arn:${AWS::Partition}:sagemaker:us-east-1:${AWS::AccountId}:endpoint/ranker-prod' },
      { 'Fn::Sub': 'arn:${AWS::Partition}:sagemaker:us-west-2:${AWS::AccountId}:endpoint/ranker-dr' },
    ]);
    expect(
      role.flatMap((s) => [s.Action].flat()).filter((a: string) => /^(bedrock|sagemaker):(Invoke|Create|Update|Delete)/.test(a)),
    ).toEqual([]);
    const rules = Object.values(kmsTemplate.Resources).filter((r) => r.Type === 'AWS::Events::Rule');
    expect(
      rules.filter((r) => JSON.stringify(r.Properties.Targets).includes('ProbeServing')).map((r) => r.Properties.ScheduleExpression),
    ).toEqual(['rate(1 minute)']);
  });
});

describe('lineage in the packaged template', () => {
  it('writes dataset versions only under the lineage prefix of the replica, keeps only its catalog, destroys nothing, continues only itself', () => {
    expect(resource('LineageLambdaFunction').Properties).toMatchObject({
      FunctionName: 'ai-data-dr-test-lineage',
      Handler: 'functions/lineage.handler',
      Role: { 'Fn::GetAtt': ['LineageRole', 'Arn'] },
      Timeout: 900,
    });
    const statements: any[] = resource('LineageRole').Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement);
    const writes = statements.filter(
      (st) => st.Effect === 'Allow' && [st.Action].flat().some((a: string) => /^(s3:(Put|Delete)|dynamodb:(Put|Update|Delete))/.test(a)),
    );
    expect(writes).toEqual([
      expect.objectContaining({
        Sid: 'LineageCatalog',
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['DATASET#*', 'MODEL#*', 'DATASETUSE#*', 'HOLD#*'] } },
      }),
      expect.objectContaining({
        Sid: 'RetireModels',
        Action: ['dynamodb:UpdateItem'],
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['MODEL#*', 'DATASETUSE#*'] } },
      }),
      expect.objectContaining({ Sid: 'Plans', Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['RESTORE#*'] } } }),
      // Legal holds (docs/lineage.md#legal-holds): on the replica versions of the object assets and the dataset versions' files.
      {
        Sid: 'HoldWhatModelsUse',
        Effect: 'Allow',
        Action: ['s3:PutObjectLegalHold'],
        Resource: [
          ...['training/', 'evals/', 'models/'].map((prefix) => ({
            'Fn::Sub': `arn:\${AWS::Partition}:s3:::acme-ml-dr-replica/${prefix}*`,
          })),
          { 'Fn::Sub': 'arn:${AWS::Partition}:s3:::acme-ml-dr-replica/_dr-lineage/*' },
        ],
      },
      {
        Sid: 'WriteDatasetVersions',
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:GetObjectVersion'],
        Resource: [{ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::acme-ml-dr-replica/_dr-lineage/*' }],
      },
    ]);
    // It reads the ledger's indexes too (versions still pending, by the unreplicated index).
    expect(statements.find((st) => st.Sid === 'ReadLedger')!.Resource).toEqual([
      { 'Fn::GetAtt': ['LedgerTable', 'Arn'] },
      { 'Fn::Sub': '${LedgerTable.Arn}/index/*' },
    ]);
    expect(statements.find((st) => st.Sid === 'NeverDestroy')).toMatchObject({
      Effect: 'Deny',
      Action: expect.arrayContaining(['s3:DeleteObjectVersion']),
    });
    expect(statements.find((st) => st.Sid === 'NeverDestroy').Action).not.toContain('s3:PutObjectLegalHold');
    expect(statements.find((st) => st.Sid === 'ContinueItself')!.Resource).toEqual({
      'Fn::Sub': 'arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-lineage',
    });
    // No other role may place or remove a legal hold: each denies it on the buckets it touches.
    for (const [id, role] of Object.entries(template.Resources).filter(
      ([id, r]: [string, any]) => r.Type === 'AWS::IAM::Role' && id !== 'LineageRole',
    )) {
      const all: any[] = (role as any).Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement);
      expect(
        all.some((st) => st.Effect === 'Allow' && [st.Action].flat().includes('s3:PutObjectLegalHold')),
        id,
      ).toBe(false);
      for (const deny of all.filter((st) => st.Sid === 'NeverDestroy' || st.Sid === 'NeverWeaken'))
        expect(deny.Action, id).toContain('s3:PutObjectLegalHold');
    }
    // restore-data reads dataset versions (restore by model) and nothing else under the lineage prefix.
    const restoreStatements: any[] = resource('RestoreDataRole').Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement);
    expect(restoreStatements.find((st) => st.Sid === 'ReadDatasetVersions')).toEqual({
      Sid: 'ReadDatasetVersions',
      Effect: 'Allow',
      Action: ['s3:GetObjectVersion'],
      Resource: [{ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::acme-ml-dr-replica/_dr-lineage/*' }],
    });
    expect(resource('LineageErrorsAlarm').Properties.AlarmActions).toEqual([{ Ref: 'OnCallTopic' }]);
  });
});

describe('the DR report in the packaged template', () => {
  it('runs daily with its own role, reads metrics and the ledger, and writes only under its prefix', () => {
    expect(resource('ReportLambdaFunction').Properties).toMatchObject({
      FunctionName: 'ai-data-dr-test-report',
      Handler: 'functions/report.handler',
      Role: { 'Fn::GetAtt': ['ReportRole', 'Arn'] },
      Timeout: 300,
    });
    const statements = statementsOf('ReportRole').filter((s) => !['Logs', 'Tracing'].includes(s.Sid));
    expect(statements).toEqual([
      { Sid: 'RpoHistory', Effect: 'Allow', Action: 'cloudwatch:GetMetricData', Resource: '*' },
      {
        Sid: 'ReadLedger',
        Effect: 'Allow',
        Action: ['dynamodb:Query', 'dynamodb:GetItem'],
        Resource: [{ 'Fn::GetAtt': ['LedgerTable', 'Arn'] }, { 'Fn::Sub': '${LedgerTable.Arn}/index/*' }],
      },
      {
        Sid: 'WriteReport',
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:s3:::acme-ml-dr-replica/_dr-report/*' },
      },
      {
        Sid: 'ReadObjectLock',
        Effect: 'Allow',
        Action: 's3:GetBucketObjectLockConfiguration',
        Resource: [{ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::acme-ml-dr-replica' }],
      },
      expect.objectContaining({ Sid: 'NeverWeaken', Effect: 'Deny' }),
    ]);
    expect(resource('ReportErrorsAlarm').Properties.AlarmActions).toEqual([{ Ref: 'OnCallTopic' }]);
  });

  it('measure-rpo and verify-restore keep the incident log the report reads', () => {
    const leading = (role: string, sid: string) =>
      statementsOf(role).find((s) => s.Sid === sid).Condition['ForAllValues:StringLike']['dynamodb:LeadingKeys'];
    expect(leading('MeasureRpoRole', 'WriteAlertState')).toContain('INCIDENT#*');
    expect(leading('VerifyRestoreRole', 'TestState')).toContain('INCIDENT#*');
  });

  it('verify-restore notes and removes the restore test in parts under way, and nothing else with those actions', () => {
    const statement = statementsOf('VerifyRestoreRole').find((s) => s.Sid === 'TestsUnderWay');
    expect(statement.Action).toEqual(['dynamodb:PutItem', 'dynamodb:DeleteItem']);
    expect(statement.Condition['ForAllValues:StringLike']['dynamodb:LeadingKeys']).toEqual(['RESTORETESTRUN#*']);
  });
});

describe('the customer-managed key option (deployment.kmsKey: stack)', () => {
  const kmsResource = (id: string) => {
    const found = kmsTemplate.Resources[id];
    if (!found) throw new Error(`no resource ${id} in the template packaged with kmsKey: stack`);
    return found;
  };
  const kmsOfType = (type: string) => Object.entries(kmsTemplate.Resources).filter(([, r]) => r.Type === type);
  const theKey = { 'Fn::GetAtt': ['DataKey', 'Arn'] };

  it('encrypts the replica and scratch buckets, the ledger, both queues, every log group and every function’s environment with the stack’s key', () => {
    const buckets = Object.fromEntries(
      kmsOfType('AWS::S3::Bucket').map(([id, r]) => [
        id,
        r.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault,
      ]),
    );
    expect(buckets).toEqual({
      // osls's own deployment bucket and the access-log bucket (S3 delivers access logs only into SSE-S3) keep SSE-S3.
      ServerlessDeploymentBucket: { SSEAlgorithm: 'AES256' },
      ReplicaAccessLogsBucket: { SSEAlgorithm: 'AES256' },
      RestoreTestScratchBucket: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: theKey },
      ReplicaBucketAcmeMlDrReplica: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: theKey },
    });
    expect(
      kmsResource('ReplicaBucketAcmeMlDrReplica').Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].BucketKeyEnabled,
    ).toBe(true);
    expect(kmsResource('LedgerTable').Properties.SSESpecification).toEqual({ SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: theKey });
    for (const queue of ['ReplicationQueue', 'ReplicationDeadLetterQueue']) {
      expect(kmsResource(queue).Properties).toMatchObject({ SqsManagedSseEnabled: false, KmsMasterKeyId: theKey });
    }
    const logGroups = kmsOfType('AWS::Logs::LogGroup');
    const functions = kmsOfType('AWS::Lambda::Function');
    expect(logGroups.length).toBe(functions.length);
    for (const [id, group] of logGroups) expect(group.Properties.KmsKeyId, id).toEqual(theKey);
    for (const [id, fn] of functions) expect(fn.Properties.KmsKeyArn, id).toEqual(theKey);
    // Without the option nothing names a key of the stack's.
    expect(JSON.stringify(template)).not.toMatch(/"DataKey|KmsKeyArn|KmsKeyId|aws:kms/);
  });

  it('keeps the key, rotates it, waits 30 days before a deletion, and lets the account administer it but only the stack’s roles use it, through its services', () => {
    const key = kmsResource('DataKey');
    expect(key).toMatchObject({ DeletionPolicy: 'Retain', Properties: { EnableKeyRotation: true, PendingWindowInDays: 30 } });
    const statements = key.Properties.KeyPolicy.Statement as { Sid: string; Principal: any; Action: string[] | string; Condition?: any }[];
    // The key policy names no role or function of the stack: that would be a dependency cycle (roles name the key).
    const policyText = JSON.stringify(key.Properties.KeyPolicy);
    const references = [
      ...[...policyText.matchAll(/"Ref":"([^"]+)"/g)].map((m) => m[1]),
      ...[...policyText.matchAll(/"Fn::GetAtt":\["([^"]+)"/g)].map((m) => m[1]),
      ...[...policyText.matchAll(/\$\{([^}]+)\}/g)].map((m) => m[1]),
    ];
    expect(references.filter((r) => !r!.startsWith('AWS::'))).toEqual([]);
    const actions = (s: { Action: string[] | string }) => [s.Action].flat();
    // What lets a principal use the key, or let another use it (a grant); an action pattern with * counts if it matches one.
    const useActions = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:ReEncryptFrom', 'kms:CreateGrant'];
    const matches = (pattern: string, action: string) => new RegExp(`^${pattern.replace(/\*/g, '.*')}$`).test(action);
    const uses = (s: { Action: string[] | string }) => actions(s).some((a) => useActions.some((u) => matches(a, u)));
    const admin = statements.find((s) => s.Sid === 'AccountAdministersNotUses')!;
    expect(uses(admin)).toBe(false);
    expect(admin.Condition).toBeUndefined();
    // Every statement that lets a principal of the account use the key says through which service; the stack's own roles, by ARN.
    for (const s of statements.filter((st) => st.Principal.AWS && uses(st))) {
      expect(s.Condition.StringEquals['kms:ViaService'], s.Sid).toBeDefined();
    }
    const roles = statements.find((s) => s.Sid === 'StackRolesUseThroughItsServices')!;
    expect(roles.Condition.ArnLike['aws:PrincipalArn']).toEqual({
      'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${AWS::StackName}-*',
    });
    const deploy = statements.find((s) => s.Sid === 'DeployFunctionsAndLedger')!;
    expect(deploy.Condition.StringEquals['kms:ViaService'].map((v: { 'Fn::Sub': string }) => v['Fn::Sub'])).toEqual([
      'lambda.${AWS::Region}.amazonaws.com',
      'dynamodb.${AWS::Region}.amazonaws.com',
    ]);
    const services = statements.filter((s) => s.Principal.Service).map((s) => s.Principal.Service);
    expect(services).toEqual(['events.amazonaws.com', { 'Fn::Sub': 'logs.${AWS::Region}.amazonaws.com' }]);
    expect(kmsResource('DataKeyAlias').Properties).toEqual({
      AliasName: { 'Fn::Sub': 'alias/${AWS::StackName}-data' },
      TargetKeyId: { Ref: 'DataKey' },
    });
  });

  it('every role may use the key only through S3, DynamoDB, SQS and Lambda', () => {
    for (const [id, role] of kmsOfType('AWS::IAM::Role')) {
      const dataKey = (role.Properties.Policies as { PolicyName: string; PolicyDocument: { Statement: any[] } }[]).find(
        (p) => p.PolicyName === 'data-key',
      );
      expect(dataKey, id).toBeDefined();
      for (const statement of dataKey!.PolicyDocument.Statement) {
        expect(statement.Resource, id).toEqual(theKey);
        expect(statement.Condition.StringEquals['kms:ViaService'], id).toBeDefined();
      }
    }
  });

  it('pages on-call when the key is disabled, scheduled for deletion or its policy changed', () => {
    const rule = kmsResource('DataKeyChangesToOnCall').Properties;
    expect(rule.EventPattern).toEqual({
      source: ['aws.kms'],
      'detail-type': ['AWS API Call via CloudTrail'],
      detail: {
        eventSource: ['kms.amazonaws.com'],
        eventName: ['DisableKey', 'ScheduleKeyDeletion', 'PutKeyPolicy'],
        resources: { ARN: [theKey] },
      },
    });
    expect(rule.Targets[0]).toMatchObject({ Arn: { Ref: 'OnCallTopic' } });
    expect(rule.Targets[0].InputTransformer.InputTemplate).toMatch(/cancel-key-deletion/);
  });
});

describe('packaging validates the policy', () => {
  const badPolicy = () => {
    const file = join(mkdtempSync(join(tmpdir(), 'dr-bad-')), 'bad.yml');
    writeFileSync(file, readFileSync(join(projectRoot, 'dr-policy.yml'), 'utf8').replace('tier: critical', 'tier: gold'));
    return file;
  };

  it('npm run package stops with one line naming the bad field', () => {
    const run = spawnSync('npm', ['run', '--silent', 'package'], {
      cwd: projectRoot,
      encoding: 'utf8',
      env: { ...process.env, DR_POLICY_FILE: badPolicy() },
    });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(
      /invalid DR policy .*bad\.yml: assets\[1\]\.tier: Invalid option: expected one of "critical"\|"high"\|"standard"/,
    );
  });

  it('osls itself refuses the same policy (for `osls deploy` run directly)', () => {
    const run = osls(['package', '--package', mkdtempSync(join(tmpdir(), 'dr-package-bad-'))], { DR_POLICY_FILE: badPolicy() });
    expect(run.status).not.toBe(0);
    expect(run.stdout + run.stderr).toMatch(/assets\[1\]\.tier/);
  });
});
