import { z } from 'zod';
import { lineagePrefix, replicatedAssets } from '../policy/assets.js';
import { assetNameRef, lineageConflicts, type ObjectAsset, type Policy } from '../policy/schema.js';
import { quote } from '../shared/errors.js';
import { PayloadError, parsePayload, pastTime } from '../shared/payload.js';
import { checkPlanToken, planTokenField } from '../restore/restore-plan.js';
import type { DatasetRequest } from './build-dataset-version.js';
import { MAX_LINKS, splitModelRef, type ModelRegistration } from './model-records.js';

/**
 * The lineage function's payloads (docs/lineage.md, events/lineage/):
 *   {"dataset": {"asset", "prefix"?, "asOf"?, "name"?}}     create (or continue, or return) a dataset version
 *   {"datasetVersion": {"asset", "id"}}                      one dataset version
 *   {"datasetVersions": {"asset"}}                           the asset's dataset versions, newest first
 *   {"registerModel": {"name", "version", "trainedOn", "evaluatedOn"?, "artifacts"?, "metadata"?}}   a model record
 *   {"model": "<name>@<version>"}, {"modelVersions": "<name>"}, {"modelsUsing": {"asset", "id"}}
 */
const isoTime = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time such as 2026-11-26T12:00:00Z' });

const createSchema = z.strictObject({
  dataset: z.strictObject({
    asset: assetNameRef,
    /** Only keys under this source prefix (within the asset's). Default: the whole asset. */
    prefix: z.string().max(1024).optional(),
    /** Each key as it was at this time. Default: now. */
    asOf: isoTime.optional(),
    /** A name for people (and MLflow): letters, digits, ".", "_", "-". */
    name: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 letters, digits, ".", "_" or "-"')
      .optional(),
    /** Say what the dataset version would hold, or why it would be refused, and write nothing. */
    dryRun: z.boolean().default(false),
    /** While versions written by the time are pending replication, wait for them up to this long, then build (or refuse). */
    waitMinutes: z.number().int().min(1).max(1440).optional(),
    /** The end of the wait, as a continuation carries it (the function sends it to itself). */
    waitUntil: isoTime.optional(),
  }),
  continuation: z.boolean().optional(),
  /** A request file's result file, written when the build ends (dataset-requests.ts). */
  replyTo: z.strictObject({ bucket: z.string().min(3).max(63), key: z.string().min(1).max(1024) }).optional(),
});
const datasetRef = z.strictObject({ asset: assetNameRef, id: z.string().min(1).max(64) });
const getSchema = z.strictObject({ datasetVersion: datasetRef });
const listSchema = z.strictObject({ datasetVersions: z.strictObject({ asset: assetNameRef }) });

const modelName = z.string().regex(/^[A-Za-z0-9._/-]{1,128}$/, 'must be 1-128 letters, digits, ".", "_", "/" or "-"');
const modelVersion = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 letters, digits, ".", "_" or "-"');
/** A model registration, as a payload gives it and as the MLflow importer's are checked. */
export const registrationSchema = z
  .strictObject({
    name: modelName,
    version: modelVersion,
    /** Dataset versions of training-data assets. */
    trainedOn: z.array(datasetRef).min(1, 'must name at least one dataset version'),
    /** Dataset versions of eval-set assets. */
    evaluatedOn: z.array(datasetRef).default([]),
    /** Dataset versions of model-artifacts assets. */
    artifacts: z.array(datasetRef).default([]),
    /** Dataset versions of eval-results assets (what evaluating this version produced). */
    evalResults: z.array(datasetRef).default([]),
    /** Free text: code commit, registry URI, run id. */
    metadata: z.record(z.string().max(128), z.string().max(1024)).default({}),
  })
  .refine(
    (r) => r.trainedOn.length + r.evaluatedOn.length + r.artifacts.length + r.evalResults.length <= MAX_LINKS,
    `must link at most ${MAX_LINKS} dataset versions`,
  );
