import { z } from 'zod';

/**
 * The DR policy: one YAML file the operator edits (dr-policy.yml). It is validated when the
 * service is packaged (serverless.yml reads it through infra/stack-config.cjs) and again at
 * every cold start. docs/policy.md documents every field.
 */

const awsRegion = z.string().regex(/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/, 'must be an AWS region name such as us-east-1');

/** S3 bucket naming rules (general purpose buckets). */
const bucketName = z
  .string()
  .min(3)
  .max(63)
  .regex(/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/, 'must be a valid S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens');

/** A key prefix: empty (whole bucket) or ending in '/' so that "data" never matches "database/". */
const keyPrefix = z
  .string()
  .max(512)
  .refine((p) => p === '' || p.endsWith('/'), 'must be empty or end with "/"')
  .refine((p) => !p.startsWith('/'), 'must not start with "/"');

const seconds = z.number().int().positive();

/** A size S3 accepts for one part of a multipart upload and for one CopyObject: 5 MiB to 5 GiB. */
const s3PartBytes = z
  .number()
  .int()
  .min(5 * 1024 ** 2)
  .max(5 * 1024 ** 3);

const scheduleExpression = z
  .string()
  .regex(/^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$/, 'must be rate(N hours) or cron(...)');

const secretArn = z.string().regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, 'must be a Secrets Manager secret ARN');

export const assetKinds = ['training-data', 'eval-set', 'eval-results', 'model-artifacts', 'vector-index'] as const;
export type AssetKind = (typeof assetKinds)[number];

/** Kinds whose source is an S3 prefix, replicated object version by object version (eval-results: what evaluations of models produced). */
export const objectAssetKinds = ['training-data', 'eval-set', 'eval-results', 'model-artifacts'] as const;
/** Kinds replicated object version by object version (all object kinds). */
export const replicatedKinds: readonly AssetKind[] = objectAssetKinds;

export const tiers = ['critical', 'high', 'standard'] as const;

