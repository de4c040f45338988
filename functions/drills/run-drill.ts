import { randomBytes } from 'node:crypto';
import { evaluateCheck } from '../alerts/evaluate.js';
import type { TargetCheck, TargetEvent } from '../alerts/target-events.js';
import { drillAssets, isObjectAsset, isServingDrill, type Asset, type Drill, type Policy } from '../policy/schema.js';
import { describeError } from '../shared/errors.js';
import { PayloadError } from '../shared/payload.js';
import { PlanTokenError } from '../restore/restore-plan.js';
import { IndexNotFoundError } from '../vectors/vector-store.js';
import type { DrillDeps } from './drill-deps.js';
import { type DrillAssetRun, type DrillResource, type DrillRpo, type DrillRun, type DrillVerdict, LeaseLostError } from './drill-run.js';
import { advanceObjectAsset, drillPrefixOf, objectSteps } from './object-steps.js';
import { DRILL_RESERVE_MS, type StepOutcome } from './steps.js';
import { advanceServingService, liftDrillPin, servingStepNames } from './serving-steps.js';
import { advanceVectorAsset, vectorSteps } from './vector-steps.js';
import { sleep } from '../shared/sleep.js';

/**
 * dr-drill: one invocation of a drill. It continues the drill's active run if there is one (a run a
 * crashed or timed-out invocation left is continued from its last saved step, never restarted), or
 * starts a new run. One invocation works on a run at a time (the run's lease); another one meanwhile
 * returns the run as it stands and does nothing.
 *
 * The phases of a run: measure (each asset's RPO at the start: what a region outage now would lose),
 * recover (every asset through its steps, the assets in parallel), cleanup (everything the drill
 * created, which it recorded before creating it), finished (the verdict against the targets, DR
 * Target Missed or Recovered for the drill, the report told).
 */
const TIER_ORDER: Asset['tier'][] = ['critical', 'high', 'standard'];

export interface DrillInvocation {
  run: DrillRun;
  /** Another invocation holds the run: this one did nothing. */
  busy: boolean;
  events: TargetEvent[];
}

/** A drill id: its start time (so ids sort by time) and a random suffix. */
export const drillIdAt = (startedAt: Date) =>
  `${startedAt.toISOString().replace(/[-:]/g, '').replace('.', '').toLowerCase()}-${randomBytes(3).toString('hex')}`;

function newRun(policy: Policy, drill: Drill, startedAt: Date, drillId: string): DrillRun {
  const base = {
    drill: drill.name,
    drillId,
    scenario: drill.scenario,
    state: 'running' as const,
    phase: 'measure' as const,
    startedAt: startedAt.toISOString(),
    definition: drill,
    rpoAtStart: [],
    invocations: 0,
  };
  if (isServingDrill(drill)) {
    // Its one "asset" is the model service, timed against the service's RTO target.
    const service = policy.serving?.services.find((s) => s.name === drill.service);
    return {
      ...base,
      assets: [
        {
          asset: drill.service,
          kind: 'model-service',
          tier: service?.tier ?? 'standard',
          step: servingStepNames[0]!,
          restoreIds: [],
          checks: {},
          rtoTargetSeconds: (service?.rtoTargetMinutes ?? drill.targetMinutes) * 60,
        },
      ],
      created: [],
    };
  }
  const assets = drillAssets(policy, drill).filter((a) =>
    // Vector assets are recovered by region-outage drills; the other scenarios damage and repair objects.
    drill.scenario === 'region-outage' ? true : drill.scenario === 'model-regression' ? a.kind === 'model-artifacts' : isObjectAsset(a),
  );
  const run: DrillRun = {
    ...base,
    assets: assets.map((a): DrillAssetRun => ({
      asset: a.name,
      kind: a.kind,
      tier: a.tier,
      step: (a.kind === 'vector-index' ? vectorSteps(drill.scenario) : objectSteps(drill.scenario))[0]!,
      restoreIds: [],
      checks: {},
      rtoTargetSeconds: a.rtoTargetSeconds,
    })),
    // The workspace prefix is the drill's before anything is written there.
    created: [{ kind: 's3-prefix', bucket: drill.workspace.bucket, prefix: drillPrefixOf({ definition: drill, drillId }) }],
  };
  return run;
}

/**
 * `{"drill"}`: continues the drill's active run, or starts one. `{"drill", "drillId", "continuation":
 * true}` (what the function sends itself): continues exactly that run if it is still the active one,
 * else does nothing (a duplicate delivery never starts a new drill).
 */
