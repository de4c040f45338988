import { setTimeout as sleep } from 'node:timers/promises';
import { EngineError, type Engine } from '../vector-store.js';

/**
 * The one JSON-over-HTTP client of the HTTP adapters (Qdrant, Pinecone, Weaviate, Chroma).
 * - A network failure or timeout becomes an EngineError naming the URL (the run fails with it).
 * - 429 and 5xx answers are retried with exponential backoff, then become HttpStatusError.
 * - Other non-2xx answers become HttpStatusError at once, so an adapter can map 404 to
 *   IndexNotFoundError and 409 to IndexExistsError.
 */
export class HttpStatusError extends EngineError {
  constructor(
    engine: Engine,
    readonly status: number,
    readonly method: string,
    readonly url: string,
    readonly body: string,
  ) {
    super(engine, `${method} ${url} answered HTTP ${status}: ${body.slice(0, 300)}`);
  }
}

export interface HttpJsonOptions {
  engine: Engine;
  baseUrl: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
  /** Attempts for 429/5xx/network errors (1 = no retry). */
  attempts?: number;
  /** First backoff delay; doubles per attempt. Tests set it to 0. */
  backoffMs?: number;
}

export interface HttpJson {
  readonly baseUrl: string;
  json<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** The raw response body as a stream (snapshot downloads). */
  stream(method: string, path: string): Promise<AsyncIterable<Uint8Array>>;
}

export function httpJson(options: HttpJsonOptions): HttpJson {
  const { engine, headers = {}, timeoutMs = 30_000, attempts = 3, backoffMs = 200 } = options;
  const baseUrl = options.baseUrl.replace(/\/+$/, '');

  async function send(method: string, path: string, body?: unknown): Promise<Response> {
    const url = `${baseUrl}${path}`;
    for (let attempt = 1; ; attempt++) {
      let response: Response;
      try {
        response = await fetch(url, {
          method,
          headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        if (attempt < attempts) {
          await sleep(backoffMs * 2 ** (attempt - 1));
          continue;
        }
        const reason = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
        throw new EngineError(engine, `cannot reach ${method} ${url}: ${reason}`, { cause: error });
      }
      if (response.ok) return response;
      const text = await response.text().catch(() => '');
      if ((response.status === 429 || response.status >= 500) && attempt < attempts) {
        await sleep(backoffMs * 2 ** (attempt - 1));
        continue;
      }
      throw new HttpStatusError(engine, response.status, method, url, text);
    }
  }

  return {
    baseUrl,
    async json<T>(method: string, path: string, body?: unknown): Promise<T> {
      const response = await send(method, path, body);
      const text = await response.text();
      if (text === '') return undefined as T;
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new EngineError(engine, `${method} ${baseUrl}${path} answered with a body that is not JSON: ${text.slice(0, 200)}`);
      }
    },
    async stream(method: string, path: string): Promise<AsyncIterable<Uint8Array>> {
      const response = await send(method, path);
      if (!response.body) throw new EngineError(engine, `${method} ${baseUrl}${path} answered with no body`);
      return response.body;
    },
  };
}
