import { DynamoAlertStateStore } from '../alerts/dynamo-alert-state.js';
import { DynamoIncidentLog } from '../alerts/dynamo-incident-log.js';
import { EventBridgePublisher } from '../alerts/eventbridge-publisher.js';
import { DynamoLedger } from '../ledger/dynamo-ledger.js';
import { loadPolicyFile } from '../policy/load.js';
import { cloudWatchClient, dynamoDocumentClient, eventBridgeClient, s3Client, sqsClient } from '../shared/aws-clients.js';
import { bucketLock } from '../storage/object-lock.js';
import type { MonitorConfig } from '../shared/config.js';
import { SqsDeadLetterQueue } from './dead-letter-queue.js';
import { CloudWatchQueueAge } from './queue-age.js';
import type { MonitorDeps } from './monitor.js';
import { recoveryPointsFrom } from './snapshot-catalog.js';
import { DynamoSnapshotCatalog } from '../vectors/dynamo-snapshot-catalog.js';

/** Composition root of measure-rpo and status: the AWS adapters behind the monitor's ports. */
export function createMonitorDeps(config: MonitorConfig, now: () => Date = () => new Date()) {
  const db = dynamoDocumentClient();
  const policy = loadPolicyFile(config.policyPath);
  const s3 = s3Client(policy.deployment.region, config.DR_S3_FORCE_PATH_STYLE);
  return {
    policy,
    bucketLock: (bucket: string) => bucketLock(s3, bucket),
    ledger: new DynamoLedger(db, config.LEDGER_TABLE),
    store: new DynamoAlertStateStore(db, config.LEDGER_TABLE),
    publisher: new EventBridgePublisher(eventBridgeClient(), config.DR_EVENT_BUS),
    incidents: new DynamoIncidentLog(db, config.LEDGER_TABLE),
    snapshots: recoveryPointsFrom(new DynamoSnapshotCatalog(db, config.LEDGER_TABLE)),
    deadLetters: new SqsDeadLetterQueue(sqsClient(), config.DEAD_LETTER_QUEUE_URL),
    queueAge: new CloudWatchQueueAge(cloudWatchClient(), config.REPLICATION_QUEUE_URL.split('/').at(-1)!),
    now,
  } satisfies MonitorDeps & { bucketLock: unknown };
}
