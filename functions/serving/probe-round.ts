import { evaluateCheck, type AlertDeps } from '../alerts/evaluate.js';
import type { TargetCheck, TargetEvent } from '../alerts/target-events.js';
import type { Policy, ServingEndpoint } from '../policy/schema.js';
import { decide, initialState, readinessOf, type Endpoints, type ServiceReadiness, type ServiceState, type Switch } from './failover.js';
import { DEFAULT_BASE_URL, GENERATION_RESERVE_TOKENS, limitsOf, type ProbeResult, type ProbeTarget } from './probe.js';
import type { SmokeEvalResult } from './smoke-eval.js';
import { countBeyond, hourOf, pacedLimit, type TokenBudget } from './token-budget.js';

/**
 * One round of probe-serving (docs/serving.md): every endpoint of every service of the policy
 * probed at once, the failover decided (failover.ts) and stored, the switch written where the
 * application's gateway reads it (one SSM parameter per service) to what was stored, and the
 * service's readiness checked as a target: missed (`target: "serving"`) while the primary is down,
 * no fallback is ready or a SageMaker endpoint serves a stale artifact, paged once per incident,
 * Recovered when it clears.
 */
type ServingPolicy = NonNullable<Policy['serving']>;
type ServiceConfig = ServingPolicy['services'][number];

/** What the last round found of a service, kept with its state for status (and the report). */
export interface LastRound {
  checkedAt: string;
  results: Record<string, Pick<ProbeResult, 'class' | 'latencyMs' | 'status' | 'detail' | 'headroom'>>;
  readiness: ServiceReadiness;
}

export interface StoredService {
  state: ServiceState;
  lastRound?: LastRound;
  /** How many times the state was saved: a save names the revision it read (optimistic concurrency). */
  revision?: number;
  /** The service's last smoke eval (smoke-eval.ts), kept beside its state. */
  smokeEval?: SmokeEvalResult;
}

export interface ServingStateStore {
  get(service: string): Promise<StoredService | undefined>;
  /**
   * The failover state and last round (a smoke eval kept beside them stays), if the stored
   * revision is still `stored.revision` (none: nothing stored yet); false when another save came first.
   */
  save(stored: StoredService): Promise<boolean>;
  saveSmokeEval(service: string, result: SmokeEvalResult): Promise<void>;
}

/** Where the gateway reads which endpoint of a service is active (SSM Parameter Store). */
export interface ActiveEndpoint {
  read(service: string): Promise<string | undefined>;
  write(service: string, endpoint: string): Promise<void>;
}

export interface ServingDeps {
  serving: ServingPolicy;
  now: () => Date;
  /** Probes a provider's API or an HTTP endpoint (probe.ts). */
  probe: (target: ProbeTarget) => Promise<ProbeResult>;
  /** Probes a SageMaker endpoint, and the artifact it serves (sagemaker-probe.ts). */
  probeSageMaker: (endpoint: ServingEndpoint) => Promise<ProbeResult>;
  /** Probes an Amazon Bedrock model or inference profile (bedrock-probe.ts). */
  probeBedrock: (endpoint: ServingEndpoint) => Promise<ProbeResult>;
  /** An endpoint's API key, from its secret {"apiKey"}. */
  apiKey: (secretArn: string) => Promise<string>;
  states: ServingStateStore;
  active: ActiveEndpoint;
  alerts: AlertDeps;
  /** Generation probes' tokens per provider per hour (token-budget.ts). */
  budget: TokenBudget;
}

export interface ServiceRound {
  service: string;
  active: string;
  results: Record<string, ProbeResult>;
  readiness: ServiceReadiness;
  switch?: Switch;
  events: TargetEvent[];
}

/** Tries of a read-decide-save that another save overtook. */
export const SAVE_ATTEMPTS = 3;

const endpointsOf = (service: ServiceConfig): Endpoints => ({ primary: service.primary.id, fallbacks: service.fallbacks.map((f) => f.id) });

