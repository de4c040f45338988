import { evaluateCheck, type AlertDeps } from '../alerts/evaluate.js';
import type { TargetEvent } from '../alerts/target-events.js';
import type { Asset, ObjectAsset, VectorAsset } from '../policy/schema.js';
import { rtoCheck, type RestoreTestResult } from './restore-test.js';

/** Where each restore test's result is kept (the history an operator or a drill report reads). */
export interface RestoreTestLog {
  record(result: RestoreTestResult): Promise<void>;
}

export interface RestoreTestDeps {
  testData: (asset: ObjectAsset) => Promise<RestoreTestResult>;
  testVectors: (asset: VectorAsset) => Promise<RestoreTestResult>;
  log: RestoreTestLog;
  alerts: AlertDeps;
}

/**
 * One scheduled restore test of one asset (verify-restore): run it, record the result, and raise or
 * clear the asset's RTO alert (a failed test or an RTO over target is "DR Target Missed").
 */
export async function runRestoreTest(deps: RestoreTestDeps, asset: Asset): Promise<{ result: RestoreTestResult; events: TargetEvent[] }> {
  const result = asset.kind === 'vector-index' ? await deps.testVectors(asset) : await deps.testData(asset);
  await deps.log.record(result);
  const events = await evaluateCheck(deps.alerts, rtoCheck(asset, result));
  return { result, events };
}
