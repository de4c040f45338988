import { loadPolicyFile } from '../policy/load.js';
import { lockOf } from '../policy/object-lock.js';
import type { Policy, VectorAsset } from '../policy/schema.js';
import { dynamoDocumentClient, lambdaClient, s3Client } from '../shared/aws-clients.js';
import type { Config } from '../shared/config.js';
import { logger } from '../shared/observability.js';
import { DynamoSnapshotCatalog } from './dynamo-snapshot-catalog.js';
import { openVectorStore } from './open-store.js';
import { S3SnapshotObjects } from './snapshot-objects.js';
import { LambdaSelfContinuation } from '../shared/continuation.js';
import type { ScheduledRunDeps } from './snapshot-run.js';

/** Composition root of snapshot-vectors: catalog in the ledger table, files in the replica bucket. */
export function createSnapshotter(config: Config, functionName: string, now: () => Date = () => new Date()) {
  const policy: Policy = loadPolicyFile(config.policyPath);
  const catalog = new DynamoSnapshotCatalog(dynamoDocumentClient(), config.LEDGER_TABLE);
  const continuation = new LambdaSelfContinuation(lambdaClient(), functionName);
  return {
    policy,
    depsFor: (asset: VectorAsset, remainingMs: () => number): ScheduledRunDeps => ({
      catalog,
      objects: new S3SnapshotObjects(
        s3Client(policy.deployment.region, config.DR_S3_FORCE_PATH_STYLE, { writes: true }),
        asset.replica.bucket,
      ),
      lock: lockOf(policy, asset),
      openStore: openVectorStore,
      continuation,
      now,
      remainingMs,
      log: (message, fields) => logger.info(message, fields),
    }),
  };
}