export async function runDrill(deps: DrillDeps, drill: Drill, continuing?: string): Promise<DrillInvocation> {
  let run = await deps.store.active(drill.name);
  if (continuing !== undefined) {
    const stored = run?.drillId === continuing ? run : await deps.store.get(drill.name, continuing);
    if (!stored) throw new PayloadError(`drillId: drill ${drill.name} has no run "${continuing}"`);
    if (run?.drillId !== continuing) return { run: stored, busy: false, events: [] };
  }
  if (!run) {
    const startedAt = deps.now();
    const fresh = newRun(deps.policy, drill, startedAt, drillIdAt(startedAt));
    run = (await deps.store.start(fresh)) ? fresh : await deps.store.active(drill.name);
    if (!run) throw new Error(`drill ${drill.name}: another invocation started a run and it is gone already`);
  }
  return continueRun(deps, run);
}

/**
 * `{"resume": true}`, on a frequent schedule: continues every drill's active run that no invocation
 * holds (its lease expired: the invocation that had it was killed, or timed out before it could
 * send its continuation). A run whose invocation is alive is left to it.
 */
export async function resumeDrills(deps: DrillDeps): Promise<DrillInvocation[]> {
  const resumed: DrillInvocation[] = [];
  for (const drill of deps.policy.drills) {
    const run = await deps.store.active(drill.name);
    if (run) resumed.push(await continueRun(deps, run));
  }
  return resumed;
}

async function continueRun(deps: DrillDeps, leased: DrillRun): Promise<DrillInvocation> {
  const owner = randomBytes(8).toString('hex');
  // The lease outlives the invocation by a little: Lambda ends it at its timeout, whatever it does.
  const until = new Date(deps.now().getTime() + Math.min(deps.remainingMs(), 900_000) + 30_000);
  if (!(await deps.store.lease(leased.drill, leased.drillId, owner, until, deps.now()))) return { run: leased, busy: true, events: [] };
  let events: TargetEvent[] = [];
  let finished = false;
  // Read again under the lease: the run as the last holder left it, not as it was before the lease.
  const { lease: _ours, ...run } = (await deps.store.get(leased.drill, leased.drillId)) ?? leased;
  try {
    if (run.state !== 'running') return { run, busy: false, events };
    run.invocations++;
    await deps.store.save(run, owner);
    finished = await work(deps, run, owner);
    if (finished) events = await conclude(deps, run, owner);
  } catch (error) {
    if (!(error instanceof LeaseLostError)) {
      run.lastError = describeError(error);
      await deps.store.save(run, owner).catch(() => undefined);
    }
    throw error;
  } finally {
    await deps.store.release(run.drill, run.drillId, owner);
  }
  // After the release, so that the continuation finds the run free.
  if (!finished) await deps.continuation.continueLater({ drill: run.drill, drillId: run.drillId, continuation: true });
  return { run, busy: false, events };
}

/** A step waiting on work elsewhere (a restore's parts) looks again after this long (DrillDeps.pollMs). */
const POLL_MS = 10_000;

/** Works on the run until it is finished (true) or this invocation runs short (false); saves after every step. */
async function work(deps: DrillDeps, run: DrillRun, owner: string): Promise<boolean> {
  const reserveMs = deps.reserveMs ?? DRILL_RESERVE_MS;
  const enough = () => deps.remainingMs() >= reserveMs;
  // Steps of several assets run at once; their saves go one after another, each of the whole run.
  let saving: Promise<void> = Promise.resolve();
  const save = () => (saving = saving.then(() => deps.store.save(run, owner)));

  if (run.phase === 'measure') {
    const at = new Date(run.startedAt);
    // A model service has no recovery point: nothing to measure.
    if (!isServingDrill(run.definition)) run.rpoAtStart = await Promise.all(run.assets.map((entry) => rpoAt(deps, entry.asset, at)));
    run.phase = 'recover';
    await save();
  }
  if (run.phase === 'recover') {
    await Promise.all(
      run.assets.map(async (entry) => {
        while (entry.step !== 'done' && enough()) {
          const outcome = await advance(deps, run, entry);
          if (entry.step === 'done' && entry.verifiedAt)
            entry.rtoSeconds =
              (Date.parse(entry.verifiedAt) - Date.parse(entry.rtoFrom ?? run.startedAt)) / 1000 - (entry.excludedSeconds ?? 0);
          await save();
          if (outcome === 'paused') return;
          if (outcome === 'waiting' && enough()) await (deps.sleep ?? sleep)(deps.pollMs ?? POLL_MS);
        }
      }),
    );
    await saving;
    if (run.assets.some((a) => a.step !== 'done')) return false;
    run.phase = 'cleanup';
    await save();
  }
  if (run.phase === 'cleanup') {
    if (!enough()) return false;
    run.cleanup = await cleanup(deps, run, enough);
    if (run.cleanup.next !== undefined) {
      await save();
      return false;
    }
    run.phase = 'finished';
    await save();
  }
  await saving;
  return true;
}

