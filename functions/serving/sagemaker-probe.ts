import type { LedgerEntry, ReplicationLedger } from '../ledger/ledger.js';
import { replicaKeyFor } from '../policy/assets.js';
import type { ObjectAsset, Policy } from '../policy/schema.js';
import { awsProbeFailure } from './aws-probe-failure.js';
import type { ProbeResult } from './probe.js';

/**
 * Probing a SageMaker endpoint (docs/serving.md#sagemaker), the team's own model, often deployed
 * in the DR region: `DescribeEndpoint` (in service?), and where the policy names the artifact it
 * must serve (`servesArtifact`), `DescribeEndpointConfig` and `DescribeModel` for the model data
 * of each production variant, checked against the ledger. Nothing is invoked: no inference is paid.
 *
 * SageMaker takes a model's data from S3 when it deploys the endpoint's instances, and a model
 * data URL names no S3 version: the endpoint serves the version of its model data's key that was
 * current when it was last deployed (its LastModifiedTime). It is **fresh** when its model data is
 * the replica of the artifact's key (in the replica bucket) and the replica version current then is
 * the current verified replica (the newest replicated version, or one with the same SHA-256); else
 * it is `stale-artifact`, saying what it serves and what it should.
 */

/** What SageMaker says of an endpoint (the port; sagemaker-endpoints.ts is its adapter). */
export interface EndpointDescription {
  status: string;
  failureReason?: string;
  /** When the endpoint was last deployed (created or updated). */
  lastModified: Date;
  /** The S3 URI of the model data of each production variant's model (read only when asked). */
  modelData?: string[];
}

export interface SageMakerEndpoints {
  /** Throws the SDK's errors (ValidationException for an unknown endpoint, AccessDeniedException, ...). */
  describe(region: string, endpointName: string, options: { modelData: boolean; signal: AbortSignal }): Promise<EndpointDescription>;
}

export interface SageMakerTarget {
  endpointName: string;
  region: string;
  /** The artifact whose current verified replica the endpoint must serve. */
  servesArtifact?: { asset: ObjectAsset; key: string };
  slowMs?: number;
  timeoutMs?: number;
}

export interface SageMakerProbeDeps {
  endpoints: SageMakerEndpoints;
  ledger: Pick<ReplicationLedger, 'entriesFor'>;
  now?: () => number;
}

type EndpointConfig = NonNullable<Policy['serving']>['services'][number]['primary'];

/** The probe's target from the policy's endpoint (a sagemaker one): its region, its artifact's asset. */
export function sageMakerTargetOf(policy: Policy, endpoint: EndpointConfig): SageMakerTarget {
  const served = endpoint.servesArtifact;
  return {
    endpointName: endpoint.endpointName!,
    region: endpoint.region ?? policy.deployment.region,
    ...(served && { servesArtifact: { asset: policy.assets.find((a) => a.name === served.asset) as ObjectAsset, key: served.key } }),
    ...(endpoint.slowMs && { slowMs: endpoint.slowMs }),
    ...(endpoint.timeoutMs && { timeoutMs: endpoint.timeoutMs }),
  };
}

/** Probes one SageMaker endpoint (see the top of this file); never throws. */
export async function probeSageMaker(target: SageMakerTarget, deps: SageMakerProbeDeps): Promise<ProbeResult> {
  const clock = deps.now ?? (() => performance.now());
  const started = clock();
  const timeoutMs = target.timeoutMs ?? 10_000;
  let description: EndpointDescription;
  try {
    description = await deps.endpoints.describe(target.region, target.endpointName, {
      modelData: target.servesArtifact !== undefined,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    return awsProbeFailure(error, timeoutMs, clock() - started);
  }
  if (description.status !== 'InService') {
    const why = description.failureReason ? `: ${description.failureReason}` : '';
    return { class: 'not-in-service', latencyMs: clock() - started, detail: `endpoint is ${description.status}${why}`.slice(0, 200) };
  }
  if (target.servesArtifact) {
    let stale: string | undefined;
    try {
      stale = await staleness(target.servesArtifact, description, deps.ledger);
    } catch (error) {
      return { class: 'server-error', latencyMs: clock() - started, detail: `the ledger could not be read: ${(error as Error).message}` };
    }
    if (stale) return { class: 'stale-artifact', latencyMs: clock() - started, detail: stale };
  }
  const latencyMs = clock() - started;
  return { class: latencyMs > (target.slowMs ?? 2_000) ? 'slow' : 'healthy', latencyMs };
}

const short = (sha: string | undefined) => (sha ? sha.slice(0, 12) : 'unknown');
const digestOf = (e: LedgerEntry) => e.sha256 ?? e.sha256Composite;

/** Why the endpoint does not serve the artifact's current verified replica; undefined when it does. */
async function staleness(
  served: { asset: ObjectAsset; key: string },
  description: EndpointDescription,
  ledger: Pick<ReplicationLedger, 'entriesFor'>,
): Promise<string | undefined> {
  const { asset, key } = served;
  const replica = `s3://${asset.replica.bucket}/${replicaKeyFor(asset, key)}`;
  const elsewhere = (description.modelData ?? []).find((uri) => uri !== replica);
  if (elsewhere !== undefined || !description.modelData?.length)
    return `its model data is ${elsewhere ?? 'not an S3 object'}, not ${replica} (the replica of ${asset.name}/${key})`;
  const verified = (await ledger.entriesFor(asset.name, key)).filter(
    (e) => e.entryType === 'object' && e.state === 'replicated' && e.replicatedAt !== undefined,
  );
  const current = verified.reduce<LedgerEntry | undefined>(
    (a, e) => (!a || e.sourceLastModified > a.sourceLastModified ? e : a),
    undefined,
  );
  if (!current) return `the ledger has no verified replica of ${asset.name}/${key}`;
  const deployed = description.lastModified.toISOString();
  const taken = verified
    .filter((e) => e.replicatedAt! <= deployed)
    .reduce<LedgerEntry | undefined>((a, e) => (!a || e.replicatedAt! > a.replicatedAt! ? e : a), undefined);
  const currentIs = `the current verified replica of ${asset.name}/${key} (SHA-256 ${short(digestOf(current))}…, replicated at ${current.replicatedAt})`;
  if (!taken) return `it was deployed at ${deployed}, before any verified replica of ${asset.name}/${key}; ${currentIs} is not served`;
  if (taken.sourceVersionId === current.sourceVersionId || (digestOf(taken) !== undefined && digestOf(taken) === digestOf(current)))
    return undefined;
  return `it was deployed at ${deployed} and serves the replica version of ${taken.replicatedAt} (SHA-256 ${short(digestOf(taken))}…), not ${currentIs}`;
}
