import { evaluateCheck, type AlertDeps } from '../alerts/evaluate.js';
import type { TargetEvent } from '../alerts/target-events.js';
import type { Asset, ObjectAsset, VectorAsset } from '../policy/schema.js';
import type { Continuation } from '../shared/continuation.js';
import { rtoCheck, type RestoreTestResult } from './restore-test.js';
import type { VectorTestInParts, VectorTestStep } from './verify-vectors.js';

/** Where each restore test's result is kept (the history an operator or a drill report reads). */
export interface RestoreTestLog {
  /**
   * Records a result once: false when a result of the same test (asset and start) is recorded
   * already (a test in parts finished by two invocations; the first one's result stands).
   */
  record(result: RestoreTestResult): Promise<boolean>;
}

export interface RestoreTestDeps {
  testData: (asset: ObjectAsset) => Promise<RestoreTestResult>;
  /** `under`: a test in parts continued from an earlier invocation. */
  testVectors: (asset: VectorAsset, under?: VectorTestInParts) => Promise<VectorTestStep>;
  log: RestoreTestLog;
  alerts: AlertDeps;
  /** Where a restore test in parts that outlasts an invocation continues: {"asset", "continuation": {...}} to verify-restore. */
  continuation: Continuation;
}

/** `recorded` false: another invocation recorded this test's result first (its alert is that one's to raise). */
export type RestoreTestRun = { result: RestoreTestResult; events: TargetEvent[]; recorded: boolean } | { continued: VectorTestInParts };

/**
 * One scheduled restore test of one asset (verify-restore): run it, record the result, and raise or
 * clear the asset's RTO alert (a failed test or an RTO over target is "DR Target Missed"). A test
 * in parts that is still waiting for its restore continues in a new invocation (`under` there).
 */
export async function runRestoreTest(deps: RestoreTestDeps, asset: Asset, under?: VectorTestInParts): Promise<RestoreTestRun> {
  let result: RestoreTestResult;
  if (asset.kind === 'vector-index') {
    const step = await deps.testVectors(asset, under);
    if ('continueWith' in step) {
      await deps.continuation.continueLater({ asset: asset.name, continuation: step.continueWith });
      return { continued: step.continueWith };
    }
    result = step.result;
  } else result = await deps.testData(asset);
  if (!(await deps.log.record(result))) return { result, events: [], recorded: false };
  const events = await evaluateCheck(deps.alerts, rtoCheck(asset, result));
  return { result, events, recorded: true };
}