const storageClass = z.enum(['STANDARD', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR']);

/**
 * S3 Object Lock retention of what the stack writes into a replica bucket (docs/policy.md#object-lock):
 * COMPLIANCE (nobody, not even the account's root, can shorten it or delete the version) or
 * GOVERNANCE (a principal with s3:BypassGovernanceRetention can), for `days` from the write; or
 * `none`. Extended, never shortened, for what must outlive it (the snapshots retention keeps).
 */
const lockRule = z.union([
  z.literal('none'),
  z.strictObject({ mode: z.enum(['COMPLIANCE', 'GOVERNANCE']), days: z.number().int().min(1).max(36_500) }),
]);
export type LockRule = z.infer<typeof lockRule>;

const replica = z.strictObject({
  bucket: bucketName,
  region: awsRegion,
  /** Prefix in the replica bucket that replaces the source prefix. Defaults to the source prefix. */
  prefix: keyPrefix.optional(),
  storageClass: storageClass.default('STANDARD'),
  /**
   * A vault account that owns the bucket (docs/vault-account.md): the stack writes into it across
   * accounts and does not create it; the vault's template gives it Object Lock and a bucket policy
   * that lets nothing of this account destroy a version.
   */
  account: z
    .string()
    .regex(/^\d{12}$/, 'must be a 12-digit AWS account id')
    .optional(),
});

/** An asset's name is at most this long (the policy's rule below). */
export const ASSET_NAME_MAX_LENGTH = 63;

/**
 * A payload's reference to an asset by name: bounded as the policy bounds names, so a name no
 * asset can have is refused by its length, before any lookup (and before any message quotes it).
 */
export const assetNameRef = z
  .string()
  .min(1)
  .max(ASSET_NAME_MAX_LENGTH, `must be an asset name of the policy: at most ${ASSET_NAME_MAX_LENGTH} characters`);

const common = {
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, `must be 1-${ASSET_NAME_MAX_LENGTH} lowercase letters, digits and hyphens`),
  rpoTargetSeconds: seconds,
  rtoTargetSeconds: seconds,
  tier: z.enum(tiers),
  description: z.string().max(500).optional(),
  /** This asset's Object Lock retention instead of its tier's (objectLock in the policy). */
  objectLock: lockRule.optional(),
};

/** verify-restore: how often a restore of the asset is tested, and how much each test reads. */
const restoreTestCommon = {
  schedule: scheduleExpression.default('rate(1 day)'),
};

const objectAsset = z.strictObject({
  ...common,
  restoreTest: z
    .strictObject({
      ...restoreTestCommon,
      /** Objects restored (to a scratch prefix) and re-hashed per test. */
      sampleObjects: z.number().int().min(1).max(10_000).default(20),
      /** Every replica object is read and re-hashed at least once per this many days (rolling scrub). */
      scrubCycleDays: z.number().int().min(1).max(365).default(30),
    })
    .prefault({}),
  kind: z.enum(objectAssetKinds),
  source: z.strictObject({
    bucket: bucketName,
    prefix: keyPrefix.default(''),
    region: awsRegion,
    /** Another S3-compatible endpoint (MinIO, R2, GCS interoperability): versions are streamed. */
    endpoint: z.url({ protocol: /^https?$/ }).optional(),
    forcePathStyle: z.boolean().optional(),
    /**
     * Secrets Manager secret with {"accessKeyId", "secretAccessKey", "sessionToken"?} for a source
     * in another account or provider: versions are streamed (no server-side copy across credentials).
     */
    credentialsSecretArn: secretArn.optional(),
  }),
  replica,
});

/** Where the engine is: a URL for engines served over HTTP or PostgreSQL, a URI for LanceDB. */
const engineEndpoints: Record<string, { pattern: RegExp; example: string } | undefined> = {
  pgvector: { pattern: /^postgres(ql)?:\/\/[^\s]+$/, example: 'postgresql://dr_reader@db.example.internal:5432/app' },
  qdrant: { pattern: /^https?:\/\/[^\s]+$/, example: 'https://qdrant.example.internal:6333' },
  chroma: { pattern: /^https?:\/\/[^\s]+$/, example: 'http://chroma.example.internal:8000' },
  weaviate: { pattern: /^https?:\/\/[^\s]+$/, example: 'https://weaviate.example.internal' },
  lancedb: { pattern: /^(s3:\/\/[^\s]+|\/[^\s]*)$/, example: 's3://acme-ml-vectors/lancedb' },
  pinecone: { pattern: /^https?:\/\/[^\s]+$/, example: 'https://api.pinecone.io' },
};

const vectorAsset = z.strictObject({
  ...common,
  restoreTest: z
    .strictObject({
      ...restoreTestCommon,
      /** Queries (vectors sampled from the index) whose top-10 neighbours the restored index must reproduce. */
      goldenQueries: z.number().int().min(1).max(1000).default(20),
      /** Recall@10 required where the engine searches approximately (exact engines must reach 1.0). */
      minRecall: z.number().min(0).max(1).default(0.99),
    })
    .prefault({}),
  kind: z.literal('vector-index'),
  source: z.strictObject({
    engine: z.enum(['pgvector', 'qdrant', 'pinecone', 'chroma', 'lancedb', 's3vectors', 'weaviate']),
    /** The table, collection, class or index name in the engine. */
    index: z.string().min(1).max(255),
    region: awsRegion,
    /** Engine URL or URI (see docs/policy.md); Pinecone defaults to https://api.pinecone.io. */
    endpoint: z.string().optional(),
    /** S3 Vectors: the vector bucket holding the index. */
    vectorBucket: z.string().min(3).max(63).optional(),
    /** Secrets Manager secret with the engine's credentials: {"password"} for pgvector, {"apiKey"} otherwise. */
    credentialsSecretArn: secretArn.optional(),
    /** What the index must have; a snapshot of an index that disagrees is refused. */
    dimensions: z.number().int().min(1).max(65536),
    metric: z.enum(['cosine', 'euclidean', 'dot']),
    /** The embedding model that produced the vectors, recorded in every snapshot's manifest. */
    embedding: z.strictObject({ model: z.string().min(1), version: z.string().min(1) }),
  }),
  replica,
  /** When snapshot-vectors runs for this asset. Keep it well inside rpoTargetSeconds. */
  schedule: scheduleExpression.default('rate(1 hour)'),
  /** Verified snapshots kept: the newest of each of the last N days, ISO weeks and months. */
  retention: z
    .strictObject({
      daily: z.number().int().min(1).max(3660).default(30),
      weekly: z.number().int().min(0).max(520).default(8),
      monthly: z.number().int().min(0).max(120).default(3),
    })
    .prefault({}),
  /** Also take the engine's own snapshot (Qdrant snapshot, Pinecone backup, Weaviate backup, LanceDB version). */
  nativeSnapshot: z.boolean().default(false),
  /**
   * Scan the index in this many parts at once, each by invocations of its own (engines that split a
   * scan: partitionedScanEngines); 1 is one scan. See docs/vector-snapshots.md#partitioned-snapshots.
   */
  snapshotPartitions: z.number().int().min(1).max(64).default(1),
  /**
   * Drills and restore tests restore this index in this many parts at once (restore-vectors
   * "parts": chunk ranges written by invocations of their own, the check scanned in parts); 1 is one
   * chain. See docs/drills.md#vector-restores-in-parts and docs/restore.md#restore-tests-in-parts.
   */
  restoreParts: z.number().int().min(1).max(64).default(1),
});

export const assetSchema = z.discriminatedUnion('kind', [objectAsset, vectorAsset]);

/** What a drill rehearses: each follows the runbook of the same name in docs/runbooks/. */
export const drillScenarios = ['region-outage', 'data-corruption', 'model-regression', 'model-provider-outage'] as const;
export type DrillScenario = (typeof drillScenarios)[number];
/** The scenarios that recover assets into a workspace (model-provider-outage fails a model service over instead). */
const assetScenarios = ['region-outage', 'data-corruption', 'model-regression'] as const;

/**
 * A DR drill: a whole recovery run unattended on a schedule, measured against a target for the
 * drill. Its restores go only into its workspace: a bucket of restore.targetBuckets (never a source
 * or replica bucket) and, for vector assets, scratch indexes on the engine of `vectorTarget`.
 */
const assetDrillSchema = z.strictObject({
  name: common.name,
  scenario: z.enum(assetScenarios),
  /** EventBridge schedule: quarterly `cron(0 6 1 1,4,7,10 ? *)`, annual `cron(0 6 15 11 ? *)`. */
  schedule: scheduleExpression,
  /** The assets the drill recovers: named, or every asset of the given tiers. */
  scope: z
    .strictObject({ assets: z.array(assetNameRef).min(1).optional(), tiers: z.array(z.enum(tiers)).min(1).optional() })
    .refine((s) => (s.assets === undefined) !== (s.tiers === undefined), 'must name either assets or tiers'),
  /** The whole drill, from its start to the last asset verified. */
  targetMinutes: z.number().int().min(1).max(10_080),
  workspace: z.strictObject({
    /** One of restore.targetBuckets. */
    bucket: bucketName,
    /** Everything the drill writes (and may delete) is under <prefix><drill id>/: never the whole bucket. */
    prefix: keyPrefix.refine((p) => p !== '', 'must not be empty: a drill removes what it wrote under its prefix').default('_dr-drills/'),
    /** A vector-index asset whose engine receives the drill's scratch indexes (required when vector assets are in scope). */
    vectorTarget: assetNameRef.optional(),
  }),
  /** data-corruption: how many objects of the scratch copy the drill corrupts before it recovers them. */
  corruptObjects: z.number().int().min(1).max(1000).default(3),
});

/**
 * A model-provider-outage drill (docs/drills.md#model-provider-outage): the runbook followed for
 * the service, as on-call would in an outage of its primary: its first ready fallback pinned by dry
 * run and token, the gateway's parameter read back (timed from the drill's start), the pin lifted.
 */
const servingDrillSchema = z.strictObject({
  name: common.name,
  scenario: z.literal('model-provider-outage'),
  schedule: scheduleExpression,
  /** A service of serving.services. */
  service: z.string().min(1),
  /** From the drill's start to the gateway switched to a ready fallback. */
  targetMinutes: z.number().int().min(1).max(10_080),
});

const drillSchema = z.discriminatedUnion('scenario', [assetDrillSchema, servingDrillSchema]);
export type Drill = z.infer<typeof drillSchema>;
export type AssetDrill = z.infer<typeof assetDrillSchema>;
export type ServingDrill = z.infer<typeof servingDrillSchema>;
export const isServingDrill = (drill: Drill): drill is ServingDrill => drill.scenario === 'model-provider-outage';
export const isAssetDrill = (drill: Drill): drill is AssetDrill => !isServingDrill(drill);

/**
 * A model-serving endpoint (docs/serving.md): a provider's API for a model (Anthropic, OpenAI,
 * Amazon Bedrock), a SageMaker endpoint (the team's own model, often its DR-region deployment), or
 * any HTTP endpoint.
 */
const servingEndpoint = z
  .strictObject({
    /** Its name within the service: what the switch parameter holds when it is active. */
    id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 letters, digits, ".", "_" or "-"'),
    provider: z.enum(['anthropic', 'openai', 'bedrock', 'sagemaker', 'http']),
    /** The model id the provider must know (anthropic, openai; bedrock: a model id, or an inference profile's id or ARN). */
    model: z.string().min(1).max(2048).optional(),
    /** bedrock, sagemaker: the region it runs in (default the deployment's, the DR region). */
    region: awsRegion.optional(),
    /** sagemaker: the endpoint's name. */
    endpointName: z
      .string()
      .regex(/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/, 'must be a SageMaker endpoint name (1-63 letters, digits and "-")')
      .optional(),
    /**
     * sagemaker: the model-artifacts asset and source key whose current verified replica the
     * endpoint must serve (its model data is that key's replica, taken when it was last deployed).
     */
    servesArtifact: z.strictObject({ asset: z.string().min(1), key: z.string().min(1).max(1024) }).optional(),
    /** anthropic/openai: the API's base URL (default the provider's); http: the URL probed (required). */
    url: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
    /** A JSON secret {"apiKey"} (anthropic, openai). */
    credentialsSecretArn: secretArn.optional(),
    /** A probe answered later than this is slow (default 2000). */
    slowMs: z.number().int().min(1).max(60_000).optional(),
    /** A probe not answered by then is a timeout (default 10000). */
    timeoutMs: z.number().int().min(100).max(60_000).optional(),
    /**
     * anthropic, openai: probe with a one-token generation instead of the model lookup, within the
     * provider's hourly token budget (serving.generationTokensPerHour; docs/serving.md#generation).
     */
    generate: z.boolean().optional(),
  })
  .superRefine((e, ctx) => {
    const keyed = e.provider === 'anthropic' || e.provider === 'openai';
    const a = /^[aeiou]/.test(e.provider) ? 'an' : 'a';
    if ((keyed || e.provider === 'bedrock') && !e.model)
      ctx.addIssue({ code: 'custom', path: ['model'], message: `${a} ${e.provider} endpoint names its model` });
    if (keyed && !e.credentialsSecretArn)
      ctx.addIssue({
        code: 'custom',
        path: ['credentialsSecretArn'],
        message: `an ${e.provider} endpoint needs its key: a secret {"apiKey"}`,
      });
    if (!keyed && e.credentialsSecretArn)
      ctx.addIssue({
        code: 'custom',
        path: ['credentialsSecretArn'],
        message: `${a} ${e.provider} endpoint takes no key${e.provider === 'http' ? '' : ": the function's role is allowed to describe it"}`,
      });
    if (e.provider === 'http' && !e.url)
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'an http endpoint names the URL to probe' });
    if (e.provider === 'sagemaker' && !e.endpointName)
      ctx.addIssue({ code: 'custom', path: ['endpointName'], message: 'a sagemaker endpoint names its endpoint' });
    if (e.generate && !keyed)
      ctx.addIssue({ code: 'custom', path: ['generate'], message: `is for anthropic and openai endpoints, not ${e.provider}` });
    for (const field of ['endpointName', 'servesArtifact'] as const)
      if (e.provider !== 'sagemaker' && e[field] !== undefined)
        ctx.addIssue({ code: 'custom', path: [field], message: `is for sagemaker endpoints, not ${e.provider}` });
    if (e.model !== undefined && !keyed && e.provider !== 'bedrock')
      ctx.addIssue({ code: 'custom', path: ['model'], message: `is for anthropic, openai and bedrock endpoints, not ${e.provider}` });
    if (e.region !== undefined && e.provider !== 'sagemaker' && e.provider !== 'bedrock')
      ctx.addIssue({ code: 'custom', path: ['region'], message: `is for bedrock and sagemaker endpoints, not ${e.provider}` });
  });

