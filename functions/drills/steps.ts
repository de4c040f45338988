import type { JsonValue } from '../shared/json.js';
import type { DrillAssetRun } from './drill-run.js';

/**
 * What one step of an asset does: moves it on (to its next step, or to "done" with a verdict),
 * pauses it (a restore that continues in the next invocation), or waits (on work that runs
 * elsewhere: a restore's parts, in invocations of their own; the step is tried again after
 * DrillDeps.pollMs). The caller saves the run after every step.
 */
export type StepOutcome = 'moved' | 'paused' | 'waiting';

/** A drill stops starting steps when fewer milliseconds than this remain (DrillDeps.reserveMs). */
export const DRILL_RESERVE_MS = 60_000;
export const VERIFY_STEP = 'verify';

/** Moves an asset along its steps: to the next one, or to "done" as failed with a reason. */
export function stepper(entry: DrillAssetRun, steps: readonly string[]) {
  return {
    next: (): StepOutcome => {
      entry.step = steps[steps.indexOf(entry.step) + 1] ?? 'done';
      entry.attempts = 0;
      return 'moved';
    },
    fail: (reason: string): StepOutcome => {
      entry.ok = false;
      entry.reason = reason;
      entry.step = 'done';
      return 'moved';
    },
    verified: (at: Date): StepOutcome => {
      entry.ok = true;
      entry.verifiedAt = at.toISOString();
      entry.step = steps[steps.indexOf(entry.step) + 1] ?? 'done';
      return 'moved';
    },
  };
}

/** What a drill keeps of a restore a step made or continued (restore-data or restore-vectors). */
export function restoreRecord(
  status: { restoreId: string; state: string; plan: object; result?: object; reason?: string },
  withPlan: boolean,
): JsonValue {
  return {
    restoreId: status.restoreId,
    state: status.state,
    ...(status.result && { result: status.result as unknown as JsonValue }),
    ...(status.reason && { reason: status.reason }),
    ...(withPlan && { plan: status.plan as unknown as JsonValue }),
  };
}

/**
 * The run step of a restore (restore-data or restore-vectors, through `call`): asks for the plan's
 * state first (a crash may have left it claimed or running), then runs it, continues it, or takes
 * its result as it stands.
 */
export async function runOrContinue<S extends { state: string }>(
  call: (payload: Record<string, unknown>) => Promise<S>,
  planToken: string,
  runPayload: Record<string, unknown>,
): Promise<S> {
  const status = await call({ restoreId: planToken });
  if (status.state === 'planned') return call(runPayload);
  if (status.state === 'running') return call({ restoreId: planToken, continuation: true });
  return status;
}