/** What probe.ts needs of an anthropic, openai or http endpoint: its URL, model, key and limits. */
export async function targetOf(
  endpoint: ServingEndpoint & { provider: ProbeTarget['provider'] },
  deps: Pick<ServingDeps, 'apiKey'>,
): Promise<ProbeTarget> {
  return {
    provider: endpoint.provider,
    url: endpoint.url ?? DEFAULT_BASE_URL[endpoint.provider as 'anthropic' | 'openai'],
    ...(endpoint.model && { model: endpoint.model }),
    ...(endpoint.credentialsSecretArn && { apiKey: await deps.apiKey(endpoint.credentialsSecretArn) }),
    ...limitsOf(endpoint),
  };
}

/** A probe whose key cannot be read fails as auth-failure, naming why; it never stops the round. Generation probes as the policy asks. */
async function probeEndpoint(endpoint: ServingEndpoint, deps: ServingDeps, now: Date): Promise<ProbeResult> {
  const { provider } = endpoint;
  if (provider === 'sagemaker') return deps.probeSageMaker(endpoint);
  if (provider === 'bedrock') return deps.probeBedrock(endpoint);
  let target: ProbeTarget;
  try {
    target = await targetOf({ ...endpoint, provider }, deps);
  } catch (error) {
    return { class: 'auth-failure', latencyMs: 0, detail: `its key could not be read: ${(error as Error).message}` };
  }
  if (!endpoint.generate || provider === 'http') return deps.probe(target);
  return generationProbe(provider, target, deps, now);
}

/**
 * A one-token generation, within the provider's hourly budget, spread over the hour (pacedLimit):
 * its reservation is taken first; when the budget allows none now (or cannot be read), the model
 * lookup probes instead, and says why.
 */
async function generationProbe(provider: 'anthropic' | 'openai', target: ProbeTarget, deps: ServingDeps, now: Date): Promise<ProbeResult> {
  const hour = hourOf(now);
  const limit = deps.serving.generationTokensPerHour[provider];
  let refused: string | undefined;
  try {
    if (!(await deps.budget.reserve(provider, hour, GENERATION_RESERVE_TOKENS, pacedLimit(limit, now))))
      refused = `the ${limit}-token generation budget of ${provider} for ${hour}h allows none now (spread over the hour)`;
  } catch (error) {
    refused = `the generation budget could not be read (${(error as Error).message})`;
  }
  if (refused) {
    const lookup = await deps.probe(target);
    return { ...lookup, detail: [lookup.detail, `${refused}: probed by model lookup`].filter(Boolean).join('; ') };
  }
  const result = await deps.probe({ ...target, generate: true });
  const uncounted = await countBeyond(deps.budget, provider, hour, GENERATION_RESERVE_TOKENS, result.tokensUsed);
  return uncounted ? { ...result, detail: [result.detail, uncounted].filter(Boolean).join('; ') } : result;
}

/** The service's readiness as a target check: missed while its primary is down, no fallback is ready, or an endpoint is stale. */
function readinessCheck(service: ServiceConfig, readiness: ServiceReadiness, active: string, measuredAt: string): TargetCheck {
  const stale = readiness.notReady.filter((n) => n.class === 'stale-artifact').map((n) => n.endpoint);
  const problems = [
    !readiness.primaryUp && `primary ${service.primary.id} is down`,
    readiness.readyFallbacks.length === 0 && 'no fallback is ready',
    stale.length > 0 && `${stale.join(', ')} ${stale.length > 1 ? 'serve' : 'serves'} a stale artifact`,
  ].filter((p): p is string => Boolean(p));
  const why = readiness.notReady.map((n) => `${n.endpoint}: ${n.class}${n.detail ? ` (${n.detail})` : ''}`).join('; ');
  return {
    asset: service.name,
    kind: 'model-service',
    tier: service.tier,
    target: 'serving',
    targetSeconds: service.rtoTargetMinutes * 60,
    actualSeconds: null,
    status: problems.length ? 'missed' : 'ok',
    ...(problems.length && {
      reason: !readiness.primaryUp
        ? ('serving-primary-down' as const)
        : readiness.readyFallbacks.length === 0
          ? ('no-ready-fallback' as const)
          : ('dr-endpoint-stale' as const),
      description: `${problems.join(' and ')}; active: ${active}; ${why}`,
    }),
    pendingObjects: 0,
    failedObjects: 0,
    oldestChange: null,
    measuredAt,
  };
}

