import { PlanTokenError } from '../restore/restore-plan.js';
import { pinService, type PinPlanContents, type PinSummary } from '../serving/operator-pin.js';
import { probeServing } from '../serving/probe-round.js';
import { parseServingCall } from '../serving/serving-request.js';
import type { JsonValue } from '../shared/json.js';
import type { DrillDeps } from './drill-deps.js';
import { type DrillAssetRun, type DrillRun, servingDefinition } from './drill-run.js';
import { isCheck, SERVING_STEPS, type StepContext } from './runbook-steps.js';
import { stepper, type StepOutcome } from './steps.js';

/**
 * A model-provider-outage drill (docs/drills.md#model-provider-outage): the runbook
 * (docs/runbooks/model-provider-outage.md) followed for the drill's service, as on-call would in an
 * outage of its primary: probe-serving's round (a fallback must be ready), the pin of that fallback
 * (dry run, then the run with its token), the gateway's parameter read back (the switch measured:
 * the drill's start to the gateway reading the fallback), and the pin lifted (dry run, run), so
 * that failover decides again. The payloads are the runbook's, parsed as probe-serving parses them.
 * The pin is recorded (at its dry run) before it is made: cleanup lifts a pin the drill left behind.
 */
export const servingStepNames = SERVING_STEPS.map((s) => s.name);

/** Who the drill's pin is by (kept with the pin, shown by status). */
export const drillPinBy = (run: Pick<DrillRun, 'drillId'>) => `dr-drill ${run.drillId}`;

export async function advanceServingService(deps: DrillDeps, run: DrillRun, entry: DrillAssetRun): Promise<StepOutcome> {
  const move = stepper(entry, servingStepNames);
  const serving = deps.serving;
  if (!serving) return move.fail(`${entry.step}: the policy has no serving section`);
  const { service } = servingDefinition(run);
  const step = SERVING_STEPS.find((s) => s.name === entry.step);
  if (!step) return move.fail(`${entry.step}: not a step of the model-provider-outage runbook`);
  const endpoint = entry.checks.endpoint as string | undefined;
  const token = entry.restoreIds.at(-1);
  const by = drillPinBy(run);
  const ctx: StepContext = { asset: service, service, by, ...(token && { planToken: token }), ...(endpoint && { endpoint }) };
  if (isCheck(step)) {
    // What the gateway reads (the runbook's aws ssm get-parameter).
    const active = await serving.active.read(service);
    entry.checks.parameter = active ?? null;
    if (active !== endpoint) return move.fail(`parameter: the gateway reads ${active ?? 'nothing'}, not ${endpoint}`);
    return move.verified(deps.now());
  }
  const call = parseServingCall(step.payload(ctx));
  if (call.kind === 'smoke-eval') return move.fail(`${step.name}: not a step of the runbook`);
  if (call.kind === 'round') {
    const round = (await probeServing(serving)).find((r) => r.service === service);
    if (!round) return move.fail(`probe: ${service} is not a model service of the policy`);
    entry.checks.probe = { active: round.active, readiness: round.readiness as unknown as JsonValue };
    const ready = round.readiness.readyFallbacks[0];
    if (!ready) {
      const why = round.readiness.notReady.map((n) => `${n.endpoint} ${n.class}`).join(', ');
      return move.fail(`probe: no fallback of ${service} is ready (${why}): nothing to fail over to`);
    }
    entry.checks.endpoint = ready;
    return move.next();
  }
  const pinning = call.request.endpoint !== undefined;
  if (call.dryRun) {
    const plan = await pinService(call, serving);
    const summary = plan.plan as PinSummary;
    entry.checks[step.name] = summary as unknown as JsonValue;
    // Never take over, or lift, a pin someone else holds (on-call holding a fallback in an incident).
    const other = summary.pinnedNow && summary.pinnedNow.by !== by ? summary.pinnedNow : undefined;
    if (other) return move.fail(`${step.name}: ${service} is pinned to ${other.endpoint} by ${other.by}; the drill leaves that pin alone`);
    if (summary.warning) return move.fail(`${step.name}: ${summary.warning}`);
    // The pin is recorded at its dry run (saved with this step, before the run makes it): cleanup
    // lifts it if the drill stops before its lift step.
    if (pinning && !run.created.some((c) => c.kind === 'serving-pin')) run.created.push({ kind: 'serving-pin', service, by });
    entry.restoreIds.push(plan.restoreId);
    return move.next();
  }
  if (pinning) entry.rtoFrom = run.startedAt;
  // A step tried again (its last try may have pinned or lifted before it failed) looks first; and a
  // pin someone else made meanwhile is left alone.
  const state = (await serving.states.get(service))?.state;
  const current = state?.pinned;
  if (current && current.by !== by)
    return move.fail(
      `${step.name}: ${service} was pinned meanwhile to ${current.endpoint} by ${current.by}; the drill leaves that pin alone`,
    );
  const landed = pinning ? current?.endpoint === endpoint : current === undefined;
  let result: PinPlanContents['result'] | undefined;
  if (landed && state) {
    result = { active: state.active, pinned: pinning, at: deps.now().toISOString() };
    // The try that made it claimed its plan and failed before finishing it: finished now, as what it did.
    if (token && (await serving.plans.get(token))?.state === 'running') await serving.plans.finish(token, 'done', deps.now(), result);
  } else {
    let done;
    try {
      done = await pinService(call, serving);
    } catch (error) {
      if (!(error instanceof PlanTokenError)) throw error;
      // Its plan was claimed by a try that failed before it finished: a fresh dry run, and the run with it.
      const fresh = await pinService({ request: call.request, dryRun: true }, serving);
      entry.restoreIds.push(fresh.restoreId);
      done = await pinService({ request: call.request, dryRun: false, planToken: fresh.restoreId }, serving);
    }
    result = done.state === 'done' ? (done.result as PinPlanContents['result']) : undefined;
  }
  entry.checks[step.name] = (result ?? null) as unknown as JsonValue;
  if (result?.pinned !== pinning) return move.fail(`${step.name}: the pin is ${result?.pinned ? 'still' : 'not'} in place`);
  return move.next();
}

/** Cleanup of a drill's pin: lifted (dry run and run, as the runbook's lift) if it is still the drill's; says whether one was. */
export async function liftDrillPin(deps: DrillDeps, resource: { service: string; by: string }): Promise<boolean> {
  const serving = deps.serving;
  if (!serving) throw new Error('the policy has no serving section: the pin cannot be lifted');
  const stored = await serving.states.get(resource.service);
  if (stored?.state.pinned?.by !== resource.by) return false;
  const request = { service: resource.service, by: resource.by };
  const plan = await pinService({ request, dryRun: true }, serving);
  await pinService({ request, dryRun: false, planToken: plan.restoreId }, serving);
  return true;
}