export type ServingEndpoint = z.infer<typeof servingEndpoint>;
/** Where a bedrock or sagemaker endpoint runs: its region, or the deployment's (the DR region). */
export const endpointRegion = (policy: { deployment: { region: string } }, e: ServingEndpoint) => e.region ?? policy.deployment.region;

const servingSchema = z.strictObject({
  /** When the endpoints are probed. Default every minute. */
  schedule: scheduleExpression.default('rate(1 minute)'),
  /** SSM parameters the switch writes, one per service: <prefix><service> holds the active endpoint's id. */
  parameterPrefix: z
    .string()
    .regex(/^\/[A-Za-z0-9_./-]*\/$/, 'must be an SSM parameter path such as /ai-data-dr/serving/')
    .default('/ai-data-dr/serving/'),
  /** When the services' smoke evals run (docs/serving.md#smoke-eval). Default daily. */
  smokeEvalSchedule: scheduleExpression.default('rate(1 day)'),
  /** Tokens generation probes (spread over the hour) and smoke evals may take per provider per hour (docs/serving.md#generation). */
  generationTokensPerHour: z
    .strictObject({
      anthropic: z.number().int().min(0).max(10_000_000).default(1000),
      openai: z.number().int().min(0).max(10_000_000).default(1000),
    })
    .prefault({}),
  /** Failover (docs/serving.md#failover). */
  failover: z
    .strictObject({
      failAfter: z.number().int().min(1).max(20).default(2),
      recoverAfter: z.number().int().min(1).max(100).default(5),
      minHeadroom: z.number().min(0).max(1).default(0.1),
      flapWindow: z.number().int().min(1).max(10_000).default(60),
    })
    .prefault({}),
  services: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 letters, digits, ".", "_" or "-"'),
        tier: z.enum(tiers),
        rtoTargetMinutes: z.number().int().min(1).max(10_080),
        primary: servingEndpoint,
        fallbacks: z.array(servingEndpoint).min(1, 'must name at least one fallback').max(5),
        /**
         * A smoke eval on serving.smokeEvalSchedule (docs/serving.md#smoke-eval): the first `prompts`
         * golden prompts of a JSONL key of an eval-set asset ({"prompt", "expected"} a line), read from
         * the replica, sent to every anthropic and openai endpoint of the service, scored simply.
         */
        smokeEval: z
          .strictObject({
            asset: z.string().min(1),
            key: z.string().min(1).max(1024),
            prompts: z.number().int().min(1).max(50).default(5),
            maxTokens: z.number().int().min(1).max(1024).default(32),
          })
          .optional(),
      }),
    )
    .min(1),
});

