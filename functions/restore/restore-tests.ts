import { evaluateCheck, type AlertDeps } from '../alerts/evaluate.js';
import type { TargetEvent } from '../alerts/target-events.js';
import type { Asset, ObjectAsset, VectorAsset } from '../policy/schema.js';
import type { Continuation } from '../shared/continuation.js';
import { rtoCheck, type RestoreTestResult } from './restore-test.js';
import type { VectorTestInParts, VectorTestStep } from './verify-vectors.js';

/** A vector restore test in parts under way, and when an invocation last worked on it. */
export interface TestUnderWay {
  test: VectorTestInParts;
  seenAt: string;
}

/** Where each restore test's result is kept (the history an operator or a drill report reads). */
export interface RestoreTestLog {
  /**
   * Records a result once: false when a result of the same test (asset and start) is recorded
   * already (a test in parts finished by two invocations; the first one's result stands).
   */
  record(result: RestoreTestResult): Promise<boolean>;
  /** Notes the asset's test in parts under way (verifyVectorRestoreInParts: after its dry run, and at each hand-over). */
  noteUnderWay(asset: string, test: VectorTestInParts, at: Date): Promise<void>;
  /** The asset's test in parts under way, if any. */
  underWay(asset: string): Promise<TestUnderWay | undefined>;
  /** Forgets the asset's test under way if it is the one started at `startedAt` (its result is recorded). */
  clearUnderWay(asset: string, startedAt: string): Promise<void>;
}

/**
 * A test in parts hands over to a new invocation at least every 15 minutes (Lambda's longest
 * invocation). Seen longer ago than this, its continuation was lost (an asynchronous invocation that
 * failed every retry): the asset's next scheduled test takes it over instead of starting another.
 */
export const LOST_AFTER_MS = 20 * 60_000;

export interface RestoreTestDeps {
  testData: (asset: ObjectAsset) => Promise<RestoreTestResult>;
  /** `under`: a test in parts continued from an earlier invocation. */
  testVectors: (asset: VectorAsset, under?: VectorTestInParts) => Promise<VectorTestStep>;
  log: RestoreTestLog;
  alerts: AlertDeps;
  /** Where a restore test in parts that outlasts an invocation continues: {"asset", "continuation": {...}} to verify-restore. */
  continuation: Continuation;
  now: () => Date;
}

/**
 * `recorded` false: another invocation recorded this test's result first (its alert is that one's
 * to raise). `underWay`: a scheduled test found the asset's test in parts still being worked on, and
 * left it to its own invocations.
 */
export type RestoreTestRun =
  { result: RestoreTestResult; events: TargetEvent[]; recorded: boolean } | { continued: VectorTestInParts } | { underWay: TestUnderWay };

/**
 * One scheduled restore test of one asset (verify-restore): run it, record the result, and raise or
 * clear the asset's RTO alert (a failed test or an RTO over target is "DR Target Missed"). A test
 * in parts that is still waiting for its restore continues in a new invocation (`under` there); a
 * scheduled test of such an asset first looks for one under way, and takes it over where its
 * continuation was lost (its scratch index is then dropped as by its own end) or leaves it to run.
 */
export async function runRestoreTest(deps: RestoreTestDeps, asset: Asset, under?: VectorTestInParts): Promise<RestoreTestRun> {
  let result: RestoreTestResult;
  if (asset.kind === 'vector-index') {
    let test = under;
    let lostSince: string | undefined;
    if (!test && asset.restoreParts > 1) {
      const pending = await deps.log.underWay(asset.name);
      if (pending && deps.now().getTime() - Date.parse(pending.seenAt) < LOST_AFTER_MS) return { underWay: pending };
      if (pending) ({ test, seenAt: lostSince } = pending);
    }
    const step = await deps.testVectors(asset, test);
    if ('continueWith' in step) {
      await deps.continuation.continueLater({ asset: asset.name, continuation: step.continueWith });
      return { continued: step.continueWith };
    }
    result = step.result;
    if (lostSince) result.checks.continuationLost = { lastSeenAt: lostSince, takenOverAt: deps.now().toISOString() };
  } else result = await deps.testData(asset);
  const recorded = await deps.log.record(result);
  if (asset.kind === 'vector-index' && asset.restoreParts > 1) await deps.log.clearUnderWay(asset.name, result.startedAt);
  if (!recorded) return { result, events: [], recorded: false };
  const events = await evaluateCheck(deps.alerts, rtoCheck(asset, result));
  return { result, events, recorded: true };
}
