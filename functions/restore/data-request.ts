import { z } from 'zod';
import { replicatedAssets } from '../policy/assets.js';
import { assetNameRef, type ObjectAsset, type Policy, RESTORE_JOBS_PREFIX, restoreJobsConflict } from '../policy/schema.js';
import { quote } from '../shared/errors.js';
import { PayloadError, parsePayload, pastTime } from '../shared/payload.js';
import { checkPlanToken, planTokenField } from './restore-plan.js';

/**
 * The restore-data payload (events/restore-data/): what to restore, as of when, where to.
 *   {"asset", "prefix"?, "asOf"?, "target"?: {"bucket", "prefix"?}, "overwriteNewer"?, "dryRun"?, "planToken"?}
 * or {"restoreId"} for the state of a restore (and to continue one).
 */
const isoTime = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time such as 2026-11-26T12:00:00Z' });

/** Where a restore writes (resolveTarget): a bucket of the policy and a prefix in it. */
export const restoreTarget = z.strictObject({ bucket: z.string().min(3).max(63), prefix: z.string().max(1024).optional() });

const restoreSchema = z.strictObject({
  asset: assetNameRef,
  /** Only keys under this source prefix (within the asset's prefix). Default: the whole asset. */
  prefix: z.string().max(1024).optional(),
  /** Restore each key as it was at this time. Default: now. */
  asOf: isoTime.optional(),
  /** Default: the asset's own source bucket and prefix (in place). */
  target: restoreTarget.optional(),
  /** Overwrite a target object that is newer than the version being restored. Default false. */
  overwriteNewer: z.boolean().default(false),
  /** function: copied by restore-data's own invocations; batch-operations: an S3 Batch Operations job (large restores). */
  method: z.enum(['function', 'batch-operations']).default('function'),
  dryRun: z.boolean().default(false),
  planToken: planTokenField.optional(),
});
const statusSchema = z.strictObject({
  restoreId: z.string().regex(/^[0-9a-f]{32}$/, 'must be the 32-hex-digit planToken of a restore'),
  continuation: z.boolean().optional(),
});

const EXPECTED = [
  '{"asset": "<object asset>", "prefix"?: "<key prefix>", "asOf"?: "<ISO time>", "target"?: {"bucket", "prefix"?}, ',
  '"overwriteNewer"?: false, "method"?: "function" | "batch-operations", "dryRun"?: true, "planToken"?: "<from the dry run>"} or {"restoreId": "<planToken>"}',
].join('');

/** The request a plan is made for: every default filled in, the time absolute. */
export interface DataRestoreRequest {
  asset: string;
  prefix: string;
  asOf: string;
  target: { bucket: string; prefix: string; region: string };
  overwriteNewer: boolean;
  /** Absent in plans made before batch restores: function. */
  method?: 'function' | 'batch-operations';
}

export type DataRestoreCall =
  | {
      kind: 'restore';
      request: DataRestoreRequest;
      dryRun: boolean;
      planToken?: string;
      asset: ObjectAsset;
      /** No asOf in the payload: "now" for a dry run, the plan's time for a run. */
      asOfDefaulted: boolean;
    }
  | { kind: 'status'; restoreId: string; continuation: boolean };

/** Parses and checks a payload against the policy; one PayloadError naming the field, else the call. */
export function parseDataRestore(payload: unknown, policy: Policy, now: Date): DataRestoreCall {
  if (payload && typeof payload === 'object' && 'restoreId' in payload) {
    const status = parsePayload(statusSchema, payload, EXPECTED);
    return { kind: 'status', restoreId: status.restoreId, continuation: status.continuation ?? false };
  }
  const input = parsePayload(restoreSchema, payload, EXPECTED);
  const assets = replicatedAssets(policy);
  const asset = assets.find((a) => a.name === input.asset);
  if (!asset)
    throw new PayloadError(
      `asset: ${quote(input.asset)} is not a replicated asset of the policy (${assets.map((a) => a.name).join(', ')})`,
    );

  const prefix = input.prefix ?? asset.source.prefix;
  if (!prefix.startsWith(asset.source.prefix)) {
    throw new PayloadError(`prefix: ${quote(prefix)} is outside asset ${asset.name}, whose keys start with "${asset.source.prefix}"`);
  }
  const asOf = input.asOf ? pastTime('asOf', input.asOf, now) : now;

  const target = resolveTarget(input.target, asset, policy);
  const crowded = input.method === 'batch-operations' ? restoreJobsConflict(policy, asset.replica.bucket) : undefined;
  if (crowded)
    throw new PayloadError(
      `method: "batch-operations" keeps its job files under ${RESTORE_JOBS_PREFIX} in ${asset.replica.bucket}, which overlaps the replica of asset ${crowded.name}; restore with "method": "function"`,
    );
  checkPlanToken(input);
  const request: DataRestoreRequest = {
    asset: asset.name,
    prefix,
    asOf: asOf.toISOString(),
    target,
    overwriteNewer: input.overwriteNewer,
    ...(input.method === 'batch-operations' && { method: input.method }),
  };
  return { kind: 'restore', request, dryRun: input.dryRun, planToken: input.planToken, asset, asOfDefaulted: input.asOf === undefined };
}

/** Where restored keys go: the asset's source bucket, another asset's, or one of restore.targetBuckets (also for restores by model). */
export function resolveTarget(target: { bucket: string; prefix?: string } | undefined, asset: ObjectAsset, policy: Policy) {
  const bucket = target?.bucket ?? asset.source.bucket;
  const prefix = target?.prefix ?? asset.source.prefix;
  if (prefix !== '' && !prefix.endsWith('/')) throw new PayloadError(`target.prefix: ${quote(prefix)} must be empty or end with "/"`);
  const replicaBuckets = new Set(policy.assets.map((a) => a.replica.bucket));
  if (replicaBuckets.has(bucket))
    throw new PayloadError(`target.bucket: ${quote(bucket)} is a replica bucket; a restore never writes into the replica`);
  const sources = replicatedAssets(policy).filter((a) => a.source.bucket === bucket);
  const remote = sources.find((a) => a.source.endpoint || a.source.credentialsSecretArn);
  if (remote)
    throw new PayloadError(
      `target.bucket: ${quote(bucket)} is on another endpoint or account (${remote.name}); restore into one of restore.targetBuckets and copy from there`,
    );
  const region = sources[0]?.source.region ?? policy.restore.targetBuckets.find((t) => t.bucket === bucket)?.region;
  if (!region) {
    throw new PayloadError(
      `target.bucket: ${quote(bucket)} is outside the policy; restore into an asset's source bucket or one of ` +
        `restore.targetBuckets (${policy.restore.targetBuckets.map((t) => t.bucket).join(', ') || 'none configured'})`,
    );
  }
  return { bucket, prefix, region };
}