const policyShape = z.strictObject({
  version: z.literal(1),
  /** The region the stack (functions, queue, ledger, replica buckets) is deployed to: the DR region. */
  deployment: z.strictObject({
    region: awsRegion,
    /**
     * A customer-managed KMS key for what the stack stores (replica buckets it creates, the
     * restore-test scratch bucket, the ledger, the queues, the functions' logs and environment):
     * `stack` (the stack creates one, its policy scoped to the stack's roles) or the ARN of an
     * existing key in deployment.region. Omitted: AWS-owned and AWS-managed keys (docs/encryption.md).
     */
    kmsKey: z
      .union([
        z.literal('stack'),
        z
          .string()
          .regex(
            /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/,
            'must be "stack" or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>, or key/mrk-… for a multi-Region key)',
          ),
      ])
      .optional(),
    /**
     * X-Ray traces of every function (Powertools' tracer). false: no traces, and no X-Ray SDK hook
     * on every promise, which costs the replication engine about 15 % of its CPU per version
     * whether or not a trace is sampled (docs/benchmarks.md).
     */
    tracing: z.boolean().default(true),
  }),
  replication: z
    .strictObject({
      /** Receives after which a queue message moves to the dead-letter queue. */
      maxReceiveCount: z.number().int().min(1).max(1000).default(5),
      batchSize: z.number().int().min(1).max(10).default(10),
      /** Lambda timeout of the replicate function. */
      timeoutSeconds: z.number().int().min(10).max(900).default(300),
      /** Objects larger than this are copied with multipart UploadPartCopy, parts in parallel. */
      multipartThresholdBytes: s3PartBytes.default(512 * 1024 ** 2),
      /** Part size of multipart copies (raised when an object would need more than 10,000 parts). */
      multipartPartSizeBytes: s3PartBytes.default(128 * 1024 ** 2),
      /** Parts copied at once per object. */
      partConcurrency: z.number().int().min(1).max(64).default(8),
      /** When each asset's source and replica are reconciled (lost events, objects from before). */
      reconcileSchedule: scheduleExpression.default('rate(6 hours)'),
    })
    .prefault({}),
  monitoring: z
    .strictObject({
      /** When measure-rpo runs: an EventBridge schedule expression. */
      schedule: z
        .string()
        .regex(/^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$/, 'must be rate(N minutes) or cron(...)')
        .default('rate(1 minute)'),
      /** Consecutive breaching minutes before a CloudWatch alarm fires (missing data breaches). */
      alarmEvaluationPeriods: z.number().int().min(1).max(60).default(3),
      /** An asset recovers (one "DR Target Recovered") only after this long back under target. */
      recoverySeconds: z.number().int().min(0).max(86400).default(300),
      /** Window of the replication-lag percentiles the status function reports. */
      lagWindowSeconds: z.number().int().min(60).max(86400).default(3600),
    })
    .prefault({}),
  restore: z
    .strictObject({
      /**
       * Buckets restore-data may write into besides the object assets' own source buckets (a
       * bucket for restores beside production). Anything else is refused as outside the policy.
       */
      targetBuckets: z.array(z.strictObject({ bucket: bucketName, region: awsRegion })).default([]),
    })
    .prefault({}),
  /** Object Lock retention per tier (docs/policy.md#object-lock); an asset's own objectLock wins. */
  objectLock: z
    .strictObject({
      critical: lockRule.default({ mode: 'COMPLIANCE', days: 90 }),
      high: lockRule.default({ mode: 'COMPLIANCE', days: 30 }),
      standard: lockRule.default({ mode: 'GOVERNANCE', days: 30 }),
    })
    .prefault({}),
  assets: z.array(assetSchema).min(1),
  /** DR drills (docs/policy.md#drills): validated here; run by the dr-drill function. */
  drills: z.array(drillSchema).default([]),
  lineage: z
    .strictObject({
      /** Dataset versions (docs/lineage.md): written into each object asset's replica bucket under this prefix (default `_dr-lineage/`). */
      prefix: keyPrefix.refine((p) => p !== '', 'must not be empty').optional(),
      /** When the lineage check runs (lifecycle rules, a model's training-set restore test: docs/lineage.md#lineage-check). Default daily. */
      checkSchedule: scheduleExpression.optional(),
      /**
       * Where training pipelines drop dataset version requests (docs/lineage.md#request-files): an
       * object asset's source bucket (its S3 events reach the stack) and a prefix outside every asset there.
       */
      requests: z.strictObject({ bucket: bucketName, prefix: keyPrefix.refine((p) => p !== '', 'must not be empty') }).optional(),
      /** MLflow's Model Registry to import model records from (docs/lineage.md#mlflow). */
      mlflow: z
        .strictObject({
          trackingUri: z.url({ protocol: /^https?$/, message: 'must be the http(s) URL of an MLflow tracking server' }),
          /** A JSON secret: {"token"} (Databricks, managed MLflow) or {"username", "password"} (basic auth). */
          credentialsSecretArn: secretArn.optional(),
          /** Model versions per search page (max_results). Default 1000. */
          pageSize: z.number().int().min(1).max(10_000).optional(),
        })
        .optional(),
    })
    .optional(),
  /** Model serving DR (docs/serving.md): services, their primary and fallback endpoints, the failover. */
  serving: servingSchema.optional(),
  /** The DR report (docs/report.md): where the report function writes it, and when it runs. */
  report: z
    .strictObject({
      /** A replica bucket of the policy (the stack owns it, in the DR region); default: the first asset's. */
      bucket: bucketName.optional(),
      /** Everything the report writes is under this prefix (not empty: the report never writes over a replica). */
      prefix: keyPrefix.refine((p) => p !== '', 'must not be empty').default('_dr-report/'),
      /** When the report is written besides after each drill and on demand. */
      schedule: scheduleExpression.default('cron(0 6 * * ? *)'),
      /**
       * A status page for the people an outage affects (docs/report.md#public-status): only the
       * assets named here, under the names given, with their status and incident timeline; no
       * internal name or number. Written beside the report (private, like it); publishing it is yours.
       */
      publicStatus: z
        .strictObject({
          title: z.string().min(1).max(100),
          /** Asset name → the name the public sees (e.g. "training-data": "Model training"). */
          assets: z.record(assetNameRef, z.string().min(1).max(80)),
        })
        .optional(),
    })
    .prefault({}),
});

