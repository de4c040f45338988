import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assetForKey, replicaKeyFor, replicatedAssets } from '../../functions/policy/assets.js';
import { loadPolicyFile, parsePolicy, PolicyError } from '../../functions/policy/load.js';
import { drillAssets, isAssetDrill, partitionedScanEngines, type VectorAsset } from '../../functions/policy/schema.js';
import { engines } from '../../functions/vectors/vector-store.js';

/** An endpoint of each engine's shape (nothing is contacted: adapters connect on first use). */
const endpointFor: Record<string, string | undefined> = {
  pgvector: 'postgresql://u@127.0.0.1:1/db',
  qdrant: 'http://127.0.0.1:1',
  chroma: 'http://127.0.0.1:1',
  weaviate: 'http://127.0.0.1:1',
  lancedb: '/tmp/no-such-lancedb',
  pinecone: 'http://127.0.0.1:1',
  s3vectors: undefined,
};
import { bucketDefaultLock, lockOf } from '../../functions/policy/object-lock.js';
import { replicaBucketResources } from '../../infra/buckets.js';
import { probeServingEvents } from '../../infra/events.js';
import { functionRoles, probeServingStatements } from '../../infra/roles.js';

const example = readFileSync('dr-policy.yml', 'utf8');
const withAsset = (patch: (asset: Record<string, unknown>) => void, index = 1) => {
  const policy = structuredClone(parsePolicy(example)) as unknown as { assets: Record<string, unknown>[] };
  patch(policy.assets[index]!);
  return JSON.stringify(policy);
};
const problemsOf = (text: string) => {
  try {
    parsePolicy(text);
  } catch (error) {
    if (error instanceof PolicyError) return error.problems;
    throw error;
  }
  throw new Error('policy was accepted');
};