const registerSchema = z.strictObject({ registerModel: registrationSchema });
const importSchema = z.strictObject({
  importMlflow: z.strictObject({
    /** A registered model's name in MLflow. */
    model: z.string().min(1).max(256),
    /** One version of it. Default: every version. */
    version: z.string().min(1).max(64).optional(),
    /** Link a run's dataset versions and leave out its other inputs. Default: a version with other inputs is refused. */
    ignoreForeignInputs: z.boolean().default(false),
  }),
});
/** A model version, "<name>@<version>". */
export const modelRef = z.string().regex(/^[A-Za-z0-9._/-]{1,128}@[A-Za-z0-9._-]{1,64}$/, 'must be "<name>@<version>"');
const modelSchema = z.strictObject({ model: modelRef });
const modelVersionsSchema = z.strictObject({ modelVersions: modelName });
const evalHistorySchema = z.strictObject({ evalHistory: modelName });
const usingSchema = z.strictObject({ modelsUsing: datasetRef });
const retireSchema = z.strictObject({
  retireModel: z.strictObject({ model: modelRef, dryRun: z.boolean().default(false), planToken: planTokenField.optional() }),
});
/** What the function sends itself to continue a hold or a release that did not fit one invocation. */
const holdSchema = z.strictObject({ hold: datasetRef, continuation: z.literal(true) });
const releaseSchema = z.strictObject({ release: datasetRef, continuation: z.literal(true) });

const EXPECTED = [
  '{"dataset": {"asset", "prefix"?, "asOf"?, "name"?}} or {"datasetVersion": {"asset", "id"}} or {"datasetVersions": {"asset"}}',
  ' or {"registerModel": {"name", "version", "trainedOn": [{"asset", "id"}], "evaluatedOn"?, "artifacts"?, "evalResults"?, "metadata"?}}',
  ' or {"evalHistory": "<name>"}',
  ' or {"model": "<name>@<version>"} or {"modelVersions": "<name>"} or {"modelsUsing": {"asset", "id"}}',
  ' or {"retireModel": {"model": "<name>@<version>", "dryRun"?: true, "planToken"?: "<from the dry run>"}}',
  ' or {"importMlflow": {"model": "<MLflow registered model>", "version"?, "ignoreForeignInputs"?: false}}',
].join('');

export type LineageCall =
  | { kind: 'create'; asset: ObjectAsset; request: DatasetRequest; dryRun: boolean; replyTo?: { bucket: string; key: string } }
  | { kind: 'get'; asset: ObjectAsset; id: string }
  | { kind: 'list'; asset: ObjectAsset }
  | { kind: 'register'; registration: ModelRegistration }
  | { kind: 'model'; name: string; version: string }
  | { kind: 'model-versions'; name: string }
  | { kind: 'eval-history'; name: string }
  | { kind: 'models-using'; asset: string; id: string }
  | { kind: 'retire'; model: string; dryRun: boolean; planToken?: string }
  | { kind: 'import-mlflow'; model: string; version?: string; ignoreForeignInputs: boolean }
  | { kind: 'hold' | 'release'; asset: ObjectAsset; id: string };

function objectAsset(policy: Policy, name: string, field: string): ObjectAsset {
  const assets = replicatedAssets(policy);
  const asset = assets.find((a) => a.name === name);
  if (!asset)
    throw new PayloadError(`${field}: ${quote(name)} is not a replicated asset of the policy (${assets.map((a) => a.name).join(', ')})`);
  return asset;
}