type PolicyShape = z.infer<typeof policyShape>;
/** A rule across fields of the policy: adds an issue, with the path of the field to change, for each breach. */
type PolicyRule = (policy: PolicyShape, ctx: z.RefinementCtx) => void;

const issue = (ctx: z.RefinementCtx, path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });

/** Asset names are unique: they key the ledger, the catalog, metrics and alarms. */
const uniqueAssetNames: PolicyRule = (policy, ctx) => {
  const names = new Map<string, number>();
  policy.assets.forEach((asset, i) => {
    const first = names.get(asset.name);
    if (first !== undefined) issue(ctx, ['assets', i, 'name'], `duplicate asset name "${asset.name}" (also assets[${first}].name)`);
    else names.set(asset.name, i);
  });
};

/** KMS keys are regional: the stack's resources in deployment.region can use only a key of that region. */
const kmsKeyInDeploymentRegion: PolicyRule = (policy, ctx) => {
  const key = policy.deployment.kmsKey;
  const region = key?.startsWith('arn:') ? key.split(':')[3] : undefined;
  if (region && region !== policy.deployment.region) {
    issue(
      ctx,
      ['deployment', 'kmsKey'],
      `is a key in ${region}; the stack is deployed to ${policy.deployment.region} and can use only a key of that region`,
    );
  }
};

/** The stack creates the replica buckets in its own region. */
const replicasInDeploymentRegion: PolicyRule = (policy, ctx) => {
  policy.assets.forEach((asset, i) => {
    if (asset.replica.region !== policy.deployment.region) {
      issue(
        ctx,
        ['assets', i, 'replica', 'region'],
        `must equal deployment.region (${policy.deployment.region}): the stack creates the replica bucket in its own region`,
      );
    }
  });
};

/** Where an asset's replica lives in its bucket: its replica prefix (an object asset's defaults to its source prefix). */
const replicaPrefix = (a: Asset) => a.replica.prefix ?? (a.kind === 'vector-index' ? '' : a.source.prefix);
const overlap = (p: string, q: string) => p.startsWith(q) || q.startsWith(p);

/**
 * Two assets writing under overlapping replica prefixes of one bucket would interleave their
 * histories in the same replica keys (one source's delete marker hiding the other's data).
 */
const distinctReplicaPrefixes: PolicyRule = (policy, ctx) => {
  policy.assets.forEach((asset, i) => {
    policy.assets.forEach((other, j) => {
      if (j <= i || other.replica.bucket !== asset.replica.bucket) return;
      const [p, q] = [replicaPrefix(asset), replicaPrefix(other)];
      if (overlap(p, q)) {
        issue(
          ctx,
          ['assets', j, 'replica', 'prefix'],
          `replica prefix "${q}" overlaps assets[${i}] (${asset.name}, "${p}") in replica bucket ${asset.replica.bucket}: set distinct replica.prefix values`,
        );
      }
    });
  });
};

/** A replica bucket is the stack's or one vault account's: every asset in it says the same. */
const oneOwnerPerReplicaBucket: PolicyRule = (policy, ctx) => {
  const owners = new Map<string, { account: string | undefined; i: number }>();
  policy.assets.forEach((asset, i) => {
    const first = owners.get(asset.replica.bucket);
    if (!first) owners.set(asset.replica.bucket, { account: asset.replica.account, i });
    else if (first.account !== asset.replica.account) {
      issue(
        ctx,
        ['assets', i, 'replica', 'account'],
        `must be the same as assets[${first.i}].replica.account (${first.account ?? 'none: the stack owns the bucket'}): replica bucket ${asset.replica.bucket} has one owner`,
      );
    }
  });
};

/**
 * Vector snapshots stay in the stack's account: their retention removes expired snapshots, which a
 * vault's bucket policy forbids every principal of this account (infra/vault-account.yml).
 */
