import { DynamoLedger } from '../ledger/dynamo-ledger.js';
import { loadPolicyFile } from '../policy/load.js';
import type { ObjectAsset, Policy } from '../policy/schema.js';
import { dynamoDocumentClient, sqsClient } from '../shared/aws-clients.js';
import type { ReconcileConfig } from '../shared/config.js';
import { createStores } from '../storage/stores.js';
import { DynamoReconcileStore } from './dynamo-reconcile-store.js';
import type { ReconcileDeps } from './reconcile-asset.js';
import { SqsHintQueue } from './sqs-hint-queue.js';

/** Composition root of reconcile: listings on S3, checkpoints in the ledger table, hints to the queue. */
export function createReconciler(config: ReconcileConfig, now: () => Date = () => new Date()) {
  const policy: Policy = loadPolicyFile(config.policyPath);
  const store = new DynamoReconcileStore(dynamoDocumentClient(), config.LEDGER_TABLE);
  const ledger = new DynamoLedger(dynamoDocumentClient(), config.LEDGER_TABLE);
  const queue = new SqsHintQueue(sqsClient(), config.REPLICATION_QUEUE_URL);
  const stores = createStores(config.DR_S3_FORCE_PATH_STYLE);
  return {
    policy,
    /** One asset's walk in this invocation: `remainingMs` is its time left, `maxKeys` bounds its keys. */
    depsFor: (asset: ObjectAsset, remainingMs: () => number, maxKeys?: number): ReconcileDeps => ({
      ledger,
      source: stores.sourceOf(asset).store,
      replica: stores.replicaOf(asset),
      store,
      queue,
      now,
      remainingMs,
      ...(maxKeys !== undefined && { maxKeys }),
    }),
  };
}
