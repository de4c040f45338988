import { DynamoLineageCheckStore } from '../lineage/dynamo-lineage-check-store.js';
import { DynamoAlertStateStore } from '../alerts/dynamo-alert-state.js';
import { DynamoIncidentLog } from '../alerts/dynamo-incident-log.js';
import { DynamoDrillStore } from '../drills/dynamo-drill-store.js';
import { DynamoLedger } from '../ledger/dynamo-ledger.js';
import { reportLocation } from '../policy/assets.js';
import { loadPolicyFile } from '../policy/load.js';
import { DynamoRestoreTestLog } from '../restore/dynamo-restore-test-log.js';
import { measureAsset } from '../rpo/measure.js';
import { recoveryPointsFrom } from '../rpo/snapshot-catalog.js';
import { cloudWatchClient, dynamoDocumentClient, s3Client } from '../shared/aws-clients.js';
import type { Config } from '../shared/config.js';
import { bucketLock } from '../storage/object-lock.js';
import { DynamoServingStateStore } from '../serving/dynamo-serving-state.js';
import { DynamoSnapshotCatalog } from '../vectors/dynamo-snapshot-catalog.js';
import { CloudWatchRpoHistory } from './cloudwatch-rpo-history.js';
import { S3ReportStore } from './s3-report-store.js';
import type { ReportDeps } from './write-report.js';

/** Composition root of the report function: CloudWatch and the ledger table in (with the lineage check and the model services' state), the report bucket out. */
export function createReportDeps(config: Config, now: () => Date = () => new Date()): ReportDeps {
  const policy = loadPolicyFile(config.policyPath);
  const db = dynamoDocumentClient();
  const ledger = new DynamoLedger(db, config.LEDGER_TABLE);
  const snapshots = recoveryPointsFrom(new DynamoSnapshotCatalog(db, config.LEDGER_TABLE));
  const s3 = s3Client(policy.deployment.region, config.DR_S3_FORCE_PATH_STYLE);
  const lineageChecks = new DynamoLineageCheckStore(db, config.LEDGER_TABLE);
  const servingStates = new DynamoServingStateStore(db, config.LEDGER_TABLE);
  return {
    policy,
    now,
    rpoHistory: new CloudWatchRpoHistory(cloudWatchClient()),
    // As measure-rpo measures, without the queue-age bound and the lag samples (the report shows neither).
    measure: (asset, at) => measureAsset({ ledger, snapshots, at, windowSeconds: 60, maxLagSamples: 1 }, asset),
    restoreTests: new DynamoRestoreTestLog(db, config.LEDGER_TABLE),
    incidents: new DynamoIncidentLog(db, config.LEDGER_TABLE),
    alertStates: new DynamoAlertStateStore(db, config.LEDGER_TABLE),
    drills: new DynamoDrillStore(db, config.LEDGER_TABLE),
    store: new S3ReportStore(s3, reportLocation(policy).bucket),
    bucketLock: (bucket) => bucketLock(s3, bucket),
    lineageCheck: () => lineageChecks.latest(),
    servingState: (service) => servingStates.get(service),
  };
}
