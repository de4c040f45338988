import { z } from 'zod';
import { readJsonSecret } from '../shared/secrets.js';
import { MlflowRestRegistry } from './mlflow-registry.js';
import { DynamoLedger } from '../ledger/dynamo-ledger.js';
import { lineagePrefix, replicatedAssets } from '../policy/assets.js';
import { S3RequestFiles } from './dataset-requests.js';
import { loadPolicyFile } from '../policy/load.js';
import type { ObjectAsset, Policy } from '../policy/schema.js';
import { dynamoDocumentClient, lambdaClient, s3Client } from '../shared/aws-clients.js';
import type { Config, VerifyConfig } from '../shared/config.js';
import { destroyAllVersions } from '../storage/destroy-prefix.js';
import { DynamoLineageCheckStore } from './dynamo-lineage-check-store.js';
import { S3LifecycleSource } from './lifecycle-rules.js';
import type { LineageCheckDeps } from './lineage-check.js';
import { LambdaSelfContinuation } from '../shared/continuation.js';
import { createStores } from '../storage/stores.js';
import { multipartOf } from '../policy/multipart.js';
import { lineagePlanStore } from '../restore/dynamo-plan-store.js';
import type { ModelPlanContents, ModelRestoreDeps } from './restore-model.js';
import type { BuildDeps } from './build-dataset-version.js';
import { DynamoDatasetCatalog } from './dynamo-dataset-catalog.js';
import { DynamoModelCatalog } from './dynamo-model-catalog.js';
import { S3DatasetObjects, S3ObjectHolds } from './dataset-objects.js';
import { DynamoHoldStore } from './dynamo-hold-store.js';
import type { RetireDeps, RetirePlanContents } from './retire-model.js';

/** The region of the request files' bucket: its assets' source region. */
const sourceRegionOf = (policy: Policy) =>
  replicatedAssets(policy).find((a) => a.source.bucket === policy.lineage?.requests?.bucket)?.source.region ?? policy.deployment.region;

const mlflowSecret = z.union([
  z.strictObject({ token: z.string().min(1) }),
  z.strictObject({ username: z.string().min(1), password: z.string().min(1) }),
]);

/** Composition root of lineage: the ledger, the dataset and model catalogs in the ledger table, dataset versions in each asset's replica bucket. */
export function createLineage(config: Config, functionName: string, now: () => Date = () => new Date()) {
  const policy: Policy = loadPolicyFile(config.policyPath);
  const db = dynamoDocumentClient();
  const ledger = new DynamoLedger(db, config.LEDGER_TABLE);
  const catalog = new DynamoDatasetCatalog(db, config.LEDGER_TABLE);
  const stores = createStores(config.DR_S3_FORCE_PATH_STYLE);
  const models = new DynamoModelCatalog(db, config.LEDGER_TABLE);
  const continuation = new LambdaSelfContinuation(lambdaClient(), functionName);
  const replicaS3 = (asset: ObjectAsset) => s3Client(asset.replica.region, config.DR_S3_FORCE_PATH_STYLE, { writes: true });
  return {
    policy,
    catalog,
    /** The same catalog, as registration reads it. */
    datasets: catalog,
    models,
    continuation,
    now,
    /** Dataset version requests dropped by pipelines, and their results (policy lineage.requests). */
    requestFiles: new S3RequestFiles(
      s3Client(policy.lineage?.requests ? sourceRegionOf(policy) : policy.deployment.region, config.DR_S3_FORCE_PATH_STYLE, {
        writes: true,
      }),
    ),
    /** The policy's MLflow server (lineage.mlflow), with its credentials read from Secrets Manager. */
    mlflow: async (): Promise<MlflowRestRegistry> => {
      const { trackingUri, credentialsSecretArn, pageSize } = policy.lineage!.mlflow!;
      const credentials = credentialsSecretArn
        ? await readJsonSecret(credentialsSecretArn, mlflowSecret, '{"token"} or {"username", "password"}')
        : {};
      return new MlflowRestRegistry({ trackingUri, ...credentials, ...(pageSize && { pageSize }) });
    },
    /** One invocation's holds and releases (legal-holds.ts) and retirements (retire-model.ts). */
    holdsFor: (remainingMs: () => number): RetireDeps => ({
      policy,
      now,
      remainingMs,
      holds: new DynamoHoldStore(db, config.LEDGER_TABLE),
      objects: (asset) => new S3DatasetObjects(replicaS3(asset), asset.replica.bucket),
      objectHolds: (asset) => new S3ObjectHolds(replicaS3(asset), asset.replica.bucket),
      activeUsers: (asset, id) => models.activeUsersOf(asset, id),
      datasets: catalog,
      models,
      plans: lineagePlanStore<RetirePlanContents>(db, config.LEDGER_TABLE, 'retire-model'),
      continueRelease: (asset, id) => continuation.continueLater({ release: { asset, id }, continuation: true }),
    }),
    /** One invocation's build of one asset's dataset version: `remainingMs` is its time left. */
    depsFor: (asset: ObjectAsset, remainingMs: () => number): BuildDeps => ({
      ledger,
      replica: stores.replicaOf(asset),
      objects: new S3DatasetObjects(replicaS3(asset), asset.replica.bucket),
      catalog,
      lineagePrefix: lineagePrefix(policy),
      now,
      remainingMs,
    }),
  };
}