describe('the DR policy', () => {
  it('accepts the shipped example and applies defaults', () => {
    const policy = loadPolicyFile('dr-policy.yml');
    expect(policy.assets.map((a) => a.kind)).toEqual(['training-data', 'eval-set', 'model-artifacts', 'vector-index', 'vector-index']);
    expect(policy.replication).toEqual({
      maxReceiveCount: 5,
      batchSize: 10,
      timeoutSeconds: 300,
      multipartThresholdBytes: 512 * 1024 ** 2,
      multipartPartSizeBytes: 128 * 1024 ** 2,
      partConcurrency: 8,
      reconcileSchedule: 'rate(6 hours)',
    });
    expect(policy.monitoring).toEqual({
      schedule: 'rate(1 minute)',
      alarmEvaluationPeriods: 3,
      recoverySeconds: 300,
      lagWindowSeconds: 3600,
    });
    expect(replicatedAssets(policy).map((a) => a.name)).toEqual(['training-data', 'eval-sets', 'model-artifacts']);
    expect(replicatedAssets(policy)[0]?.replica.storageClass).toBe('STANDARD');
  });

  it('names the bad field by its path', () => {
    const text = withAsset((a) => (a.rpoTargetSeconds = -5), 2);
    expect(problemsOf(text)).toEqual(['assets[2].rpoTargetSeconds: Too small: expected number to be >0']);
    expect(() => parsePolicy(text, 'prod.yml')).toThrow(/^invalid DR policy prod\.yml: assets\[2\]\.rpoTargetSeconds/);
  });

  it("quotes at most 100 characters of an unknown field's name, and at most five of them", () => {
    const long = 'x'.repeat(1024 * 1024);
    expect(problemsOf(withAsset((a) => (a[long] = 1)))).toEqual([`assets[1]: unknown field "${'x'.repeat(100)}"… (1048576 characters)`]);
    expect(problemsOf(withAsset((a) => Object.assign(a, Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`f${i}`, 1])))))).toEqual([
      'assets[1]: unknown fields "f0", "f1", "f2", "f3", "f4" and 2 more',
    ]);
  });

  it('names unknown fields, bad kinds and missing fields', () => {
    expect(problemsOf(withAsset((a) => (a.rpoTarget = 60)))).toEqual(['assets[1]: unknown field "rpoTarget"']);
    expect(problemsOf(withAsset((a) => (a.kind = 'dataset')))[0]).toMatch(/^assets\[1\]\.kind: /);
    expect(problemsOf(withAsset((a) => delete a.tier))[0]).toMatch(/^assets\[1\]\.tier: /);
    expect(problemsOf(withAsset((a) => ((a.source as Record<string, unknown>).prefix = 'evals')))).toEqual([
      'assets[1].source.prefix: must be empty or end with "/"',
    ]);
  });

  it('refuses duplicate names, overlapping prefixes, a replica in the source bucket or outside the stack region', () => {
    expect(problemsOf(withAsset((a) => (a.name = 'training-data')))).toContain(
      'assets[1].name: duplicate asset name "training-data" (also assets[0].name)',
    );
    expect(problemsOf(withAsset((a) => ((a.source as Record<string, unknown>).prefix = 'training/evals/')))).toContain(
      'assets[1].source.prefix: overlaps assets[0] (training-data) in bucket acme-ml-prod-data: a key must belong to one asset',
    );
    expect(problemsOf(withAsset((a) => ((a.replica as Record<string, unknown>).bucket = 'acme-ml-prod-data')))).toEqual([
      'assets[1].replica.bucket: must differ from source.bucket: a replica in the source bucket is no DR copy',
    ]);
    expect(problemsOf(withAsset((a) => ((a.replica as Record<string, unknown>).region = 'eu-west-1')))).toEqual([
      'assets[1].replica.region: must equal deployment.region (us-west-2): the stack creates the replica bucket in its own region',
    ]);
  });

  it('refuses two assets writing under overlapping replica prefixes of one bucket', () => {
    const text = withAsset((a) => ((a.replica as Record<string, unknown>).prefix = 'training/evals/'));
    expect(problemsOf(text)).toEqual([
      'assets[1].replica.prefix: replica prefix "training/evals/" overlaps assets[0] (training-data, "training/") in replica bucket acme-ml-dr-replica: set distinct replica.prefix values',
    ]);
  });

  it('refuses replica bucket names that differ only in dots and hyphens (one CloudFormation id)', () => {
    const policy = structuredClone(parsePolicy(example)) as unknown as { assets: { replica: Record<string, unknown> }[] };
    policy.assets[1]!.replica.bucket = 'acme.ml.dr.replica';
    expect(problemsOf(JSON.stringify(policy))).toContain(
      'assets[1].replica.bucket: "acme.ml.dr.replica" and "acme-ml-dr-replica" differ only in dots and hyphens; use one replica bucket or names that differ otherwise',
    );
  });

  it('reports YAML errors and unreadable files as policy errors', () => {
    expect(() => parsePolicy('assets: [\n')).toThrow(/not valid YAML/);
    expect(() => parsePolicy('version: 1\nversion: 1\n')).toThrow(/not valid YAML/);
    expect(() => loadPolicyFile('no-such-policy.yml')).toThrow(/invalid DR policy no-such-policy\.yml: cannot read the file/);
  });

  it('maps keys to their asset and replica key', () => {
    const policy = loadPolicyFile('dr-policy.yml');
    const evals = assetForKey(policy, 'acme-ml-prod-data', 'evals/golden.jsonl');
    expect(evals?.name).toBe('eval-sets');
    expect(replicaKeyFor({ ...evals!, replica: { ...evals!.replica, prefix: undefined } }, 'evals/a.jsonl')).toBe('evals/a.jsonl');
    expect(assetForKey(policy, 'acme-ml-prod-data', 'scratch/x')).toBeUndefined();
    expect(assetForKey(policy, 'other-bucket', 'evals/x')).toBeUndefined();
    expect(replicaKeyFor({ ...evals!, replica: { ...evals!.replica, prefix: 'dr/evals/' } }, 'evals/a b.jsonl')).toBe('dr/evals/a b.jsonl');
  });

  describe('report', () => {
    const withReport = (report: Record<string, unknown>) => JSON.stringify({ ...parsePolicy(example), report });

    it('writes beside the replicas: a replica bucket of the policy, a prefix apart from every asset’s replica', () => {
      expect(parsePolicy(example).report).toMatchObject({ prefix: '_dr-report/' });
      expect(problemsOf(withReport({ bucket: 'acme-ml-restore' }))).toEqual([
        'report.bucket: "acme-ml-restore" is not a replica bucket of the policy: the report is written into one the stack owns',
      ]);
      expect(problemsOf(withReport({ prefix: 'training/reports/' }))).toEqual([
        'report.prefix: "training/reports/" overlaps the replica prefix of asset training-data in acme-ml-dr-replica: choose another prefix',
      ]);
      // A vector asset's replica is its snapshots.
      expect(problemsOf(withReport({ prefix: 'vectors/product-search/snapshots/' }))).toEqual([
        'report.prefix: "vectors/product-search/snapshots/" overlaps the replica prefix of asset product-search-index in acme-ml-dr-replica: choose another prefix',
      ]);
      expect(() => parsePolicy(withReport({ prefix: 'vectors/product-search/report/' }))).not.toThrow();
      // The public status page names only assets of the policy.
      expect(problemsOf(withReport({ publicStatus: { title: 'Status', assets: { 'no-such-asset': 'Search' } } }))).toEqual([
        'report.publicStatus.assets.no-such-asset: "no-such-asset" is not an asset of the policy',
      ]);
    });
  });

  describe('drills', () => {
    type Drill = Record<string, unknown> & { workspace: Record<string, unknown>; scope: Record<string, unknown> };
    const withDrill = (patch: (drill: Drill) => void, index = 0) => {
      const policy = structuredClone(parsePolicy(example)) as unknown as { drills: Drill[] };
      patch(policy.drills[index]!);
      return JSON.stringify(policy);
    };

    it('accepts the shipped quarterly and annual drills, with their defaults, and resolves their scope', () => {
      const policy = loadPolicyFile('dr-policy.yml');
      expect(policy.drills.map((d) => [d.name, d.scenario, d.schedule])).toEqual([
        ['quarterly-region-outage', 'region-outage', 'cron(0 6 1 1,4,7,10 ? *)'],
        ['annual-model-regression', 'model-regression', 'cron(0 6 15 11 ? *)'],
      ]);
      expect(policy.drills.filter(isAssetDrill)[0]!.workspace).toEqual({
        bucket: 'acme-ml-dr-workspace',
        prefix: '_dr-drills/',
        vectorTarget: 'support-kb-index',
      });
      expect(drillAssets(policy, policy.drills[0]!).map((a) => a.name)).toEqual([
        'training-data',
        'eval-sets',
        'model-artifacts',
        'product-search-index',
      ]);
      expect(drillAssets(policy, policy.drills[1]!).map((a) => a.name)).toEqual(['model-artifacts']);
      const { drills: _none, ...withoutDrills } = parsePolicy(example);
      expect(parsePolicy(JSON.stringify(withoutDrills)).drills).toEqual([]);
    });

    it('refuses a workspace that is a source or replica bucket, outside restore.targetBuckets, or outside the DR region for a region outage', () => {
      expect(problemsOf(withDrill((d) => (d.workspace.bucket = 'acme-ml-prod-data')))).toEqual([
        'drills[0].workspace.bucket: "acme-ml-prod-data" is the source bucket of asset training-data: a drill never writes into a source bucket',
      ]);
      expect(problemsOf(withDrill((d) => (d.workspace.bucket = 'acme-ml-dr-replica')))).toEqual([
        'drills[0].workspace.bucket: "acme-ml-dr-replica" is the replica bucket of asset training-data: a drill never writes into the replica',
      ]);
      expect(problemsOf(withDrill((d) => (d.workspace.bucket = 'someone-elses-bucket')))).toEqual([
        'drills[0].workspace.bucket: "someone-elses-bucket" is not one of restore.targetBuckets: a drill writes only into a bucket listed there',
      ]);
      expect(problemsOf(withDrill((d) => (d.workspace.bucket = 'acme-ml-restore')))).toEqual([
        'drills[0].workspace.bucket: "acme-ml-restore" is in us-east-1; a region-outage drill restores into the DR region (us-west-2)',
      ]);
      expect(problemsOf(withDrill((d) => (d.name = 'eval-sets')))).toEqual([
        'drills[0].name: "eval-sets" is also an asset\'s name: a drill\'s alerts and incidents are kept under its name, so it must differ',
      ]);
      // A drill deletes what it wrote under its prefix: an empty one would be the whole bucket.
      expect(problemsOf(withDrill((d) => (d.workspace.prefix = '')))).toEqual([
        'drills[0].workspace.prefix: must not be empty: a drill removes what it wrote under its prefix',
      ]);
    });

    it('refuses scratch indexes on a production engine outside the DR region, or none when vectors are in scope', () => {
      expect(problemsOf(withDrill((d) => (d.workspace.vectorTarget = 'product-search-index')))).toEqual([
        'drills[0].workspace.vectorTarget: "product-search-index" is an engine in us-east-1; a region-outage drill restores into an engine in the DR region (us-west-2)',
      ]);
      expect(problemsOf(withDrill((d) => (d.workspace.vectorTarget = 'eval-sets')))).toEqual([
        'drills[0].workspace.vectorTarget: "eval-sets" is not a vector-index asset of the policy',
      ]);
      expect(problemsOf(withDrill((d) => delete d.workspace.vectorTarget))).toEqual([
        'drills[0].workspace.vectorTarget: is required when vector assets are in scope: the vector asset whose engine receives the scratch indexes',
      ]);
      expect(() => parsePolicy(withDrill((d) => ((d.scope = { tiers: ['critical'] }), delete d.workspace.vectorTarget)))).not.toThrow();
    });

    it('refuses a scope that names nothing, unknown assets, both or neither of assets and tiers, and a scenario without its kind of asset', () => {
      expect(problemsOf(withDrill((d) => (d.scope = { assets: ['no-such-asset'] })))).toEqual([
        'drills[0].scope.assets[0]: "no-such-asset" is not an asset of the policy',
        'drills[0].scope: names no asset of the policy: a drill must recover something',
      ]);
      expect(problemsOf(withDrill((d) => (d.scope = { assets: ['eval-sets'], tiers: ['high'] })))).toEqual([
        'drills[0].scope: must name either assets or tiers',
      ]);
      expect(problemsOf(withDrill((d) => (d.scope = {})))).toEqual(['drills[0].scope: must name either assets or tiers']);
      expect(problemsOf(withDrill((d) => (d.scope = { assets: ['eval-sets'] }), 1))).toEqual([
        'drills[1].scope: must include a model-artifacts asset: a model-regression drill restores the previous model',
      ]);
      expect(problemsOf(withDrill((d) => ((d.scenario = 'data-corruption'), (d.scope = { assets: ['support-kb-index'] }))))).toEqual([
        'drills[0].scope: must include an object asset: a data-corruption drill corrupts and recovers objects',
      ]);
    });

    it('refuses duplicate names, unknown scenarios and targets out of range, naming the field', () => {
      const policy = structuredClone(parsePolicy(example)) as unknown as { drills: Drill[] };
      policy.drills[1]!.name = 'quarterly-region-outage';
      expect(problemsOf(JSON.stringify(policy))).toEqual([
        'drills[1].name: duplicate drill name "quarterly-region-outage" (also drills[0].name)',
      ]);
      expect(problemsOf(withDrill((d) => (d.scenario = 'earthquake')))[0]).toMatch(
        /^drills\[0\]\.scenario: Invalid discriminator value\. Expected .region-outage. \| .data-corruption. \| .model-regression. \| .model-provider-outage.$/,
      );
      expect(problemsOf(withDrill((d) => (d.targetMinutes = 0)))).toEqual([
        'drills[0].targetMinutes: Too small: expected number to be >=1',
      ]);
      expect(problemsOf(withDrill((d) => (d.schedule = 'every quarter')))).toEqual([
        'drills[0].schedule: must be rate(N hours) or cron(...)',
      ]);
    });
  });
});

