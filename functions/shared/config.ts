import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { formatPath } from './field-path.js';

/** The environment a function runs with, parsed once; a missing or bad variable is named. */
const envSchema = z.object({
  LEDGER_TABLE: z.string().min(1),
  DR_POLICY_FILE: z.string().min(1).default('dr-policy.yml'),
  DR_LEASE_SECONDS: z.coerce.number().int().positive().default(360),
  /** replicate: where a long copy queues its continuation; reconcile: where it queues keys. */
  REPLICATION_QUEUE_URL: z.string().min(1).optional(),
  DR_S3_FORCE_PATH_STYLE: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  /** Set by Lambda; functions that continue themselves invoke this name. */
  AWS_LAMBDA_FUNCTION_NAME: z.string().min(1).optional(),
  /** restore-data: the name of the role S3 Batch Operations assumes to run a batch restore's job (absent: no batch restores). */
  RESTORE_BATCH_ROLE: z
    .string()
    .regex(/^[\w+=,.@-]{1,64}$/, 'must be an IAM role name')
    .optional(),
});

/** measure-rpo and status also publish events and read the dead-letter queue. */
const monitorEnvSchema = envSchema.extend({
  DR_EVENT_BUS: z.string().min(1),
  DEAD_LETTER_QUEUE_URL: z.string().min(1),
  /** The replication queue; its name (the URL's last segment) is the CloudWatch dimension of its age. */
  REPLICATION_QUEUE_URL: z.url(),
});

/** reconcile queues keys for replication. */
const reconcileEnvSchema = envSchema.extend({ REPLICATION_QUEUE_URL: z.string().min(1) });

/** verify-restore and dr-drill publish target events. */
const targetEventsEnvSchema = envSchema.extend({ DR_EVENT_BUS: z.string().min(1) });

/**
 * verify-restore also restores its samples into the stack's scratch bucket; a vector restore test in
 * parts (restoreParts) sends its restore's parts to restore-vectors.
 */
const verifyEnvSchema = targetEventsEnvSchema.extend({
  DR_SCRATCH_BUCKET: z.string().min(1),
  DR_RESTORE_VECTORS_FUNCTION: z.string().min(1).optional(),
});

/**
 * dr-drill, when the report function is deployed, tells it a drill finished; a vector restore in
 * parts (restoreParts) sends its parts to restore-vectors.
 */
const drillEnvSchema = targetEventsEnvSchema.extend({
  DR_REPORT_FUNCTION: z.string().min(1).optional(),
  DR_RESTORE_VECTORS_FUNCTION: z.string().min(1).optional(),
});

export type Config = z.infer<typeof envSchema> & { policyPath: string };
export type DrillConfig = z.infer<typeof drillEnvSchema> & { policyPath: string };
export type VerifyConfig = z.infer<typeof verifyEnvSchema> & { policyPath: string };
/** probe-serving publishes target events. */
export type ServingConfig = z.infer<typeof targetEventsEnvSchema> & { policyPath: string };
export type ReconcileConfig = z.infer<typeof reconcileEnvSchema> & { policyPath: string };
export type MonitorConfig = z.infer<typeof monitorEnvSchema> & { policyPath: string };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** What the AWS clients read from the environment, beyond the SDK's own variables. */
const clientEnvSchema = z.object({
  /** How long an S3 request may hang before it fails. */
  DR_S3_REQUEST_TIMEOUT_MS: z.coerce.number().int().positive().default(120_000),
  /** The SDK's endpoint overrides (the local AWS); LanceDB's object store needs them spelled out. */
  AWS_ENDPOINT_URL_S3: z.string().min(1).optional(),
  AWS_ENDPOINT_URL: z.string().min(1).optional(),
  /** Vault accounts' buckets and the account that must own each, as JSON (expectedBucketOwners in policy/assets.ts). */
  DR_EXPECTED_BUCKET_OWNERS: z
    .string()
    .default('{}')
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object of bucket names to 12-digit account ids' });
        return z.NEVER;
      }
    })
    .pipe(z.record(z.string().min(3), z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id'))),
});

export interface ClientEnv {
  s3RequestTimeoutMs: number;
  /** The S3 endpoint the SDK uses, when it is not AWS's. */
  s3Endpoint?: string;
  /** Buckets whose owner every request names (S3's bucket owner condition): a vault account's. */
  expectedBucketOwners: Record<string, string>;
}

export function parseClientEnv(env: NodeJS.ProcessEnv): ClientEnv {
  const parsed = check(clientEnvSchema, env);
  const s3Endpoint = parsed.AWS_ENDPOINT_URL_S3 ?? parsed.AWS_ENDPOINT_URL;
  return {
    s3RequestTimeoutMs: parsed.DR_S3_REQUEST_TIMEOUT_MS,
    ...(s3Endpoint && { s3Endpoint }),
    expectedBucketOwners: parsed.DR_EXPECTED_BUCKET_OWNERS,
  };
}

let parsedClientEnv: ClientEnv | undefined;

/** The clients' environment, parsed once per container. */
export const clientEnv = (): ClientEnv => (parsedClientEnv ??= parseClientEnv(process.env));

/**
 * With tracing turned off (POWERTOOLS_TRACE_ENABLED=false, from the policy's deployment.tracing:
 * false) the X-Ray SDK is to start in its manual mode: in its automatic mode it installs an async
 * hook (cls-hooked) that runs for every promise, traced or not, about 15 % of the replication
 * engine's CPU per version (docs/benchmarks.md). The SDK reads AWS_XRAY_MANUAL_MODE once, as it
 * loads, and takes any value as true, so this runs first (tracing-mode.ts) and leaves it unset while
 * tracing is on.
 */
export function applyTracingMode(env: NodeJS.ProcessEnv = process.env): void {
  if (env.POWERTOOLS_TRACE_ENABLED?.toLowerCase() === 'false') env.AWS_XRAY_MANUAL_MODE ??= 'true';
}

export function parseConfig(env: NodeJS.ProcessEnv): Config {
  return parseWith(envSchema, env);
}

export function parseMonitorConfig(env: NodeJS.ProcessEnv): MonitorConfig {
  return parseWith(monitorEnvSchema, env);
}

export function parseVerifyConfig(env: NodeJS.ProcessEnv): VerifyConfig {
  return parseWith(verifyEnvSchema, env);
}

export function parseServingConfig(env: NodeJS.ProcessEnv): ServingConfig {
  return parseWith(targetEventsEnvSchema, env);
}

export function parseDrillConfig(env: NodeJS.ProcessEnv): DrillConfig {
  return parseWith(drillEnvSchema, env);
}

export function parseReconcileConfig(env: NodeJS.ProcessEnv): ReconcileConfig {
  return parseWith(reconcileEnvSchema, env);
}

function check<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): z.infer<S> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
    throw new ConfigError(`invalid environment: ${problems.join('; ')}`);
  }
  return result.data;
}

function parseWith<S extends z.ZodType<z.infer<typeof envSchema>>>(schema: S, env: NodeJS.ProcessEnv): z.infer<S> & { policyPath: string } {
  const data = check(schema, env);
  const root = env.LAMBDA_TASK_ROOT ?? process.cwd();
  const file = data.DR_POLICY_FILE;
  return { ...data, policyPath: isAbsolute(file) ? file : join(root, file) };
}