/** Parses and checks a payload against the policy; one PayloadError naming the field, else the call. */
export function parseLineageCall(payload: unknown, policy: Policy, now: Date): LineageCall {
  const has = (field: string) => payload !== null && typeof payload === 'object' && field in payload;
  if (has('datasetVersion')) {
    const { datasetVersion } = parsePayload(getSchema, payload, EXPECTED);
    return { kind: 'get', asset: objectAsset(policy, datasetVersion.asset, 'datasetVersion.asset'), id: datasetVersion.id };
  }
  if (has('datasetVersions')) {
    const { datasetVersions } = parsePayload(listSchema, payload, EXPECTED);
    return { kind: 'list', asset: objectAsset(policy, datasetVersions.asset, 'datasetVersions.asset') };
  }
  if (has('registerModel')) return { kind: 'register', registration: parsePayload(registerSchema, payload, EXPECTED).registerModel };
  if (has('model')) {
    return { kind: 'model', ...splitModelRef(parsePayload(modelSchema, payload, EXPECTED).model) };
  }
  if (has('modelVersions')) return { kind: 'model-versions', name: parsePayload(modelVersionsSchema, payload, EXPECTED).modelVersions };
  if (has('evalHistory')) return { kind: 'eval-history', name: parsePayload(evalHistorySchema, payload, EXPECTED).evalHistory };
  if (has('modelsUsing')) return { kind: 'models-using', ...parsePayload(usingSchema, payload, EXPECTED).modelsUsing };
  if (has('importMlflow')) {
    if (!policy.lineage?.mlflow) throw new PayloadError('importMlflow: the policy names no MLflow server (lineage.mlflow.trackingUri)');
    return { kind: 'import-mlflow', ...parsePayload(importSchema, payload, EXPECTED).importMlflow };
  }
  if (has('retireModel')) {
    const { retireModel } = parsePayload(retireSchema, payload, EXPECTED);
    checkPlanToken(retireModel);
    return { kind: 'retire', ...retireModel };
  }
  if (has('hold')) {
    const { hold } = parsePayload(holdSchema, payload, EXPECTED);
    return { kind: 'hold', asset: objectAsset(policy, hold.asset, 'hold.asset'), id: hold.id };
  }
  if (has('release')) {
    const { release } = parsePayload(releaseSchema, payload, EXPECTED);
    return { kind: 'release', asset: objectAsset(policy, release.asset, 'release.asset'), id: release.id };
  }
  const { dataset, replyTo } = parsePayload(createSchema, payload, EXPECTED);
  const asset = objectAsset(policy, dataset.asset, 'dataset.asset');
  const crowded = lineageConflicts(policy).find((c) => c.bucket === asset.replica.bucket);
  if (crowded) {
    throw new PayloadError(
      `dataset.asset: ${asset.name}'s replica bucket has no room for dataset versions: "${lineagePrefix(policy)}" ${crowded.reason}; set lineage.prefix in the policy`,
    );
  }
  const prefix = dataset.prefix ?? asset.source.prefix;
  if (!prefix.startsWith(asset.source.prefix)) {
    throw new PayloadError(
      `dataset.prefix: ${quote(prefix)} is outside asset ${asset.name}, whose keys start with "${asset.source.prefix}"`,
    );
  }
  const asOf = dataset.asOf ? pastTime('dataset.asOf', dataset.asOf, now) : now;
  const continuation = (payload as { continuation?: boolean }).continuation === true;
  if (dataset.waitUntil && !continuation)
    throw new PayloadError('dataset.waitUntil: is sent by the function to itself; ask with "waitMinutes"');
  if (dataset.waitMinutes && dataset.dryRun) throw new PayloadError('dataset.waitMinutes: a dry run does not wait; leave one of them out');
  const waitUntil = dataset.waitUntil ?? (dataset.waitMinutes && new Date(now.getTime() + dataset.waitMinutes * 60_000).toISOString());
  return {
    kind: 'create',
    asset,
    request: {
      asset: asset.name,
      prefix,
      asOf: asOf.toISOString(),
      ...(dataset.name && { name: dataset.name }),
      ...(waitUntil && { waitUntil }),
    },
    dryRun: dataset.dryRun,
    ...(replyTo && { replyTo }),
  };
}
