import { answers, type ProbeResult } from './probe.js';

/**
 * Failover of one model service without a person (docs/serving.md#failover): from a round of
 * probes of its primary and its ordered fallbacks, which endpoint is active next. Pure: the state
 * is stored by the caller, the clock is the caller's.
 *
 * - A fallback is **ready** when its probe answers (healthy or slow) and, where the provider sent
 *   rate-limit headers, its quota headroom is at least `minHeadroom`.
 * - The primary that failed `failAfter` probes in a row is switched away from, to the first ready
 *   fallback (none ready: it stays, and the service is reported without a ready fallback).
 * - An active fallback that stops being ready is switched away from, to the next ready one.
 * - Back to the primary only after it answered `recoverAfter` probes in a row, and that number
 *   doubles for each failover that follows a failback within `flapWindow` probes (flap damping, at
 *   most 64 times): a primary that fails half its probes at random fails back a few times, then
 *   stays on the fallback. The damping decays by one step after four times its recovery count of
 *   healthy probes on the primary.
 * - An operator's pin holds whatever the probes say, until it is lifted.
 */
export interface FailoverPolicy {
  failAfter: number;
  recoverAfter: number;
  /** Quota headroom (0–1) a fallback needs to count as ready. */
  minHeadroom: number;
  /** Probes after a failback within which a new failover counts as a flap. */
  flapWindow: number;
}

export const DEFAULT_FAILOVER: FailoverPolicy = { failAfter: 2, recoverAfter: 5, minHeadroom: 0.1, flapWindow: 60 };

export interface ServiceState {
  service: string;
  /** The endpoint the application's gateway is told to use. */
  active: string;
  /** Consecutive probes of the primary that failed, and that answered. */
  primaryFailures: number;
  primaryHealthy: number;
  /** Flap damping: failovers that followed a failback within flapWindow probes, not yet decayed. */
  flaps: number;
  /** Probes since the last failback (for the flap window). */
  sinceFailback?: number;
  pinned?: { endpoint: string; by: string; at: string };
  /** The last switch. */
  switched?: { from: string; to: string; at: string; reason: string };
}

export interface Endpoints {
  primary: string;
  /** In order of preference. */
  fallbacks: string[];
}

export interface Switch {
  from: string;
  to: string;
  reason: string;
}

export function initialState(service: string, endpoints: Endpoints): ServiceState {
  return { service, active: endpoints.primary, primaryFailures: 0, primaryHealthy: 0, flaps: 0 };
}

/** Whether an endpoint's probe makes it ready to take traffic. */
export function isReady(result: ProbeResult | undefined, policy: Pick<FailoverPolicy, 'minHeadroom'>): boolean {
  return result !== undefined && answers(result) && (result.headroom === undefined || result.headroom >= policy.minHeadroom);
}

/** Healthy probes in a row the primary needs before a failback, with the damping. */
export const recoveryNeeded = (state: Pick<ServiceState, 'flaps'>, policy: FailoverPolicy) =>
  policy.recoverAfter * 2 ** Math.min(state.flaps, 6);

/** The next state after one round of probes, and the switch it makes, if any. */
export function decide(
  state: ServiceState,
  endpoints: Endpoints,
  results: Record<string, ProbeResult | undefined>,
  policy: FailoverPolicy,
  now: Date,
): { state: ServiceState; switch?: Switch } {
  const primaryUp = isReady(results[endpoints.primary], { minHeadroom: 0 });
  const next: ServiceState = {
    ...state,
    primaryFailures: primaryUp ? 0 : state.primaryFailures + 1,
    primaryHealthy: primaryUp ? state.primaryHealthy + 1 : 0,
    ...(state.sinceFailback !== undefined && { sinceFailback: state.sinceFailback + 1 }),
  };
  const firstReady = endpoints.fallbacks.find((f) => f !== next.active && isReady(results[f], policy));
  const to = (target: string, reason: string): { state: ServiceState; switch: Switch } => {
    const sw = { from: next.active, to: target, reason };
    return { state: { ...next, active: target, switched: { ...sw, at: now.toISOString() } }, switch: sw };
  };

  if (next.pinned) {
    if (next.active === next.pinned.endpoint) return { state: next };
    return to(next.pinned.endpoint, `pinned by ${next.pinned.by}`);
  }
  if (next.active === endpoints.primary) {
    // Damping decays while the primary holds.
    if (next.flaps > 0 && next.primaryHealthy >= 4 * recoveryNeeded(next, policy)) {
      next.flaps--;
      next.primaryHealthy = 0;
    }
    if (next.primaryFailures < policy.failAfter || !firstReady) return { state: next };
    const flapped = next.sinceFailback !== undefined && next.sinceFailback <= policy.flapWindow;
    if (flapped) next.flaps++;
    delete next.sinceFailback;
    return to(firstReady, `primary failed ${next.primaryFailures} probes in a row (${results[endpoints.primary]?.class ?? 'not probed'})`);
  }
  if (next.primaryHealthy >= recoveryNeeded(next, policy)) {
    const back = to(endpoints.primary, `primary answered ${next.primaryHealthy} probes in a row`);
    back.state.sinceFailback = 0;
    return back;
  }
  if (!isReady(results[next.active], policy) && firstReady) {
    return to(firstReady, `fallback ${next.active} is not ready (${results[next.active]?.class ?? 'not probed'})`);
  }
  return { state: next };
}

/** What a round of probes says of a service's readiness (for status, alerts and the report). */
export interface ServiceReadiness {
  primaryUp: boolean;
  /** Fallbacks ready to take traffic, in order of preference. */
  readyFallbacks: string[];
  /** Each endpoint that is not ready, and why (its probe's class). */
  notReady: { endpoint: string; class: string; detail?: string }[];
}

export function readinessOf(
  endpoints: Endpoints,
  results: Record<string, ProbeResult | undefined>,
  policy: Pick<FailoverPolicy, 'minHeadroom'>,
): ServiceReadiness {
  const notReady = [endpoints.primary, ...endpoints.fallbacks].flatMap((endpoint) => {
    const result = results[endpoint];
    const primary = endpoint === endpoints.primary;
    if (isReady(result, primary ? { minHeadroom: 0 } : policy)) return [];
    const cls = !result ? 'not-probed' : answers(result) ? 'no-quota-headroom' : result.class;
    return [{ endpoint, class: cls, ...(result?.detail && { detail: result.detail }) }];
  });
  return {
    primaryUp: isReady(results[endpoints.primary], { minHeadroom: 0 }),
    readyFallbacks: endpoints.fallbacks.filter((f) => isReady(results[f], policy)),
    notReady,
  };
}
