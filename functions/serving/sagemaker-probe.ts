import { type LedgerEntry, type ReplicationLedger, verifiedReplicas, writtenLast } from '../ledger/ledger.js';
import { replicaKeyFor } from '../policy/assets.js';
import { endpointRegion, type ObjectAsset, type Policy, type ServingEndpoint } from '../policy/schema.js';
import { awsProbeFailure } from './aws-probe-failure.js';
import { answeredIn, DEFAULT_TIMEOUT_MS, limitsOf, type ProbeResult } from './probe.js';

/**
 * Probing a SageMaker endpoint (docs/serving.md#sagemaker), the team's own model, often deployed
 * in the DR region: `DescribeEndpoint` (does it serve?), and where the policy names the artifact it
 * must serve (`servesArtifact`), `DescribeEndpointConfig` and `DescribeModel` for the model data
 * of each production variant, checked against the ledger. Nothing is invoked: no inference is paid.
 *
 * An endpoint serves while `InService`, and also while `Updating`, `SystemUpdating` or
 * `RollingBack` (SageMaker keeps the current variants until the new ones take over): those answer,
 * with the status in `detail`, and their artifact is judged once the update is done. Any other
 * status (`Creating`, `OutOfService`, `Deleting`, `Failed`) is `not-in-service`.
 *
 * SageMaker takes a model's data from S3 when it deploys the endpoint's instances, and a model data
 * URL names no S3 version: the endpoint serves the version of its model data's key that was
 * current in the replica when it was last deployed (its LastModifiedTime). It is **fresh** when its
 * model data is the replica of the artifact's key and that version is the current verified replica
 * (the one replicated last), or has the same SHA-256; else it is `stale-artifact`, saying what it
 * serves and what it should. Model data that cannot be read (a model deleted under a running
 * endpoint, access denied) is `stale-artifact` too: what it serves cannot be vouched for.
 */

/** What SageMaker says of an endpoint (the port; sagemaker-endpoints.ts is its adapter). */
export interface EndpointDescription {
  status: string;
  failureReason?: string;
  /** When the endpoint was last deployed (created or updated). */
  lastModified: Date;
  endpointConfigName: string;
}

export interface SageMakerEndpoints {
  /** Throws the SDK's errors (ValidationException for an unknown endpoint, AccessDeniedException, ...). */
  describe(region: string, endpointName: string, signal: AbortSignal): Promise<EndpointDescription>;
  /** The S3 URI of the model data of each production variant's model of an endpoint configuration. */
  modelData(region: string, endpointConfigName: string, signal: AbortSignal): Promise<string[]>;
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

/** The probe's target from the policy's endpoint (a sagemaker one): its region, its artifact's asset. */
export function sageMakerTargetOf(policy: Policy, endpoint: ServingEndpoint): SageMakerTarget {
  const served = endpoint.servesArtifact;
  return {
    endpointName: endpoint.endpointName!,
    region: endpointRegion(policy, endpoint),
    ...(served && { servesArtifact: { asset: policy.assets.find((a) => a.name === served.asset) as ObjectAsset, key: served.key } }),
    ...limitsOf(endpoint),
  };
}

/** Statuses in which an endpoint still serves its current variants. */
const SERVING_WHILE = new Set(['Updating', 'SystemUpdating', 'RollingBack']);

/** Probes one SageMaker endpoint (see the top of this file); never throws. */
export async function probeSageMaker(target: SageMakerTarget, deps: SageMakerProbeDeps): Promise<ProbeResult> {
  const clock = deps.now ?? (() => performance.now());
  const started = clock();
  const timeoutMs = target.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const signal = AbortSignal.timeout(timeoutMs);
  const result = (r: Omit<ProbeResult, 'latencyMs'>): ProbeResult => ({ ...r, latencyMs: clock() - started });
  let description: EndpointDescription;
  try {
    description = await deps.endpoints.describe(target.region, target.endpointName, signal);
  } catch (error) {
    return awsProbeFailure(error, timeoutMs, clock() - started);
  }
  const { status } = description;
  if (SERVING_WHILE.has(status)) return result({ class: answeredIn(clock() - started, target.slowMs), detail: `endpoint is ${status}` });
  if (status !== 'InService') {
    const why = description.failureReason ? `: ${description.failureReason}` : '';
    return result({ class: 'not-in-service', detail: `endpoint is ${status}${why}`.slice(0, 200) });
  }
  if (target.servesArtifact) {
    let modelData: string[];
    try {
      modelData = await deps.endpoints.modelData(target.region, description.endpointConfigName, signal);
    } catch (error) {
      const failed = awsProbeFailure(error, timeoutMs, 0);
      return result({ class: 'stale-artifact', detail: `what it serves could not be read: ${failed.detail}`.slice(0, 300) });
    }
    let stale: string | undefined;
    try {
      stale = await staleness(target.servesArtifact, description.lastModified, modelData, deps.ledger);
    } catch (error) {
      return result({ class: 'server-error', detail: `the ledger could not be read: ${(error as Error).message}` });
    }
    if (stale) return result({ class: 'stale-artifact', detail: stale });
  }
  return result({ class: answeredIn(clock() - started, target.slowMs) });
}

const short = (sha: string | undefined) => (sha ? sha.slice(0, 12) : 'unknown');
/** Two versions hold the same bytes: equal SHA-256, or equal composite digests taken with the same part size. */
const sameBytes = (a: LedgerEntry, b: LedgerEntry) =>
  (a.sha256 !== undefined && a.sha256 === b.sha256) ||
  (a.sha256Composite !== undefined && a.sha256Composite === b.sha256Composite && a.partSizeBytes === b.partSizeBytes);

/** Why the endpoint does not serve the artifact's current verified replica; undefined when it does. */
async function staleness(
  served: { asset: ObjectAsset; key: string },
  deployedAt: Date,
  modelData: string[],
  ledger: Pick<ReplicationLedger, 'entriesFor'>,
): Promise<string | undefined> {
  const { asset, key } = served;
  const replica = `s3://${asset.replica.bucket}/${replicaKeyFor(asset, key)}`;
  const elsewhere = modelData.find((uri) => uri !== replica);
  if (elsewhere !== undefined || modelData.length === 0)
    return `its model data is ${elsewhere ?? 'not an S3 object'}, not ${replica} (the replica of ${asset.name}/${key})`;
  // Versions in the replica, verified, by when they were written there: the one written last is the
  // current replica (a version written again, after a newer one was deleted at the source, is current again).
  const verified = verifiedReplicas(await ledger.entriesFor(asset.name, key));
  const current = writtenLast(verified);
  if (!current) return `the ledger has no verified replica of ${asset.name}/${key}`;
  const deployed = deployedAt.toISOString();
  const taken = writtenLast(verified.filter((e) => e.replicatedAt! <= deployed));
  const digest = (e: LedgerEntry) => short(e.sha256 ?? e.sha256Composite);
  const currentIs = `the current verified replica of ${asset.name}/${key} (SHA-256 ${digest(current)}…, replicated at ${current.replicatedAt})`;
  if (!taken) return `it was deployed at ${deployed}, before any verified replica of ${asset.name}/${key}; ${currentIs} is not served`;
  if (taken.sourceVersionId === current.sourceVersionId || sameBytes(taken, current)) return undefined;
  return `it was deployed at ${deployed} and serves the replica version of ${taken.replicatedAt} (SHA-256 ${digest(taken)}…), not ${currentIs}`;
}
