import { timedOut, type ProbeClass, type ProbeResult } from './probe.js';

/** AWS's error names (SageMaker's, Bedrock's, the SDK's own), by what they mean to a probe. */
const ERROR_CLASSES: [RegExp, ProbeClass][] = [
  [/^(AccessDenied|UnrecognizedClient|InvalidClientTokenId|ExpiredToken|InvalidSignature|CredentialsProvider)/, 'auth-failure'],
  [/^(Throttling|TooManyRequests|RequestLimitExceeded)/, 'rate-limited'],
  [/^ServiceUnavailable/, 'overloaded'],
  [/^(ResourceNotFound|NotFound)/, 'model-not-found'],
];

/** What an AWS API's error means to a probe of an endpoint (SageMaker, Bedrock), with what it said. */
export function awsProbeFailure(error: unknown, timeoutMs: number, latencyMs: number): ProbeResult {
  const { name, message } = error as Error;
  if (name === 'TimeoutError' || name === 'AbortError') return timedOut(timeoutMs, latencyMs);
  const detail = `${name}: ${message}`.slice(0, 200);
  // SageMaker answers an unknown endpoint with ValidationException "Could not find endpoint", and
  // Bedrock may answer an unknown model id with ValidationException "The provided model identifier is invalid".
  if (name === 'ValidationException' && /could not find|model identifier is invalid/i.test(message))
    return { class: 'model-not-found', latencyMs, detail };
  const known = ERROR_CLASSES.find(([pattern]) => pattern.test(name));
  return { class: known?.[1] ?? 'server-error', latencyMs, detail };
}