const vectorSnapshotsOutsideVaults: PolicyRule = (policy, ctx) => {
  policy.assets.forEach((asset, i) => {
    if (asset.kind === 'vector-index' && asset.replica.account) {
      issue(
        ctx,
        ['assets', i, 'replica', 'account'],
        'is not supported for a vector-index asset: snapshot retention deletes expired snapshots, which the vault account refuses to this account; keep its snapshots in a bucket of the stack (Object Lock protects them there)',
      );
    }
  });
};

/** Replica buckets become CloudFormation resources named from their bucket names. */
const distinctReplicaResourceNames: PolicyRule = (policy, ctx) => {
  const resourceNames = new Map<string, string>();
  policy.assets.forEach((asset, i) => {
    const id = asset.replica.bucket.replace(/[^a-z0-9]/g, '');
    const seen = resourceNames.get(id);
    if (seen !== undefined && seen !== asset.replica.bucket) {
      issue(
        ctx,
        ['assets', i, 'replica', 'bucket'],
        `"${asset.replica.bucket}" and "${seen}" differ only in dots and hyphens; use one replica bucket or names that differ otherwise`,
      );
    } else resourceNames.set(id, asset.replica.bucket);
  });
};

/** What each vector engine needs to be reached: an endpoint of its shape, a vector bucket, a key. */
const vectorSourcesReachable: PolicyRule = (policy, ctx) => {
  policy.assets.forEach((asset, i) => {
    if (asset.kind !== 'vector-index') return;
    const { engine, endpoint, vectorBucket, credentialsSecretArn } = asset.source;
    const wanted = engineEndpoints[engine];
    const path = ['assets', i, 'source'];
    if (wanted && endpoint === undefined && engine !== 'pinecone') {
      issue(ctx, [...path, 'endpoint'], `is required for ${engine}, e.g. ${wanted.example}`);
    } else if (wanted && endpoint !== undefined && !wanted.pattern.test(endpoint)) {
      issue(ctx, [...path, 'endpoint'], `is not a ${engine} endpoint; expected e.g. ${wanted.example}`);
    }
    if (engine === 's3vectors' && vectorBucket === undefined) {
      issue(ctx, [...path, 'vectorBucket'], 'is required for s3vectors: the vector bucket holding the index');
    }
    if (engine === 'pinecone' && credentialsSecretArn === undefined) {
      issue(ctx, [...path, 'credentialsSecretArn'], 'is required for pinecone: a secret holding {"apiKey"}');
    }
    if (asset.snapshotPartitions > 1 && !partitionedScanEngines.includes(engine)) {
      issue(
        ctx,
        ['assets', i, 'snapshotPartitions'],
        `must be 1 for ${engine}, whose scan cannot be split; partitioned snapshots need ${partitionedScanEngines.join(', ')}`,
      );
    }
  });
};

/** The engines whose adapters split a scan into parts (VectorStore.partitionScan; a unit test holds the two together). */
export const partitionedScanEngines: readonly string[] = ['pgvector', 'chroma', 'lancedb', 's3vectors'];

/** A replica is never in its own source bucket, and a source key belongs to one asset. */
const objectSourcesDistinct: PolicyRule = (policy, ctx) => {
  const objectAssets = policy.assets
    .map((asset, i) => ({ asset, i }))
    .filter((a): a is { asset: ObjectAsset; i: number } => a.asset.kind !== 'vector-index');
  for (const { asset, i } of objectAssets) {
    if (asset.source.bucket === asset.replica.bucket) {
      issue(ctx, ['assets', i, 'replica', 'bucket'], 'must differ from source.bucket: a replica in the source bucket is no DR copy');
    }
    for (const { asset: other, i: j } of objectAssets) {
      if (j <= i || other.source.bucket !== asset.source.bucket) continue;
      if (other.source.prefix.startsWith(asset.source.prefix) || asset.source.prefix.startsWith(other.source.prefix)) {
        issue(
          ctx,
          ['assets', j, 'source', 'prefix'],
          `overlaps assets[${i}] (${asset.name}) in bucket ${asset.source.bucket}: a key must belong to one asset`,
        );
      }
    }
  }
};

/** The assets a drill's scope names, or every asset of its tiers. */
export function drillAssets(policy: Pick<PolicyShape, 'assets'>, drill: Drill): Asset[] {
  if (isServingDrill(drill)) return [];
  const { assets: names, tiers: ofTiers } = drill.scope;
  return policy.assets.filter((a) => (names ? names.includes(a.name) : (ofTiers ?? []).includes(a.tier)));
}

/**
 * A drill recovers something, writes only into its workspace (a bucket of restore.targetBuckets,
 * never a source or replica bucket; scratch indexes on a vector asset's engine), and a
 * region-outage drill keeps all of it in the DR region (deployment.region).
 */