/**
 * Composition root of restore-data by model (in the restore-data function): the model and dataset
 * catalogs and the plans in the ledger table, the manifests and objects in the replica buckets, the
 * target in its region. Continues in a new invocation of `functionName`.
 */
export function createModelRestorer(config: Config, functionName: string, now: () => Date = () => new Date()) {
  const policy: Policy = loadPolicyFile(config.policyPath);
  const db = dynamoDocumentClient();
  const ledger = new DynamoLedger(db, config.LEDGER_TABLE);
  const stores = createStores(config.DR_S3_FORCE_PATH_STYLE);
  const shared = {
    policy,
    models: new DynamoModelCatalog(db, config.LEDGER_TABLE),
    datasets: new DynamoDatasetCatalog(db, config.LEDGER_TABLE),
    plans: lineagePlanStore<ModelPlanContents>(db, config.LEDGER_TABLE, 'restore-model'),
    continuation: new LambdaSelfContinuation(lambdaClient(), functionName),
    now,
  };
  return {
    ...shared,
    /** One invocation's restorer: `remainingMs` is its time left. */
    depsFor: (remainingMs: () => number): ModelRestoreDeps => ({
      ...shared,
      remainingMs,
      forAsset: (asset: ObjectAsset, targetRegion: string) => ({
        objects: new S3DatasetObjects(s3Client(asset.replica.region, config.DR_S3_FORCE_PATH_STYLE), asset.replica.bucket),
        ledger,
        replica: stores.replicaOf(asset),
        target: stores.inRegion(targetRegion),
        multipart: multipartOf(policy),
      }),
    }),
  };
}

/**
 * Composition root of the lineage check (in verify-restore, which has the scratch bucket, the
 * alerts and the restore-test log): holds, catalogs and the check in the ledger table, lifecycle
 * configurations and replicas on S3.
 */
export function createLineageChecker(
  config: VerifyConfig,
  shared: Pick<LineageCheckDeps, 'alerts' | 'log'>,
  now: () => Date = () => new Date(),
) {
  const policy: Policy = loadPolicyFile(config.policyPath);
  const db = dynamoDocumentClient();
  const stores = createStores(config.DR_S3_FORCE_PATH_STYLE);
  const s3 = (region: string) => s3Client(region, config.DR_S3_FORCE_PATH_STYLE, { writes: true });
  const scratchS3 = s3(policy.deployment.region);
  return (remainingMs: () => number): LineageCheckDeps => ({
    ...shared,
    policy,
    now,
    remainingMs,
    holds: new DynamoHoldStore(db, config.LEDGER_TABLE),
    datasets: new DynamoDatasetCatalog(db, config.LEDGER_TABLE),
    models: new DynamoModelCatalog(db, config.LEDGER_TABLE),
    lifecycle: new S3LifecycleSource((region) => s3Client(region, config.DR_S3_FORCE_PATH_STYLE)),
    checks: new DynamoLineageCheckStore(db, config.LEDGER_TABLE),
    objects: (asset) => new S3DatasetObjects(s3(asset.replica.region), asset.replica.bucket),
    ledger: new DynamoLedger(db, config.LEDGER_TABLE),
    replica: (asset) => stores.replicaOf(asset),
    scratch: {
      bucket: config.DR_SCRATCH_BUCKET,
      store: stores.inRegion(policy.deployment.region),
      destroy: (bucket, prefix) => destroyAllVersions(scratchS3, bucket, prefix),
    },
    multipart: multipartOf(policy),
  });
}