/** The runbooks' status step for one asset: its live RPO at the drill's start (not-measured, with why, when it cannot be read). */
async function rpoAt(deps: DrillDeps, name: string, at: Date): Promise<DrillRpo> {
  const asset = deps.policy.assets.find((a) => a.name === name);
  const base = { asset: name, rpoTargetSeconds: asset?.rpoTargetSeconds ?? 0, pendingObjects: 0 };
  try {
    if (!asset) throw new Error(`asset ${name} is no longer in the policy`);
    const m = await deps.measure(asset, at);
    return { ...base, rpoSeconds: m.rpoSeconds, status: m.status, pendingObjects: m.pendingObjects };
  } catch (error) {
    return { ...base, rpoSeconds: null, status: 'not-measured', error: describeError(error) };
  }
}

/**
 * One step of one asset. An error fails that asset, never the others: at once when it is the
 * request's fault (a refused payload or plan), after three consecutive tries otherwise (throttling,
 * an engine that did not answer), the step being tried again in the next pass.
 */
const ATTEMPTS = 3;
async function advance(deps: DrillDeps, run: DrillRun, entry: DrillAssetRun): Promise<StepOutcome> {
  const asset = deps.policy.assets.find((a) => a.name === entry.asset);
  try {
    if (entry.kind === 'model-service') return await advanceServingService(deps, run, entry);
    if (!asset) throw new PayloadError(`asset ${entry.asset} is no longer in the policy`);
    return asset.kind === 'vector-index'
      ? await advanceVectorAsset(deps, run, entry, asset)
      : await advanceObjectAsset(deps, run, entry, asset);
  } catch (error) {
    if (error instanceof LeaseLostError) throw error;
    entry.attempts = (entry.attempts ?? 0) + 1;
    entry.checks.lastError = `${entry.step} (attempt ${entry.attempts}): ${describeError(error)}`;
    if (entry.attempts < ATTEMPTS && !(error instanceof PayloadError) && !(error instanceof PlanTokenError)) return 'paused';
    entry.ok = false;
    entry.reason = `${entry.step}: ${describeError(error)}`;
    entry.step = 'done';
    return 'moved';
  }
}

/**
 * Removes everything the run recorded as created: its workspace prefix (every version) and its
 * scratch indexes; then checks that nothing of it is left. A prefix too large for this invocation
 * is removed as far as time allows: the result says where to go on (`next`), and the next
 * invocation starts again at that resource, with the counts so far.
 */
async function cleanup(deps: DrillDeps, run: DrillRun, more: () => boolean): Promise<NonNullable<DrillRun['cleanup']>> {
  // Counts go on from a cleanup that stopped for time; a new one starts from zero.
  const so = run.cleanup?.next !== undefined ? run.cleanup : { removedObjects: 0, droppedIndexes: 0, leftBehind: [], next: 0 };
  let { removedObjects, droppedIndexes } = so;
  const leftBehind = [...so.leftBehind];
  const from = so.next ?? 0;
  for (const [i, resource] of run.created.entries()) {
    if (i < from) continue;
    try {
      if (resource.kind === 'serving-pin') {
        await liftDrillPin(deps, resource);
      } else if (resource.kind === 's3-prefix') {
        const region = deps.policy.restore.targetBuckets.find((t) => t.bucket === resource.bucket)?.region ?? deps.policy.deployment.region;
        const { removed, done } = await deps.destroy(resource.bucket, region, resource.prefix, more);
        removedObjects += removed;
        if (!done) return { removedObjects, droppedIndexes, leftBehind, next: i };
        for await (const left of deps.workspaceStore(region).keysUnder(resource.bucket, resource.prefix)) {
          leftBehind.push(`s3://${resource.bucket}/${left.key}`);
          break;
        }
      } else {
        const asset = deps.policy.assets.find((a) => a.name === resource.asset);
        if (asset?.kind !== 'vector-index') throw new Error(`asset ${resource.asset} is no longer a vector asset of the policy`);
        const store = await deps.openStore(asset);
        try {
          await store.dropIndex(resource.index);
          try {
            await store.describe(resource.index);
            leftBehind.push(`${store.engine} index ${resource.index} (still there after dropIndex)`);
          } catch (error) {
            if (!(error instanceof IndexNotFoundError)) throw error;
            droppedIndexes++;
          }
        } finally {
          await store.close();
        }
      }
    } catch (error) {
      leftBehind.push(`${describeResource(resource)}: ${describeError(error)}`);
    }
  }
  return { removedObjects, droppedIndexes, leftBehind };
}

const describeResource = (r: DrillResource) =>
  r.kind === 's3-prefix' ? `s3://${r.bucket}/${r.prefix}` : r.kind === 'index' ? r.index : `the pin of ${r.service} by ${r.by}`;

