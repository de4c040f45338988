import { InvokeCommand } from '@aws-sdk/client-lambda';
import { DynamoAlertStateStore } from '../alerts/dynamo-alert-state.js';
import { DynamoIncidentLog } from '../alerts/dynamo-incident-log.js';
import { EventBridgePublisher } from '../alerts/eventbridge-publisher.js';
import { DynamoLedger } from '../ledger/dynamo-ledger.js';
import { loadPolicyFile } from '../policy/load.js';
import type { Policy } from '../policy/schema.js';
import { parseDataRestore } from '../restore/data-request.js';
import { restoreData } from '../restore/restore-data.js';
import { parseVectorRestore } from '../restore/restore-vectors-request.js';
import { createVectorRestorer, vectorRestoresInParts } from '../restore/restore-vectors-runtime.js';
import { restoreVectors } from '../restore/restore-vectors.js';
import { createDataRestorer } from '../restore/runtime.js';
import { measureAsset } from '../rpo/measure.js';
import { recoveryPointsFrom } from '../rpo/snapshot-catalog.js';
import { dynamoDocumentClient, eventBridgeClient, lambdaClient, s3Client } from '../shared/aws-clients.js';
import type { DrillConfig } from '../shared/config.js';
import { createServing } from '../serving/runtime.js';
import { LambdaSelfContinuation, type Continuation } from '../shared/continuation.js';
import { abortUploads, destroyVersionsWhile } from '../storage/destroy-prefix.js';
import { createStores } from '../storage/stores.js';
import { DynamoSnapshotCatalog } from '../vectors/dynamo-snapshot-catalog.js';
import { openVectorStore } from '../vectors/open-store.js';
import { S3SnapshotObjects } from '../vectors/snapshot-objects.js';
import type { DrillDeps } from './drill-deps.js';
import { DynamoDrillStore } from './dynamo-drill-store.js';

/** The drill continues its restores itself (they run inside its own invocations), so theirs go nowhere. */
const continuedByTheDrill: Continuation = { continueLater: async () => {} };

/**
 * Composition root of dr-drill. Every client is of the DR region (deployment.region) or of the
 * drill's workspace bucket: the ledger table, the replica buckets, the snapshot files, the engine of
 * the scratch indexes. Nothing here talks to a source.
 */
export function createDrillRunner(config: DrillConfig, functionName: string, now: () => Date = () => new Date()) {
  const policy: Policy = loadPolicyFile(config.policyPath);
  const db = dynamoDocumentClient();
  const ledger = new DynamoLedger(db, config.LEDGER_TABLE);
  const catalog = new DynamoSnapshotCatalog(db, config.LEDGER_TABLE);
  const stores = createStores(config.DR_S3_FORCE_PATH_STYLE);
  const data = createDataRestorer(config, functionName, now, continuedByTheDrill);
  const vectors = createVectorRestorer(config, functionName, now, continuedByTheDrill);
  const lambda = lambdaClient();
  // A vector restore in parts runs its parts (and the steps its last part takes) in restore-vectors.
  const inParts = vectorRestoresInParts(config, now);
  const store = new DynamoDrillStore(db, config.LEDGER_TABLE);
  // model-provider-outage drills follow their runbook through probe-serving's own code.
  const serving = createServing(config, now);
  return {
    policy,
    store,
    depsFor: (remainingMs: () => number): DrillDeps => ({
      policy,
      store,
      now,
      remainingMs,
      measure: (asset, at) => measureAsset({ ledger, snapshots: recoveryPointsFrom(catalog), at, windowSeconds: 3600 }, asset),
      restoreData: (payload) => restoreData(parseDataRestore(payload, policy, now()), data.depsFor(remainingMs)),
      restoreVectors: (payload, options) =>
        options?.inParts
          ? inParts(remainingMs)(payload)
          : restoreVectors(parseVectorRestore(payload, policy, now()), vectors.depsFor(remainingMs)),
      ledger,
      replicaStore: (asset) => stores.replicaOf(asset),
      workspaceStore: (region) => stores.inRegion(region),
      destroy: async (bucket, region, prefix, more) => {
        const s3 = s3Client(region, config.DR_S3_FORCE_PATH_STYLE, { writes: true });
        const aborted = await abortUploads(s3, bucket, prefix);
        const { removed, done } = await destroyVersionsWhile(s3, bucket, prefix, more);
        return { removed: aborted + removed, done };
      },
      snapshotObjects: (asset) =>
        new S3SnapshotObjects(s3Client(asset.replica.region, config.DR_S3_FORCE_PATH_STYLE), asset.replica.bucket),
      openStore: openVectorStore,
      alerts: {
        store: new DynamoAlertStateStore(db, config.LEDGER_TABLE),
        publisher: new EventBridgePublisher(eventBridgeClient(), config.DR_EVENT_BUS),
        incidents: new DynamoIncidentLog(db, config.LEDGER_TABLE),
      },
      continuation: new LambdaSelfContinuation(lambda, functionName),
      ...(serving && { serving }),
      ...(config.DR_REPORT_FUNCTION && {
        finished: async (drill, drillId) => {
          await lambda.send(
            new InvokeCommand({
              FunctionName: config.DR_REPORT_FUNCTION,
              InvocationType: 'Event',
              Payload: JSON.stringify({ trigger: 'drill', drill, drillId }),
            }),
          );
        },
      }),
    }),
  };
}
