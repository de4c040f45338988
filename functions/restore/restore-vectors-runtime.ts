import { loadPolicyFile } from '../policy/load.js';
import type { Policy, VectorAsset } from '../policy/schema.js';
import { dynamoDocumentClient, lambdaClient, s3Client } from '../shared/aws-clients.js';
import type { Config } from '../shared/config.js';
import { LambdaSelfContinuation, type Continuation } from '../shared/continuation.js';
import { DynamoSnapshotCatalog } from '../vectors/dynamo-snapshot-catalog.js';
import { openVectorStore } from '../vectors/open-store.js';
import { S3SnapshotObjects } from '../vectors/snapshot-objects.js';
import { vectorPlanParts, vectorPlanStore } from './dynamo-plan-store.js';
import { parseVectorRestore } from './restore-vectors-request.js';
import { restoreVectors, type VectorRestoreDeps } from './restore-vectors.js';
import type { VerifyVectorsDeps } from './verify-vectors.js';

/**
 * Composition root of restore-vectors: plans and the snapshot catalog in the ledger table, snapshot
 * files in the replica buckets (read only), engines through their adapters.
 */
export function createVectorRestorer(
  config: Config,
  functionName: string,
  now: () => Date = () => new Date(),
  continuation: Continuation = new LambdaSelfContinuation(lambdaClient(), functionName),
) {
  const policy: Policy = loadPolicyFile(config.policyPath);
  const db = dynamoDocumentClient();
  const plans = vectorPlanStore(db, config.LEDGER_TABLE);
  const catalog = new DynamoSnapshotCatalog(db, config.LEDGER_TABLE);
  const s3 = s3Client(policy.deployment.region, config.DR_S3_FORCE_PATH_STYLE);
  return {
    policy,
    depsFor: (remainingMs: () => number): VectorRestoreDeps => ({
      policy,
      plans,
      parts: vectorPlanParts(db, config.LEDGER_TABLE),
      catalog,
      objectsFor: (bucket) => new S3SnapshotObjects(s3, bucket),
      openStore: openVectorStore,
      continuation,
      now,
      remainingMs,
    }),
  };
}

/**
 * restore-vectors as another function runs it in its own invocations (a drill, a restore test in
 * parts): each call parsed against the policy and run here, the parts and continuations of its
 * restores sent to the restore-vectors function (DR_RESTORE_VECTORS_FUNCTION).
 */
export function vectorRestoresInParts(config: Config & { DR_RESTORE_VECTORS_FUNCTION?: string }, now: () => Date = () => new Date()) {
  // Made on first use: most invocations of a drill or restore test restore nothing in parts (no cold-start cost).
  let restorer: ReturnType<typeof createVectorRestorer> | undefined;
  return (remainingMs: () => number) => (payload: Record<string, unknown>) => {
    const name = config.DR_RESTORE_VECTORS_FUNCTION;
    if (!name)
      throw new Error('a vector restore in parts needs DR_RESTORE_VECTORS_FUNCTION (the restore-vectors function its parts run in)');
    restorer ??= createVectorRestorer(config, name, now);
    return restoreVectors(parseVectorRestore(payload, restorer.policy, now()), restorer.depsFor(remainingMs));
  };
}

/** The vector half of verify-restore: what verifyVectorRestore needs for one asset. */
export function createVectorRestoreTester(config: Config, now: () => Date = () => new Date()) {
  const catalog = new DynamoSnapshotCatalog(dynamoDocumentClient(), config.LEDGER_TABLE);
  const region = loadPolicyFile(config.policyPath).deployment.region;
  const s3 = s3Client(region, config.DR_S3_FORCE_PATH_STYLE);
  return (asset: VectorAsset): VerifyVectorsDeps => ({
    catalog,
    objects: new S3SnapshotObjects(s3, asset.replica.bucket),
    openStore: openVectorStore,
    now,
  });
}
