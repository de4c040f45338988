import { DynamoAlertStateStore } from '../alerts/dynamo-alert-state.js';
import { DynamoIncidentLog } from '../alerts/dynamo-incident-log.js';
import { EventBridgePublisher } from '../alerts/eventbridge-publisher.js';
import { DynamoLedger } from '../ledger/dynamo-ledger.js';
import { loadPolicyFile } from '../policy/load.js';
import type { Policy } from '../policy/schema.js';
import { multipartOf } from '../policy/multipart.js';
import { dynamoDocumentClient, eventBridgeClient, lambdaClient, s3Client } from '../shared/aws-clients.js';
import { LambdaSelfContinuation } from '../shared/continuation.js';
import type { VerifyConfig } from '../shared/config.js';
import { destroyAllVersions } from '../storage/destroy-prefix.js';
import { createStores } from '../storage/stores.js';
import { DynamoRestoreTestLog } from './dynamo-restore-test-log.js';
import { DynamoScrubStore } from './dynamo-scrub-store.js';
import { createVectorRestoreTester, vectorRestoresInParts } from './restore-vectors-runtime.js';
import type { RestoreTestDeps } from './restore-tests.js';
import { verifyDataRestore } from './verify-data.js';
import { verifyVectorRestore, verifyVectorRestoreInParts } from './verify-vectors.js';

/** Composition root of verify-restore: the data and vector restore tests, their log, the alerts. */
export function createRestoreTester(config: VerifyConfig, now: () => Date = () => new Date()) {
  // A test in parts that outlasts an invocation continues in verify-restore; its restore's parts run in restore-vectors.
  const continuation = new LambdaSelfContinuation(lambdaClient(), config.AWS_LAMBDA_FUNCTION_NAME ?? 'verify-restore');
  const inParts = vectorRestoresInParts(config, now);
  const policy: Policy = loadPolicyFile(config.policyPath);
  const db = dynamoDocumentClient();
  const ledger = new DynamoLedger(db, config.LEDGER_TABLE);
  const stores = createStores(config.DR_S3_FORCE_PATH_STYLE);
  const scrub = new DynamoScrubStore(db, config.LEDGER_TABLE);
  const s3 = s3Client(policy.deployment.region, config.DR_S3_FORCE_PATH_STYLE, { writes: true });
  const vectorDeps = createVectorRestoreTester(config, now);
  const alerts = {
    store: new DynamoAlertStateStore(db, config.LEDGER_TABLE),
    publisher: new EventBridgePublisher(eventBridgeClient(), config.DR_EVENT_BUS),
    incidents: new DynamoIncidentLog(db, config.LEDGER_TABLE),
  };
  const log = new DynamoRestoreTestLog(db, config.LEDGER_TABLE);
  return {
    policy,
    /** The alerts and the restore-test log, for the lineage check that runs in the same function. */
    alerts,
    log,
    depsFor: (remainingMs: () => number): RestoreTestDeps => ({
      testData: (asset) =>
        verifyDataRestore(
          {
            ledger,
            replica: stores.replicaOf(asset),
            scratchBucket: config.DR_SCRATCH_BUCKET,
            scrub,
            destroy: (bucket, prefix) => destroyAllVersions(s3, bucket, prefix),
            now,
            remainingMs,
            multipart: multipartOf(policy),
          },
          asset,
        ),
      testVectors: async (asset, under) =>
        asset.restoreParts > 1
          ? verifyVectorRestoreInParts(
              asset,
              {
                ...vectorDeps(asset),
                restoreVectors: inParts(remainingMs),
                remainingMs,
                noteUnderWay: (test) => log.noteUnderWay(asset.name, test, now()),
              },
              under,
            )
          : { result: await verifyVectorRestore(asset, vectorDeps(asset)) },
      log,
      alerts,
      continuation,
      now,
    }),
  };
}