describe('Object Lock and vault accounts in the policy', () => {
  it('locks each tier by default, lets an asset have its own, and refuses a retention S3 would not take', () => {
    const policy = loadPolicyFile('dr-policy.yml');
    expect(policy.objectLock).toEqual({
      critical: { mode: 'COMPLIANCE', days: 90 },
      high: { mode: 'COMPLIANCE', days: 30 },
      standard: { mode: 'GOVERNANCE', days: 30 },
    });
    const own = parsePolicy(withAsset((a) => (a.objectLock = { mode: 'GOVERNANCE', days: 7 })));
    expect(lockOf(own, own.assets[1]!)).toEqual({ mode: 'GOVERNANCE', days: 7 });
    const none = parsePolicy(withAsset((a) => (a.objectLock = 'none')));
    expect(lockOf(none, none.assets[1]!)).toBeUndefined();
    // The replica bucket's default: the weakest of its assets' (GOVERNANCE 7 days), none once one has none.
    expect(bucketDefaultLock(own, 'acme-ml-dr-replica')).toEqual({ mode: 'GOVERNANCE', days: 7 });
    expect(bucketDefaultLock(none, 'acme-ml-dr-replica')).toBeUndefined();
    expect(problemsOf(withAsset((a) => (a.objectLock = { mode: 'LEGAL', days: 0 })))).toEqual([
      expect.stringMatching(/^assets\[1\]\.objectLock/),
    ]);
  });

  it('places a replica in a vault account, whose bucket the stack does not create, one owner per bucket', () => {
    const vaulted = parsePolicy(
      JSON.stringify({
        ...JSON.parse(withAsset(() => undefined)),
        assets: (JSON.parse(withAsset(() => undefined)) as { assets: Record<string, any>[] }).assets.map((a) => ({
          ...a,
          replica: { ...a.replica, ...(a.kind !== 'vector-index' && { bucket: 'acme-ml-vault', account: '444455556666' }) },
        })),
      }),
    );
    // The vector indexes' snapshots stay in the stack's bucket.
    expect(Object.keys(replicaBucketResources(vaulted)).filter((id) => id.startsWith('ReplicaBucket'))).toEqual([
      'ReplicaBucketAcmeMlDrReplica',
      'ReplicaBucketAcmeMlDrReplicaPolicy',
    ]);
    expect(replicaBucketResources(loadPolicyFile('dr-policy.yml'))).toHaveProperty('ReplicaBucketAcmeMlDrReplica');
    expect(problemsOf(withAsset((a) => ((a.replica as Record<string, unknown>).account = '444455556666')))).toEqual([
      expect.stringMatching(
        /^assets\[1\]\.replica\.account: must be the same as assets\[0\]\.replica\.account \(none: the stack owns the bucket\)/,
      ),
    ]);
    expect(problemsOf(withAsset((a) => ((a.replica as Record<string, unknown>).account = '4444')))).toContain(
      'assets[1].replica.account: must be a 12-digit AWS account id',
    );
    const vaultedVectors = withAsset(
      (a) => (a.replica = { ...(a.replica as object), bucket: 'acme-ml-vault', account: '444455556666' }),
      3,
    );
    expect(problemsOf(vaultedVectors)).toEqual([
      expect.stringMatching(/^assets\[3\]\.replica\.account: is not supported for a vector-index asset: snapshot retention deletes/),
    ]);
  });
});

