import { endpointRegion, type Policy, type ServingEndpoint } from '../policy/schema.js';
import { awsProbeFailure } from './aws-probe-failure.js';
import { answeredIn, DEFAULT_TIMEOUT_MS, limitsOf, type ProbeResult } from './probe.js';

/**
 * Probing an Amazon Bedrock model (docs/serving.md#bedrock) with the function's role, generating
 * nothing: Bedrock's control plane, in the endpoint's region.
 *  - a foundation model id: `GetFoundationModel` (known here, and its lifecycle: ACTIVE, or LEGACY
 *    with its end of life) and `GetFoundationModelAvailability` (this account may invoke it: access
 *    authorized, entitled, agreement accepted, offered in the region);
 *  - an inference profile (a cross-region `us.`/`eu.`/`apac.`/`global.` id, or an inference
 *    profile's ARN): `GetInferenceProfile` (ACTIVE), then the availability of the foundation model
 *    it routes to in this region.
 * A model past its end of life is `model-not-found` (retired); one not available to the account is
 * `auth-failure` (model access not granted), one not offered in the region `model-not-found`.
 */

export interface FoundationModel {
  modelId: string;
  lifecycle?: { status: string; endOfLifeTime?: Date };
}

export interface ModelAvailability {
  authorizationStatus: string;
  entitlementAvailability: string;
  regionAvailability: string;
  agreementAvailability: { status: string; errorMessage?: string };
}

export interface InferenceProfile {
  status: string;
  /** The ARNs of the foundation models it routes to. */
  modelArns: string[];
}

/** Bedrock's control plane (the port; bedrock-models.ts is its adapter). Throws the SDK's errors. */
export interface BedrockModels {
  foundationModel(region: string, modelId: string, signal: AbortSignal): Promise<FoundationModel>;
  availability(region: string, modelId: string, signal: AbortSignal): Promise<ModelAvailability>;
  inferenceProfile(region: string, id: string, signal: AbortSignal): Promise<InferenceProfile>;
}

export interface BedrockTarget {
  model: string;
  region: string;
  slowMs?: number;
  timeoutMs?: number;
}

export function bedrockTargetOf(policy: Policy, endpoint: ServingEndpoint): BedrockTarget {
  return { model: endpoint.model!, region: endpointRegion(policy, endpoint), ...limitsOf(endpoint) };
}

/** Cross-region inference profiles' ids start with their geography; an ARN names the resource type. */
const PROFILE = /^((us|us-gov|eu|apac|jp|au|ca|global)\.|arn:[^:]+:bedrock:[^:]*:[^:]*:(application-)?inference-profile\/)/;
export const isInferenceProfile = (model: string) => PROFILE.test(model);
const foundationIdOf = (arn: string) => arn.slice(arn.lastIndexOf('/') + 1);

/** Why an account may not invoke a model here (undefined: it may), and the class that says so. */
function unavailable(a: ModelAvailability): Pick<ProbeResult, 'class' | 'detail'> | undefined {
  if (a.regionAvailability !== 'AVAILABLE') return { class: 'model-not-found', detail: 'not offered in this region' };
  const problems = [
    a.authorizationStatus !== 'AUTHORIZED' && `authorization ${a.authorizationStatus}`,
    a.entitlementAvailability !== 'AVAILABLE' && `entitlement ${a.entitlementAvailability}`,
    a.agreementAvailability.status !== 'AVAILABLE' &&
      `agreement ${a.agreementAvailability.status}${a.agreementAvailability.errorMessage ? ` (${a.agreementAvailability.errorMessage})` : ''}`,
  ].filter((p): p is string => Boolean(p));
  return problems.length ? { class: 'auth-failure', detail: `model access not granted: ${problems.join(', ')}` } : undefined;
}

/** Probes one Bedrock model or inference profile (see the top of this file); never throws. */
export async function probeBedrock(
  target: BedrockTarget,
  /** `now`: a monotonic clock for latency; `today`: the date, for a model's end of life. */
  deps: { models: BedrockModels; today: () => Date; now?: () => number },
): Promise<ProbeResult> {
  const clock = deps.now ?? (() => performance.now());
  const started = clock();
  const timeoutMs = target.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const signal = AbortSignal.timeout(timeoutMs);
  const { region, model } = target;
  let notes: string | undefined;
  try {
    let foundationId = model;
    if (isInferenceProfile(model)) {
      const profile = await deps.models.inferenceProfile(region, model, signal);
      if (profile.status !== 'ACTIVE')
        return { class: 'model-not-found', latencyMs: clock() - started, detail: `inference profile is ${profile.status}` };
      const routed = profile.modelArns.find((arn) => arn.includes(`:${region}:`)) ?? profile.modelArns[0];
      if (!routed) return { class: 'model-not-found', latencyMs: clock() - started, detail: 'inference profile routes to no model' };
      foundationId = foundationIdOf(routed);
    } else {
      const found = await deps.models.foundationModel(region, model, signal);
      foundationId = found.modelId; // the policy may name the model by its ARN; availability takes its id
      const end = found.lifecycle?.endOfLifeTime;
      if (end && end <= deps.today())
        return { class: 'model-not-found', latencyMs: clock() - started, detail: `retired: end of life ${end.toISOString()}` };
      if (found.lifecycle?.status === 'LEGACY') notes = `LEGACY${end ? `, end of life ${end.toISOString()}` : ''}`;
    }
    const refused = unavailable(await deps.models.availability(region, foundationId, signal));
    if (refused) return { ...refused, latencyMs: clock() - started };
  } catch (error) {
    return awsProbeFailure(error, timeoutMs, clock() - started);
  }
  const latencyMs = clock() - started;
  return { class: answeredIn(latencyMs, target.slowMs), latencyMs, ...(notes && { detail: notes }) };
}