const drillsStayInTheirWorkspace: PolicyRule = (policy, ctx) => {
  const names = new Map<string, number>();
  policy.drills.forEach((drill, i) => {
    const at = (...path: (string | number)[]) => ['drills', i, ...path];
    const first = names.get(drill.name);
    if (first !== undefined) issue(ctx, at('name'), `duplicate drill name "${drill.name}" (also drills[${first}].name)`);
    else names.set(drill.name, i);
    if (policy.assets.some((a) => a.name === drill.name))
      issue(
        ctx,
        at('name'),
        `"${drill.name}" is also an asset's name: a drill's alerts and incidents are kept under its name, so it must differ`,
      );
    if (isServingDrill(drill)) {
      if (!policy.serving?.services.some((s) => s.name === drill.service))
        issue(ctx, at('service'), `"${drill.service}" is not a service of serving.services: the drill fails a model service over`);
      return;
    }

    drill.scope.assets?.forEach((name, j) => {
      if (!policy.assets.some((a) => a.name === name)) issue(ctx, at('scope', 'assets', j), `"${name}" is not an asset of the policy`);
    });
    const inScope = drillAssets(policy, drill);
    const scopeNamed = (drill.scope.assets === undefined) !== (drill.scope.tiers === undefined); // else the schema said so
    if (scopeNamed && inScope.length === 0) issue(ctx, at('scope'), 'names no asset of the policy: a drill must recover something');
    if (drill.scenario === 'model-regression' && !inScope.some((a) => a.kind === 'model-artifacts')) {
      issue(ctx, at('scope'), 'must include a model-artifacts asset: a model-regression drill restores the previous model');
    }
    if (drill.scenario === 'data-corruption' && !inScope.some((a) => a.kind !== 'vector-index')) {
      issue(ctx, at('scope'), 'must include an object asset: a data-corruption drill corrupts and recovers objects');
    }

    const { bucket, vectorTarget } = drill.workspace;
    const target = policy.restore.targetBuckets.find((t) => t.bucket === bucket);
    const source = policy.assets.find((a) => a.kind !== 'vector-index' && a.source.bucket === bucket);
    const replicaOf = policy.assets.find((a) => a.replica.bucket === bucket);
    if (source) {
      issue(
        ctx,
        at('workspace', 'bucket'),
        `"${bucket}" is the source bucket of asset ${source.name}: a drill never writes into a source bucket`,
      );
    } else if (replicaOf) {
      issue(
        ctx,
        at('workspace', 'bucket'),
        `"${bucket}" is the replica bucket of asset ${replicaOf.name}: a drill never writes into the replica`,
      );
    } else if (!target) {
      issue(
        ctx,
        at('workspace', 'bucket'),
        `"${bucket}" is not one of restore.targetBuckets: a drill writes only into a bucket listed there`,
      );
    } else if (drill.scenario === 'region-outage' && target.region !== policy.deployment.region) {
      issue(
        ctx,
        at('workspace', 'bucket'),
        `"${bucket}" is in ${target.region}; a region-outage drill restores into the DR region (${policy.deployment.region})`,
      );
    }

    if (!inScope.some((a) => a.kind === 'vector-index')) return;
    const engineAsset = vectorTarget === undefined ? undefined : policy.assets.find((a) => a.name === vectorTarget);
    if (vectorTarget === undefined) {
      issue(
        ctx,
        at('workspace', 'vectorTarget'),
        'is required when vector assets are in scope: the vector asset whose engine receives the scratch indexes',
      );
    } else if (engineAsset?.kind !== 'vector-index') {
      issue(ctx, at('workspace', 'vectorTarget'), `"${vectorTarget}" is not a vector-index asset of the policy`);
    } else if (drill.scenario === 'region-outage' && engineAsset.source.region !== policy.deployment.region) {
      issue(
        ctx,
        at('workspace', 'vectorTarget'),
        `"${vectorTarget}" is an engine in ${engineAsset.source.region}; a region-outage drill restores into an engine in the DR region (${policy.deployment.region})`,
      );
    }
  });
};

/** The report goes into a replica bucket (one the stack writes, in the DR region), beside the assets' replicas. */
const reportBesideTheReplicas: PolicyRule = (policy, ctx) => {
  const { bucket, prefix } = policy.report;
  if (bucket !== undefined && !policy.assets.some((a) => a.replica.bucket === bucket)) {
    issue(ctx, ['report', 'bucket'], `"${bucket}" is not a replica bucket of the policy: the report is written into one the stack owns`);
    return;
  }
  const into = bucket ?? policy.assets[0]?.replica.bucket;
  // An object asset's replica is everything under its prefix (an empty one: the whole bucket); a
  // vector asset's is its snapshots, under <prefix>snapshots/.
  const overlapping = policy.assets.find(
    (a) => a.replica.bucket === into && overlap(prefix, a.kind === 'vector-index' ? `${replicaPrefix(a)}snapshots/` : replicaPrefix(a)),
  );
  for (const name of Object.keys(policy.report.publicStatus?.assets ?? {}))
    if (!policy.assets.some((a) => a.name === name))
      issue(ctx, ['report', 'publicStatus', 'assets', name], `"${name}" is not an asset of the policy`);
  if (overlapping)
    issue(
      ctx,
      ['report', 'prefix'],
      `"${prefix}" overlaps the replica prefix of asset ${overlapping.name} in ${into}: choose another prefix`,
    );
};

/** Dataset versions are written beside the replicas, never over one: a prefix the policy sets must leave room in every object asset's bucket. */
const lineageBesideTheReplicas: PolicyRule = (policy, ctx) => {
  if (!policy.lineage?.prefix) return; // the default prefix: a bucket it would crowd gets no dataset versions (refused by request)
  const crowded = lineageConflicts(policy as Policy)[0];
  if (crowded) issue(ctx, ['lineage', 'prefix'], `"${policy.lineage.prefix}" ${crowded.reason}: choose another prefix`);
};

/** Request files go to a source bucket whose events reach the stack, beside the assets, never inside one (it would be replicated). */
const requestsBesideTheAssets: PolicyRule = (policy, ctx) => {
  const requests = policy.lineage?.requests;
  if (!requests) return;
  const sources = policy.assets.filter((a): a is ObjectAsset => a.kind !== 'vector-index' && a.source.bucket === requests.bucket);
  if (sources.length === 0 || sources.every((a) => a.source.endpoint)) {
    issue(
      ctx,
      ['lineage', 'requests', 'bucket'],
      `"${requests.bucket}" is not the source bucket of an object asset of this account: its S3 events would not reach the stack`,
    );
    return;
  }
  const inside = sources.find((a) => requests.prefix.startsWith(a.source.prefix) || a.source.prefix.startsWith(requests.prefix));
  if (inside)
    issue(
      ctx,
      ['lineage', 'requests', 'prefix'],
      `"${requests.prefix}" overlaps asset ${inside.name} ("${inside.source.prefix}"): request files would be replicated as its data`,
    );
};

/** The default prefix of dataset versions in each object asset's replica bucket. */
export const DEFAULT_LINEAGE_PREFIX = '_dr-lineage/';

/** Where batch restores keep their job files in a replica bucket (functions/restore/batch-restore.ts). */
export const RESTORE_JOBS_PREFIX = 'restore-jobs/';