describe('partitioned vector snapshots in the policy (snapshotPartitions)', () => {
  it('defaults to one scan, takes up to 64 parts where the engine splits a scan, and refuses them elsewhere', () => {
    expect(parsePolicy(example).assets[3]).toMatchObject({ kind: 'vector-index', snapshotPartitions: 1 });
    expect(parsePolicy(withAsset((a) => (a.snapshotPartitions = 16), 3)).assets[3]).toMatchObject({ snapshotPartitions: 16 });
    expect(problemsOf(withAsset((a) => (a.snapshotPartitions = 65), 3))).toEqual([
      expect.stringMatching(/^assets\[3\]\.snapshotPartitions: /),
    ]);
    const weaviate = withAsset((a) => {
      a.source = { ...(a.source as object), engine: 'weaviate', endpoint: 'https://weaviate.example.internal' };
      a.snapshotPartitions = 4;
    }, 3);
    expect(problemsOf(weaviate)).toEqual([
      'assets[3].snapshotPartitions: must be 1 for weaviate, whose scan cannot be split; partitioned snapshots need pgvector, chroma, lancedb, s3vectors',
    ]);
  });

  it('names exactly the engines whose adapters split a scan', async () => {
    const { openVectorStore } = await import('../../functions/vectors/open-store.js');
    const splitting: string[] = [];
    for (const engine of engines) {
      const source = {
        engine,
        index: 'i',
        region: 'us-east-1',
        endpoint: endpointFor[engine],
        vectorBucket: 'vb',
        dimensions: 4,
        metric: 'cosine',
      };
      const store = await openVectorStore({ name: 'a', source } as unknown as VectorAsset);
      if (store.partitionScan) splitting.push(engine);
      await store.close();
    }
    expect(splitting).toEqual(partitionedScanEngines);
  });
});

