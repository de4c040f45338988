import type { RetryErrorInfo, RetryStrategyV2, RetryToken } from '@smithy/types';

/**
 * SDK retries with exponential backoff and full jitter, for writes whose failure may be ambiguous.
 * An error response from S3 (throttling such as 503 SlowDown, or a 5xx) means the write did not
 * happen: it is retried. A network failure or timeout ("TRANSIENT") may have happened after S3
 * applied the write: retrying could add a second replica version, so it is not retried here; the
 * version fails, and the next attempt adopts a copy that did land (replicate-key.ts).
 */
export class RetryUnlessAmbiguous implements RetryStrategyV2 {
  readonly mode = 'standard';

  constructor(
    private readonly maxAttempts = 5,
    private readonly baseDelayMs = 100,
    private readonly maxDelayMs = 20_000,
  ) {}

  async acquireInitialRetryToken(): Promise<RetryToken> {
    return this.token(0, 0);
  }

  async refreshRetryTokenForRetry(token: RetryToken, info: RetryErrorInfo): Promise<RetryToken> {
    const retries = token.getRetryCount() + 1;
    // The SDK calls both a 5xx answer and a dropped connection "TRANSIENT": what tells them apart is
    // whether S3 answered at all.
    const status = (info.error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
    const answered = status !== undefined && (status >= 500 || status === 429);
    const retryable = info.errorType !== 'CLIENT_ERROR' && answered;
    if (!retryable || retries >= this.maxAttempts) throw new Error('no more retries');
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** retries);
    return this.token(retries, Math.random() * ceiling);
  }

  recordSuccess(): void {}

  private token(retries: number, delay: number): RetryToken {
    return { getRetryCount: () => retries, getRetryDelay: () => delay };
  }
}
