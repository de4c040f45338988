import { planForRun, restoreStatus, type PlanStore, storePlanned } from '../restore/restore-plan.js';
import { quote } from '../shared/errors.js';
import { PayloadError } from '../shared/payload.js';
import { initialState, type ServiceState } from './failover.js';
import { SAVE_ATTEMPTS, type ActiveEndpoint, type ServingDeps, type StoredService } from './probe-round.js';

/**
 * An operator's switch (docs/serving.md#pin): pin a service to one of its endpoints, whatever the
 * probes say, or lift the pin so that failover decides again. Two steps, as restores: a dry run
 * says what would change (the active endpoint now and after, and how the last round found the
 * endpoint) and returns a token; the run with that token writes the switch parameter at once and
 * stores the pin.
 */
export interface PinRequest {
  service: string;
  /** The endpoint to pin to; none: lift the pin. */
  endpoint?: string;
  /** Who pins (kept with the pin, shown by status). */
  by: string;
}

export interface PinSummary {
  service: string;
  activeNow: string;
  activeAfter: string;
  pinnedNow?: ServiceState['pinned'];
  /** How the last round found the endpoint pinned to (a pin to an endpoint that is not ready is allowed, and said). */
  lastProbe?: { class: string; checkedAt: string };
  warning?: string;
}

export interface PinPlanContents {
  request: PinRequest;
  summary: PinSummary;
  progress: object;
  result: { active: string; pinned: boolean; at: string };
}

export interface PinDeps extends Pick<ServingDeps, 'serving' | 'states' | 'now'> {
  active: ActiveEndpoint;
  plans: PlanStore<PinPlanContents>;
}

function serviceOf(deps: PinDeps, request: PinRequest) {
  const service = deps.serving.services.find((s) => s.name === request.service);
  if (!service) throw new PayloadError(`pin.service: ${quote(request.service)} is not a model service of the policy`);
  const ids = [service.primary, ...service.fallbacks].map((e) => e.id);
  if (request.endpoint !== undefined && !ids.includes(request.endpoint))
    throw new PayloadError(`pin.endpoint: ${quote(request.endpoint)} is not an endpoint of ${service.name} (${ids.join(', ')})`);
  return service;
}

async function summarize(deps: PinDeps, request: PinRequest, stored: StoredService | undefined): Promise<PinSummary> {
  const service = serviceOf(deps, request);
  const state = stored?.state ?? initialState(service.name, { primary: service.primary.id, fallbacks: service.fallbacks.map((f) => f.id) });
  const probe = request.endpoint ? stored?.lastRound?.results[request.endpoint] : undefined;
  const ready = request.endpoint
    ? stored?.lastRound && !stored.lastRound.readiness.notReady.some((n) => n.endpoint === request.endpoint)
    : true;
  return {
    service: service.name,
    activeNow: state.active,
    activeAfter: request.endpoint ?? state.active,
    ...(state.pinned && { pinnedNow: state.pinned }),
    ...(probe && stored?.lastRound && { lastProbe: { class: probe.class, checkedAt: stored.lastRound.checkedAt } }),
    ...(!ready && {
      warning: `${request.endpoint} was not ready at the last round (${probe?.class ?? 'not probed yet'}): traffic would go to an endpoint that may not answer`,
    }),
  };
}

/** A dry run (the plan and its token), or the run with its token. */
export async function pinService(call: { request: PinRequest; dryRun: boolean; planToken?: string }, deps: PinDeps) {
  const { request } = call;
  if (call.dryRun) {
    return storePlanned(deps.plans, request, await summarize(deps, request, await deps.states.get(request.service)), deps.now());
  }
  const plan = await planForRun(deps.plans, call.planToken!, request, deps.now());
  const service = serviceOf(deps, request);
  const now = deps.now();
  let next: ServiceState | undefined;
  // Read, pin, save (again if a round saved meanwhile: the pin applies to the state as it is now), then switch.
  for (let attempt = 1; attempt <= SAVE_ATTEMPTS && !next; attempt++) {
    const stored = await deps.states.get(service.name);
    const state =
      stored?.state ?? initialState(service.name, { primary: service.primary.id, fallbacks: service.fallbacks.map((f) => f.id) });
    const pinned: ServiceState = request.endpoint
      ? {
          ...state,
          active: request.endpoint,
          pinned: { endpoint: request.endpoint, by: request.by, at: now.toISOString() },
          ...(state.active !== request.endpoint && {
            switched: { from: state.active, to: request.endpoint, at: now.toISOString(), reason: `pinned by ${request.by}` },
          }),
        }
      : (({ pinned: _pinned, ...rest }) => rest)(state);
    if (await deps.states.save({ ...stored, state: pinned })) next = pinned;
  }
  if (!next) {
    const reason = `the state of ${service.name} kept changing: try the pin again with a new dry run`;
    await deps.plans.finish(plan.token, 'failed', now, null, reason);
    throw new Error(reason);
  }
  // The switch follows the saved state (as every round's): if writing it fails, the next round writes it.
  try {
    await deps.active.write(service.name, next.active);
  } catch (error) {
    const reason = `the pin is saved but the switch parameter was not written (${(error as Error).message}): the next round writes it`;
    await deps.plans.finish(plan.token, 'failed', now, null, reason);
    throw new Error(reason);
  }
  const result = { active: next.active, pinned: Boolean(next.pinned), at: now.toISOString() };
  await deps.plans.finish(plan.token, 'done', now, result);
  return restoreStatus({ ...plan, state: 'done', finishedAt: now.toISOString(), result });
}