describe('the customer-managed key option in the policy (deployment.kmsKey)', () => {
  const withKey = (kmsKey: unknown) => {
    const policy = structuredClone(parsePolicy(example)) as unknown as { deployment: Record<string, unknown> };
    policy.deployment.kmsKey = kmsKey;
    return JSON.stringify(policy);
  };
  const arn = (region: string) => `arn:aws:kms:${region}:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab`;

  it('is off by default, and takes `stack` or a key ARN of the deployment region', () => {
    expect(loadPolicyFile('dr-policy.yml').deployment.kmsKey).toBeUndefined();
    expect(parsePolicy(withKey('stack')).deployment.kmsKey).toBe('stack');
    expect(parsePolicy(withKey(arn('us-west-2'))).deployment.kmsKey).toBe(arn('us-west-2'));
    const multiRegion = 'arn:aws:kms:us-west-2:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab';
    expect(parsePolicy(withKey(multiRegion)).deployment.kmsKey).toBe(multiRegion);
  });

  it('refuses a key of another region, an alias and anything else, naming the field', () => {
    expect(problemsOf(withKey(arn('us-east-1')))).toEqual([
      'deployment.kmsKey: is a key in us-east-1; the stack is deployed to us-west-2 and can use only a key of that region',
    ]);
    for (const bad of ['alias/dr', 'yes', arn('us-west-2').replace(':key/', ':alias/')]) {
      expect(problemsOf(withKey(bad)), bad).toEqual([expect.stringMatching(/^deployment\.kmsKey: .*must be "stack" or a KMS key ARN/)]);
    }
  });
});

describe('the policy’s lineage section', () => {
  const withLineage = (lineage: unknown) => JSON.stringify({ ...(parsePolicy(example) as object), lineage });

  it('takes request files in an object asset’s source bucket, beside the assets, and names the field otherwise', () => {
    expect(parsePolicy(withLineage({ requests: { bucket: 'acme-ml-prod-data', prefix: 'dataset-requests/' } })).lineage).toEqual({
      requests: { bucket: 'acme-ml-prod-data', prefix: 'dataset-requests/' },
    });
    expect(problemsOf(withLineage({ requests: { bucket: 'acme-ml-prod-data', prefix: 'training/requests/' } }))).toEqual([
      'lineage.requests.prefix: "training/requests/" overlaps asset training-data ("training/"): request files would be replicated as its data',
    ]);
    expect(problemsOf(withLineage({ requests: { bucket: 'somewhere-else', prefix: 'requests/' } }))).toEqual([
      'lineage.requests.bucket: "somewhere-else" is not the source bucket of an object asset of this account: its S3 events would not reach the stack',
    ]);
  });

  it('takes an MLflow server by its http(s) URL, and a lineage check schedule', () => {
    const policy = parsePolicy(withLineage({ mlflow: { trackingUri: 'https://mlflow.example.com' }, checkSchedule: 'rate(12 hours)' }));
    expect(policy.lineage).toEqual({ mlflow: { trackingUri: 'https://mlflow.example.com' }, checkSchedule: 'rate(12 hours)' });
    expect(problemsOf(withLineage({ mlflow: { trackingUri: 'ftp://mlflow' } }))).toEqual([
      'lineage.mlflow.trackingUri: must be the http(s) URL of an MLflow tracking server',
    ]);
  });
});