export async function probeServing(deps: ServingDeps): Promise<ServiceRound[]> {
  return Promise.all(deps.serving.services.map((service) => probeService(service, deps)));
}

async function probeService(service: ServiceConfig, deps: ServingDeps): Promise<ServiceRound> {
  const endpoints = endpointsOf(service);
  const all = [service.primary, ...service.fallbacks];
  const now = deps.now();
  const results = Object.fromEntries(await Promise.all(all.map(async (e) => [e.id, await probeEndpoint(e, deps, now)] as const)));
  const readiness = readinessOf(endpoints, results, deps.serving.failover);
  const lastRound = { checkedAt: now.toISOString(), results, readiness };
  let decided: ReturnType<typeof decide> | undefined;
  // Read, decide, save, then switch: decided again (on the same probes) when a pin saved meanwhile;
  // left to the other round when a round of later probes saved first (its probes are newer).
  for (let attempt = 1; attempt <= SAVE_ATTEMPTS; attempt++) {
    const read = await deps.states.get(service.name);
    if (read?.lastRound && read.lastRound.checkedAt > lastRound.checkedAt) break;
    // An endpoint removed from the policy is not active any more: start from the primary.
    const stored = read && all.some((e) => e.id === read.state.active) ? read.state : undefined;
    const next = decide(stored ?? initialState(service.name, endpoints), endpoints, results, deps.serving.failover, now);
    if (!(await deps.states.save({ state: next.state, lastRound, ...(read?.revision !== undefined && { revision: read.revision }) })))
      continue;
    decided = next;
    break;
  }
  // The switch follows the saved state; if writing it fails, the next round writes it (it differs).
  const active = decided?.state.active ?? (await deps.states.get(service.name))?.state.active ?? service.primary.id;
  if ((await deps.active.read(service.name)) !== active) await deps.active.write(service.name, active);
  const events = await evaluateCheck(deps.alerts, readinessCheck(service, readiness, active, now.toISOString()));
  return {
    service: service.name,
    active,
    results,
    readiness,
    ...(decided?.switch && { switch: decided.switch }),
    events,
  };
}

/** Each service of the policy as its last round left it, for status: a line for the table (and one for its smoke eval). */
export function servingLines(services: { name: string; stored: StoredService | undefined }[]): string[] {
  return services.flatMap(({ name, stored }) => [roundLine(name, stored), ...(stored?.smokeEval ? [smokeEvalLine(stored.smokeEval)] : [])]);
}

/** A smoke eval in one line: each endpoint's score, a fallback's change against the primary. */
export function smokeEvalLine(e: SmokeEvalResult): string {
  const scores = e.endpoints.map((x) => {
    const change = e.changeVsPrimary[x.endpoint];
    const score = x.score === null ? 'not scored' : `${x.score.toFixed(2)} (${x.passed}/${x.evaluated})`;
    return `${x.endpoint} ${score}${change !== undefined && change !== null ? ` ${change >= 0 ? '+' : ''}${change.toFixed(2)} vs primary` : ''}${x.skipped ? ` [${x.skipped}]` : ''}`;
  });
  return `  smoke eval at ${e.at} on ${e.golden.asset}/${e.golden.key} (${e.golden.prompts} prompts): ${scores.join('; ')}`;
}

function roundLine(name: string, stored: StoredService | undefined): string {
  if (!stored?.lastRound) return `serving ${name}: not probed yet`;
  const { state, lastRound } = stored;
  const { readiness } = lastRound;
  const notReady = readiness.notReady.map((n) => `${n.endpoint} ${n.class}`).join(', ');
  return (
    `serving ${name}: active ${state.active}${state.pinned ? ` (pinned by ${state.pinned.by})` : ''}; ` +
    `primary ${readiness.primaryUp ? 'up' : 'DOWN'}; ` +
    (readiness.readyFallbacks.length ? `ready fallbacks: ${readiness.readyFallbacks.join(', ')}` : 'NO READY FALLBACK') +
    (notReady ? `; not ready: ${notReady}` : '') +
    `; probed at ${lastRound.checkedAt}` +
    (state.switched ? `; last switch ${state.switched.from} → ${state.switched.to} at ${state.switched.at}` : '')
  );
}