/** The verdict against every target the drill checks: each asset's RPO at the start and RTO, the drill's target, nothing left behind. */
export function verdictOf(run: DrillRun): DrillVerdict {
  const targetSeconds = run.definition.targetMinutes * 60;
  const targets: DrillVerdict['targets'] = [];
  for (const rpo of run.rpoAtStart) {
    if (rpo.status === 'not-measured') continue;
    const ok = rpo.status === 'ok';
    targets.push({
      target: 'rpo',
      asset: rpo.asset,
      targetSeconds: rpo.rpoTargetSeconds,
      actualSeconds: rpo.rpoSeconds,
      ok,
      ...(!ok && {
        reason: rpo.rpoSeconds === null ? 'no verified recovery point' : `would lose ${Math.round(rpo.rpoSeconds)} s of changes`,
      }),
    });
  }
  for (const a of run.assets) {
    const ok = a.ok === true && a.rtoSeconds !== undefined && a.rtoSeconds <= a.rtoTargetSeconds;
    targets.push({
      target: 'rto',
      asset: a.asset,
      targetSeconds: a.rtoTargetSeconds,
      actualSeconds: a.rtoSeconds ?? null,
      ok,
      ...(!ok && { reason: a.ok === true ? `verified after ${Math.round(a.rtoSeconds ?? 0)} s` : (a.reason ?? 'not verified') }),
    });
  }
  const verified = run.assets.every((a) => a.ok === true);
  const rtoSeconds = verified ? Math.max(0, ...run.assets.map((a) => a.rtoSeconds ?? 0)) : null;
  const drillOk = rtoSeconds !== null && rtoSeconds <= targetSeconds;
  targets.push({
    target: 'drill',
    targetSeconds,
    actualSeconds: rtoSeconds,
    ok: drillOk,
    ...(!drillOk && {
      reason: rtoSeconds === null ? 'not every asset was recovered and verified' : `whole recovery took ${Math.round(rtoSeconds)} s`,
    }),
  });
  const left = run.cleanup?.leftBehind ?? [];
  if (left.length > 0)
    targets.push({ target: 'cleanup', targetSeconds: 0, actualSeconds: null, ok: false, reason: `left behind: ${left[0]}` });
  const reasons = targets.filter((t) => !t.ok).map((t) => `${t.target}${t.asset ? ` ${t.asset}` : ''}: ${t.reason}`);
  return { ok: reasons.length === 0, rtoSeconds, targetSeconds, targets, reasons };
}

/** The drill as a check of its target, for alerting: Missed when it failed or took too long; Recovered when one passes again. */
export function drillCheck(run: DrillRun, policy: Policy): TargetCheck {
  const verdict = run.verdict ?? verdictOf(run);
  const tiers = run.assets.map((a) => a.tier);
  const tier = TIER_ORDER.find((t) => tiers.includes(t)) ?? policy.assets.find((a) => a.name === run.assets[0]?.asset)?.tier ?? 'standard';
  const overTime = verdict.reasons.length === 1 && verdict.targets.find((t) => t.target === 'drill' && !t.ok)?.actualSeconds != null;
  return {
    asset: run.drill,
    kind: 'drill',
    tier,
    target: 'drill',
    targetSeconds: verdict.targetSeconds,
    actualSeconds: verdict.rtoSeconds,
    status: verdict.ok ? 'ok' : 'missed',
    ...(!verdict.ok && {
      reason: overTime ? 'drill-over-target' : 'drill-failed',
      description: `drill ${run.drillId}: ${verdict.reasons.join('; ')}`,
      evidence: {
        drillId: run.drillId,
        scenario: run.scenario,
        failures: verdict.targets.filter((t) => !t.ok).map((t) => ({ asset: t.asset ?? run.drill, reason: `${t.target}: ${t.reason}` })),
      },
    }),
    pendingObjects: run.rpoAtStart.reduce((sum, r) => sum + r.pendingObjects, 0),
    failedObjects: 0,
    oldestChange: null,
    measuredAt: run.finishedAt ?? run.startedAt,
  };
}

/**
 * Records the verdict, raises or clears the drill's alert, then ends the run and tells the report.
 * The alert comes first: if publishing fails, the run is still active (phase finished) and the next
 * invocation concludes it again (the alert state re-sends an event it could not send).
 */
async function conclude(deps: DrillDeps, run: DrillRun, owner: string): Promise<TargetEvent[]> {
  run.finishedAt ??= deps.now().toISOString();
  run.verdict = verdictOf(run);
  run.state = run.verdict.ok ? 'passed' : 'failed';
  await deps.store.save({ ...run, state: 'running' }, owner);
  const events = await evaluateCheck(deps.alerts, drillCheck(run, deps.policy));
  await deps.store.finish(run, owner);
  await deps.finished?.(run.drill, run.drillId).catch(() => undefined);
  return events;
}