describe('the policy’s serving section', () => {
  const withServing = (serving: unknown) => JSON.stringify({ ...(parsePolicy(example) as object), serving });
  const key = 'arn:aws:secretsmanager:us-west-2:111122223333:secret:anthropic';
  const claude = { id: 'claude', provider: 'anthropic', model: 'claude-opus-4-6', credentialsSecretArn: key };
  const gateway = { id: 'gateway', provider: 'http', url: 'https://gateway.internal/health' };

  it('takes services with a primary and ordered fallbacks, with failover defaults', () => {
    const policy = parsePolicy(
      withServing({ services: [{ name: 'chat', tier: 'critical', rtoTargetMinutes: 5, primary: claude, fallbacks: [gateway] }] }),
    );
    expect(policy.serving).toMatchObject({
      schedule: 'rate(1 minute)',
      parameterPrefix: '/ai-data-dr/serving/',
      failover: { failAfter: 2, recoverAfter: 5, minHeadroom: 0.1, flapWindow: 60 },
      services: [{ name: 'chat', primary: claude, fallbacks: [gateway] }],
    });
  });

  it('schedules probe-serving and lets it read exactly its endpoints’ keys and write its switch parameters', () => {
    const policy = parsePolicy(
      withServing({
        schedule: 'rate(2 minutes)',
        parameterPrefix: '/prod/llm/',
        services: [
          { name: 'chat', tier: 'critical', rtoTargetMinutes: 5, primary: claude, fallbacks: [gateway, { ...claude, id: 'claude-eu' }] },
        ],
      }),
    );
    expect(probeServingEvents(policy)).toEqual([{ schedule: { rate: ['rate(2 minutes)'], input: { trigger: 'schedule' } } }]);
    expect(probeServingEvents(parsePolicy(example))).toEqual([]);
    const statements = probeServingStatements(policy) as { Sid: string; Resource: unknown }[];
    expect(statements.find((s) => s.Sid === 'EndpointKeys')?.Resource).toEqual([key]); // one secret, named once
    expect(statements.find((s) => s.Sid === 'SwitchParameters')?.Resource).toEqual({
      'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/prod/llm/*',
    });
  });

  it('names what an endpoint lacks, a repeated endpoint or service, and a service without a fallback', () => {
    const service = (primary: unknown, fallbacks: unknown[], name = 'chat') => ({
      name,
      tier: 'high',
      rtoTargetMinutes: 5,
      primary,
      fallbacks,
    });
    expect(problemsOf(withServing({ services: [service({ id: 'claude', provider: 'anthropic' }, [gateway])] }))).toEqual([
      'serving.services[0].primary.model: an anthropic endpoint names its model',
      'serving.services[0].primary.credentialsSecretArn: an anthropic endpoint needs its key: a secret {"apiKey"}',
    ]);
    expect(problemsOf(withServing({ services: [service(claude, [{ id: 'gw', provider: 'http' }])] }))).toEqual([
      'serving.services[0].fallbacks[0].url: an http endpoint names the URL to probe',
    ]);
    expect(problemsOf(withServing({ services: [service(claude, [{ ...gateway, id: 'claude' }]), service(claude, [gateway])] }))).toEqual([
      'serving.services[0].fallbacks[0].id: endpoint "claude" is named twice in service chat',
      'serving.services[1].name: service "chat" is named twice',
    ]);
    expect(problemsOf(withServing({ services: [service(claude, [])] }))).toEqual([
      'serving.services[0].fallbacks: must name at least one fallback',
    ]);
    expect(problemsOf(withServing({ services: [service(claude, [gateway], 'eval-sets')] }))).toEqual([
      `serving.services[0].name: "eval-sets" is also an asset's name: a service's alerts and incidents are kept under its name`,
    ]);
    expect(problemsOf(withServing({ services: [service(claude, [gateway], 'quarterly-region-outage')] }))).toEqual([
      `serving.services[0].name: "quarterly-region-outage" is also a drill's name: a service's alerts and incidents are kept under its name`,
    ]);
  });

  const artifacts = {
    name: 'ranker-artifacts',
    kind: 'model-artifacts',
    source: { bucket: 'ml-models', prefix: 'ranker/', region: 'us-east-1' },
    replica: { bucket: 'ml-models-dr', region: 'us-west-2' },
    rpoTargetSeconds: 3600,
    rtoTargetSeconds: 14400,
    tier: 'critical',
  };
  const withArtifacts = (serving: unknown) => {
    const base = parsePolicy(example) as unknown as { assets: unknown[] };
    return JSON.stringify({ ...base, assets: [...base.assets, artifacts], serving });
  };
  const dr = {
    id: 'dr',
    provider: 'sagemaker',
    endpointName: 'Ranker-DR',
    servesArtifact: { asset: 'ranker-artifacts', key: 'ranker/model.tar.gz' },
  };

  it('takes SageMaker endpoints, one that must serve its model-artifacts asset’s current replica, and lets probe-serving describe just those', () => {
    const policy = parsePolicy(
      withArtifacts({
        services: [
          {
            name: 'ranker',
            tier: 'critical',
            rtoTargetMinutes: 15,
            primary: { id: 'prod', provider: 'sagemaker', endpointName: 'ranker-prod', region: 'us-east-1' },
            fallbacks: [dr],
          },
        ],
      }),
    );
    expect(policy.serving!.services[0]!.fallbacks[0]).toEqual(dr);
    const statements = probeServingStatements(policy) as { Sid: string; Action: unknown; Resource: unknown }[];
    expect(statements.find((s) => s.Sid === 'DescribeEndpoints')?.Resource).toEqual([
      { 'Fn::Sub': 'arn:${AWS::Partition}:sagemaker:us-east-1:${AWS::AccountId}:endpoint/ranker-prod' },
      { 'Fn::Sub': 'arn:${AWS::Partition}:sagemaker:us-west-2:${AWS::AccountId}:endpoint/ranker-dr' },
    ]);
    expect(statements.find((s) => s.Sid === 'DescribeServedModels')).toMatchObject({
      Action: ['sagemaker:DescribeEndpointConfig', 'sagemaker:DescribeModel'],
      Resource: [
        { 'Fn::Sub': 'arn:${AWS::Partition}:sagemaker:us-west-2:${AWS::AccountId}:endpoint-config/*' },
        { 'Fn::Sub': 'arn:${AWS::Partition}:sagemaker:us-west-2:${AWS::AccountId}:model/*' },
      ],
    });
    expect(statements.map((s) => s.Sid)).not.toContain('EndpointKeys');
    expect(statements.map((s) => s.Sid)).not.toContain('LookUpBedrockModels');
  });

  it('takes generation probes for anthropic and openai endpoints only, within per-provider hourly budgets', () => {
    const service = (primary: unknown) => ({ name: 'chat', tier: 'high', rtoTargetMinutes: 5, primary, fallbacks: [gateway] });
    const policy = parsePolicy(withServing({ services: [service({ ...claude, generate: true })] }));
    expect(policy.serving).toMatchObject({
      generationTokensPerHour: { anthropic: 1000, openai: 1000 },
      services: [{ primary: { generate: true } }],
    });
    expect(
      parsePolicy(withServing({ generationTokensPerHour: { openai: 0 }, services: [service(claude)] })).serving!.generationTokensPerHour,
    ).toEqual({ anthropic: 1000, openai: 0 });
    expect(problemsOf(withServing({ services: [service({ ...gateway, id: 'gw', generate: true })] }))).toEqual([
      'serving.services[0].primary.generate: is for anthropic and openai endpoints, not http',
    ]);
    expect(problemsOf(withServing({ generationTokensPerHour: { bedrock: 10 }, services: [service(claude)] }))[0]).toMatch(
      /^serving\.generationTokensPerHour: /,
    );
  });

  it('takes a model-provider-outage drill of a service of the policy, without scope or workspace, and its role may pin', () => {
    const base = parsePolicy(example) as unknown as { drills: unknown[] };
    const withDrill = (drill: unknown) =>
      JSON.stringify({
        ...base,
        drills: [...base.drills, drill],
        serving: { services: [{ name: 'chat', tier: 'critical', rtoTargetMinutes: 5, primary: claude, fallbacks: [gateway] }] },
      });
    const drill = {
      name: 'provider-outage',
      scenario: 'model-provider-outage',
      schedule: 'cron(0 6 1 * ? *)',
      service: 'chat',
      targetMinutes: 5,
    };
    const policy = parsePolicy(withDrill(drill));
    expect(policy.drills.at(-1)).toEqual(drill);
    const roles = functionRoles(policy) as Record<
      string,
      { Properties: { Policies: { PolicyName: string; PolicyDocument: { Statement: { Sid: string }[] } }[] } }
    >;
    const drillPolicies = roles.DrDrillRole!.Properties.Policies;
    expect(drillPolicies.map((p) => p.PolicyName)).toContain('dr-drill-serving');
    expect(drillPolicies.find((p) => p.PolicyName === 'dr-drill-serving')!.PolicyDocument.Statement.map((s) => s.Sid)).toContain(
      'SwitchParameters',
    );
    expect(problemsOf(withDrill({ ...drill, service: 'search' }))).toEqual([
      'drills[2].service: "search" is not a service of serving.services: the drill fails a model service over',
    ]);
    expect(problemsOf(withDrill({ ...drill, scope: { tiers: ['critical'] } }))[0]).toBe('drills[2]: unknown field "scope"');
  });

  it('takes a smoke eval of a service on an eval-set key, schedules it, and lets probe-serving read just that key’s replica', () => {
    const smokeEval = { asset: 'eval-sets', key: 'evals/golden/smoke.jsonl' };
    const service = { name: 'chat', tier: 'critical', rtoTargetMinutes: 5, primary: claude, fallbacks: [gateway], smokeEval };
    const policy = parsePolicy(withServing({ services: [service] }));
    expect(policy.serving).toMatchObject({
      smokeEvalSchedule: 'rate(1 day)',
      services: [{ smokeEval: { ...smokeEval, prompts: 5, maxTokens: 32 } }],
    });
    expect(probeServingEvents(policy)).toEqual([
      { schedule: { rate: ['rate(1 minute)'], input: { trigger: 'schedule' } } },
      { schedule: { rate: ['rate(1 day)'], input: { trigger: 'smoke-eval' } } },
    ]);
    const statements = probeServingStatements(policy) as { Sid: string; Resource: unknown }[];
    expect(statements.find((s) => s.Sid === 'GoldenPrompts')?.Resource).toEqual([
      { 'Fn::Sub': 'arn:${AWS::Partition}:s3:::acme-ml-dr-replica/evals/golden/smoke.jsonl' },
    ]);
    expect(problemsOf(withServing({ services: [{ ...service, smokeEval: { asset: 'training-data', key: 'training/x' } }] }))).toEqual([
      'serving.services[0].smokeEval.asset: "training-data" is not an eval-set asset of the policy',
    ]);
    expect(problemsOf(withServing({ services: [{ ...service, smokeEval: { asset: 'eval-sets', key: 'other/x' } }] }))).toEqual([
      'serving.services[0].smokeEval.key: "other/x" is not under asset eval-sets\'s prefix "evals/"',
    ]);
  });

  it('takes Bedrock models and inference profiles, and lets probe-serving look up just those', () => {
    const haiku = { id: 'haiku', provider: 'bedrock', model: 'anthropic.claude-3-5-haiku-20241022-v1:0', region: 'us-east-1' };
    const profile = { id: 'profile', provider: 'bedrock', model: 'us.anthropic.claude-3-5-haiku-20241022-v1:0' };
    const policy = parsePolicy(
      withServing({ services: [{ name: 'chat', tier: 'critical', rtoTargetMinutes: 5, primary: claude, fallbacks: [haiku, profile] }] }),
    );
    const statements = probeServingStatements(policy) as { Sid: string; Action: unknown; Resource: unknown }[];
    expect(statements.find((s) => s.Sid === 'LookUpBedrockModels')?.Resource).toEqual([
      { 'Fn::Sub': 'arn:${AWS::Partition}:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0' },
      {
        'Fn::Sub':
          'arn:${AWS::Partition}:bedrock:us-west-2:${AWS::AccountId}:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0',
      },
    ]);
    expect(statements.find((s) => s.Sid === 'BedrockModelAccess')).toMatchObject({
      Action: 'bedrock:GetFoundationModelAvailability',
      Resource: '*',
    });
    expect(
      problemsOf(
        withServing({
          services: [{ name: 'chat', tier: 'high', rtoTargetMinutes: 5, primary: { id: 'b', provider: 'bedrock' }, fallbacks: [gateway] }],
        }),
      ),
    ).toEqual(['serving.services[0].primary.model: a bedrock endpoint names its model']);
  });

  it('names what a SageMaker endpoint lacks, an artifact outside a model-artifacts asset, and fields of the wrong provider', () => {
    const service = (primary: unknown) => ({ name: 'ranker', tier: 'high', rtoTargetMinutes: 15, primary, fallbacks: [gateway] });
    expect(problemsOf(withArtifacts({ services: [service({ id: 'dr', provider: 'sagemaker', credentialsSecretArn: key })] }))).toEqual([
      "serving.services[0].primary.credentialsSecretArn: a sagemaker endpoint takes no key: the function's role is allowed to describe it",
      'serving.services[0].primary.endpointName: a sagemaker endpoint names its endpoint',
    ]);
    expect(
      problemsOf(withArtifacts({ services: [service({ ...dr, servesArtifact: { asset: 'training-data', key: 'training/x' } })] })),
    ).toEqual(['serving.services[0].primary.servesArtifact.asset: "training-data" is not a model-artifacts asset of the policy']);
    expect(
      problemsOf(withArtifacts({ services: [service({ ...dr, servesArtifact: { asset: 'ranker-artifacts', key: 'other/x' } })] })),
    ).toEqual(['serving.services[0].primary.servesArtifact.key: "other/x" is not under asset ranker-artifacts\'s prefix "ranker/"']);
    expect(problemsOf(withArtifacts({ services: [service({ ...dr, model: 'ranker' })] }))).toEqual([
      'serving.services[0].primary.model: is for anthropic, openai and bedrock endpoints, not sagemaker',
    ]);
    expect(problemsOf(withArtifacts({ services: [service({ ...claude, endpointName: 'x', region: 'us-east-1' })] }))).toEqual([
      'serving.services[0].primary.endpointName: is for sagemaker endpoints, not anthropic',
      'serving.services[0].primary.region: is for bedrock and sagemaker endpoints, not anthropic',
    ]);
  });
});