/**
 * The asset whose replica prefix in `bucket` overlaps restore-jobs/ (an asset replicated into the
 * whole bucket overlaps every prefix): batch restores of that bucket's assets are refused, since
 * their job files would mix with its replica.
 */
export function restoreJobsConflict(policy: Policy, bucket: string): Asset | undefined {
  return policy.assets.find((a) => a.replica.bucket === bucket && overlap(RESTORE_JOBS_PREFIX, replicaPrefix(a)));
}

/**
 * Replica buckets of object assets where dataset versions cannot go, with why: their prefix would
 * overlap a replica (an asset replicated into the whole bucket overlaps every prefix) or the report.
 */
export function lineageConflicts(policy: Policy): { bucket: string; reason: string }[] {
  const prefix = policy.lineage?.prefix ?? DEFAULT_LINEAGE_PREFIX;
  const reportBucket = policy.report.bucket ?? policy.assets[0]?.replica.bucket;
  const conflicts: { bucket: string; reason: string }[] = [];
  for (const bucket of new Set(policy.assets.filter(isObjectAsset).map((a) => a.replica.bucket))) {
    const overlapping = policy.assets.find(
      (a) => a.replica.bucket === bucket && overlap(prefix, a.kind === 'vector-index' ? `${replicaPrefix(a)}snapshots/` : replicaPrefix(a)),
    );
    if (overlapping) conflicts.push({ bucket, reason: `overlaps the replica prefix of asset ${overlapping.name} in ${bucket}` });
    else if (bucket === reportBucket && overlap(prefix, policy.report.prefix))
      conflicts.push({ bucket, reason: `overlaps the report's prefix in ${bucket}` });
  }
  return conflicts;
}

/** Service names are unique, and endpoint ids unique within a service (the switch names one). */
const distinctServingNames: PolicyRule = (policy, ctx) => {
  const services = policy.serving?.services ?? [];
  services.forEach((service, i) => {
    if (services.findIndex((s) => s.name === service.name) !== i)
      issue(ctx, ['serving', 'services', i, 'name'], `service "${service.name}" is named twice`);
    const ids = [service.primary, ...service.fallbacks].map((e) => e.id);
    ids.forEach((id, j) => {
      if (ids.indexOf(id) !== j)
        issue(ctx, ['serving', 'services', i, 'fallbacks', j - 1, 'id'], `endpoint "${id}" is named twice in service ${service.name}`);
    });
  });
};

/**
 * A model service's name is its alerts' and incidents' "asset": it differs from every asset's and
 * drill's name, so that their records never mix.
 */
const servingNamesOwn: PolicyRule = (policy, ctx) => {
  (policy.serving?.services ?? []).forEach((service, i) => {
    const clash = policy.assets.some((a) => a.name === service.name)
      ? 'an asset'
      : policy.drills.some((d) => d.name === service.name)
        ? 'a drill'
        : undefined;
    if (clash)
      issue(
        ctx,
        ['serving', 'services', i, 'name'],
        `"${service.name}" is also ${clash}'s name: a service's alerts and incidents are kept under its name`,
      );
  });
};

/** A smoke eval's golden prompts are a key of an eval-set asset of the policy. */
const smokeEvalsOfEvalSets: PolicyRule = (policy, ctx) => {
  (policy.serving?.services ?? []).forEach((service, i) => {
    const smoke = service.smokeEval;
    if (!smoke) return;
    const path = ['serving', 'services', i, 'smokeEval'];
    const asset = policy.assets.find((a) => a.name === smoke.asset);
    if (asset?.kind !== 'eval-set') issue(ctx, [...path, 'asset'], `"${smoke.asset}" is not an eval-set asset of the policy`);
    else if (!smoke.key.startsWith(asset.source.prefix))
      issue(ctx, [...path, 'key'], `"${smoke.key}" is not under asset ${asset.name}'s prefix "${asset.source.prefix}"`);
  });
};

/** A SageMaker endpoint's artifact is a key of a model-artifacts asset of the policy. */
const servedArtifactsReplicated: PolicyRule = (policy, ctx) => {
  (policy.serving?.services ?? []).forEach((service, i) =>
    [service.primary, ...service.fallbacks].forEach((endpoint, j) => {
      const served = endpoint.servesArtifact;
      if (!served) return;
      const path = ['serving', 'services', i, ...(j === 0 ? ['primary'] : ['fallbacks', j - 1]), 'servesArtifact'];
      const asset = policy.assets.find((a) => a.name === served.asset);
      if (asset?.kind !== 'model-artifacts')
        issue(ctx, [...path, 'asset'], `"${served.asset}" is not a model-artifacts asset of the policy`);
      else if (!served.key.startsWith(asset.source.prefix))
        issue(ctx, [...path, 'key'], `"${served.key}" is not under asset ${asset.name}'s prefix "${asset.source.prefix}"`);
    }),
  );
};

const crossFieldRules: readonly PolicyRule[] = [
  uniqueAssetNames,
  kmsKeyInDeploymentRegion,
  replicasInDeploymentRegion,
  distinctReplicaPrefixes,
  distinctReplicaResourceNames,
  oneOwnerPerReplicaBucket,
  vectorSnapshotsOutsideVaults,
  vectorSourcesReachable,
  objectSourcesDistinct,
  drillsStayInTheirWorkspace,
  reportBesideTheReplicas,
  lineageBesideTheReplicas,
  requestsBesideTheAssets,
  distinctServingNames,
  servedArtifactsReplicated,
  smokeEvalsOfEvalSets,
  servingNamesOwn,
];

export const policySchema = policyShape.superRefine((policy, ctx) => {
  for (const rule of crossFieldRules) rule(policy, ctx);
});

export type Policy = z.infer<typeof policySchema>;
export type Asset = z.infer<typeof assetSchema>;
export type ObjectAsset = z.infer<typeof objectAsset>;
export type VectorAsset = z.infer<typeof vectorAsset>;

export function isObjectAsset(asset: Asset): asset is ObjectAsset {
  return asset.kind !== 'vector-index';
}
