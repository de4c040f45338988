/**
 * Probing a model-serving endpoint (docs/serving.md#probes): the cheapest request that proves the
 * endpoint would answer, and what its answer means. Default probes spend no generation tokens:
 *   anthropic  GET {baseUrl}/v1/models/{model}  (x-api-key, anthropic-version: 2023-06-01)
 *   openai     GET {baseUrl}/v1/models/{model}  (Authorization: Bearer)
 *   http       GET {url}                         (any 2xx is an answer)
 * Answers are classified into the classes below; a 200 that does not name the model is
 * `model-not-found` (a gateway answering for a retired id), not healthy.
 *
 * Where the policy asks for it (`generate`) and the hour's token budget allows it, an anthropic or
 * openai probe is a one-token generation instead (docs/serving.md#generation):
 *   anthropic  POST {baseUrl}/v1/messages          {model, max_tokens: 1, messages: ["ping"]}
 *   openai     POST {baseUrl}/v1/chat/completions  {model, max_completion_tokens: 1, messages: ["ping"]}
 * healthy when it answers a message (a completion), with the tokens its usage says it took.
 */

export type ProbeClass =
  | 'healthy'
  | 'slow'
  | 'rate-limited'
  | 'overloaded'
  | 'auth-failure'
  | 'model-not-found'
  | 'server-error'
  | 'timeout'
  /** A SageMaker endpoint that is not InService (Creating, Updating, Failed, ...). */
  | 'not-in-service'
  /** A SageMaker endpoint in service that does not serve its artifact's current verified replica. */
  | 'stale-artifact';

export interface ProbeResult {
  class: ProbeClass;
  /** HTTP status, when there was an answer. */
  status?: number;
  latencyMs: number;
  /** The provider's own error type or message, shortened, when it gave one. */
  detail?: string;
  /**
   * Quota headroom from the provider's rate-limit headers, as a fraction of the limit (0–1), when
   * it sent them: the lowest of requests and tokens.
   */
  headroom?: number;
  /** Seconds the provider asks to wait (retry-after), when it said. */
  retryAfterSeconds?: number;
  /** A generation probe: the tokens the provider's usage says it took. */
  tokensUsed?: number;
  /** A generation of a prompt: the text answered. */
  text?: string;
}

export type Provider = 'anthropic' | 'openai' | 'http';

/** What one probe needs: where, which model, which key. */
export interface ProbeTarget {
  provider: Provider;
  /** anthropic/openai: the API's base URL (default the provider's); http: the URL probed. */
  url: string;
  model?: string;
  apiKey?: string;
  /** A probe answered later than this is `slow` (default 2000 ms). */
  slowMs?: number;
  /** A probe not answered by then is `timeout` (default 10000 ms). */
  timeoutMs?: number;
  /** anthropic/openai: a one-token generation instead of the model lookup. */
  generate?: boolean;
  /** A generation of `prompt` in at most `maxTokens` (the smoke eval's) instead of the one-token "ping". */
  prompt?: { text: string; maxTokens: number };
}

/** What a generation probe asks, and the tokens taken from the hour's budget before it is sent (above what the prompt costs). */
export const GENERATION_PROMPT = 'ping';
export const GENERATION_RESERVE_TOKENS = 16;

/** A probe answered later than this is slow; one not answered by then, a timeout (the policy may say otherwise per endpoint). */
export const DEFAULT_SLOW_MS = 2_000;
export const DEFAULT_TIMEOUT_MS = 10_000;

/** An endpoint's own limits, where the policy gives them. */
export const limitsOf = (e: {
  slowMs?: number | undefined;
  timeoutMs?: number | undefined;
}): Pick<ProbeTarget, 'slowMs' | 'timeoutMs'> => ({
  ...(e.slowMs && { slowMs: e.slowMs }),
  ...(e.timeoutMs && { timeoutMs: e.timeoutMs }),
});

/** An answer's class by its latency. */
export const answeredIn = (latencyMs: number, slowMs: number | undefined): 'healthy' | 'slow' =>
  latencyMs > (slowMs ?? DEFAULT_SLOW_MS) ? 'slow' : 'healthy';

/** A probe without an answer in time. */
export const timedOut = (timeoutMs: number, latencyMs: number): ProbeResult => ({
  class: 'timeout',
  latencyMs,
  detail: `no answer in ${timeoutMs} ms`,
});

export const DEFAULT_BASE_URL: Record<Exclude<Provider, 'http'>, string> = {
  anthropic: 'https://api.anthropic.com',
  openai: 'https://api.openai.com',
};

const ANTHROPIC_VERSION = '2023-06-01';

/** The request a probe sends: a GET without a body, or (generate) a one-token generation. */
export function probeRequest(target: ProbeTarget): { url: string; headers: Record<string, string>; method: 'GET' | 'POST'; body?: string } {
  const base = target.url.replace(/\/+$/, '');
  const messages = [{ role: 'user', content: target.prompt?.text ?? GENERATION_PROMPT }];
  const maxTokens = target.prompt?.maxTokens ?? 1;
  const json = { 'content-type': 'application/json' };
  switch (target.provider) {
    case 'anthropic': {
      const headers = { 'x-api-key': target.apiKey ?? '', 'anthropic-version': ANTHROPIC_VERSION };
      if (target.generate || target.prompt)
        return {
          url: `${base}/v1/messages`,
          method: 'POST',
          headers: { ...headers, ...json },
          body: JSON.stringify({ model: target.model, max_tokens: maxTokens, messages }),
        };
      return { url: `${base}/v1/models/${encodeURIComponent(target.model!)}`, method: 'GET', headers };
    }
    case 'openai': {
      const headers = { authorization: `Bearer ${target.apiKey ?? ''}` };
      if (target.generate || target.prompt)
        return {
          url: `${base}/v1/chat/completions`,
          method: 'POST',
          headers: { ...headers, ...json },
          body: JSON.stringify({ model: target.model, max_completion_tokens: maxTokens, messages }),
        };
      return { url: `${base}/v1/models/${encodeURIComponent(target.model!)}`, method: 'GET', headers };
    }
    case 'http':
      return { url: target.url, method: 'GET', headers: {} };
  }
}

/**
 * Whether a generation answered by `answered` is the model asked for: the same id, or a dated
 * snapshot of it ("gpt-4o-mini" → "gpt-4o-mini-2024-07-18"), or of the model an alias names
 * ("claude-sonnet-4-0" → "claude-sonnet-4-20250514", "claude-3-5-sonnet-latest" →
 * "claude-3-5-sonnet-20241022"). Another model of the same family is not ("gpt-4o" → "gpt-4o-mini").
 */
export function sameModel(asked: string, answered: string): boolean {
  if (answered === asked) return true;
  const snapshotOf = (base: string) => answered.startsWith(`${base}-`) && /^\d{4}-?\d{2}-?\d{2}$/.test(answered.slice(base.length + 1));
  return snapshotOf(asked) || snapshotOf(asked.replace(/-latest$/, '')) || snapshotOf(asked.replace(/-\d{1,2}$/, ''));
}

/** A generation's answer: Anthropic's message or OpenAI's chat completion, its text, and the tokens its usage counts. */
function generated(provider: Provider, body: string): { tokensUsed: number; text: string; model?: string } | undefined {
  try {
    const answer = JSON.parse(body) as {
      type?: string;
      object?: string;
      model?: string;
      content?: { type?: string; text?: string }[];
      choices?: { message?: { content?: string | null } }[];
      usage?: { input_tokens?: number; output_tokens?: number; total_tokens?: number };
    };
    const usage = answer.usage ?? {};
    const model = typeof answer.model === 'string' ? { model: answer.model } : {};
    if (provider === 'anthropic' && answer.type === 'message')
      return {
        ...model,
        tokensUsed: (usage.input_tokens ?? 0) + (usage.output_tokens ?? 0),
        text: (answer.content ?? []).map((c) => (c.type === 'text' ? (c.text ?? '') : '')).join(''),
      };
    if (provider === 'openai' && answer.object === 'chat.completion')
      return { ...model, tokensUsed: usage.total_tokens ?? 0, text: answer.choices?.[0]?.message?.content ?? '' };
  } catch {
    // not JSON
  }
  return undefined;
}

/** Remaining/limit pairs of the providers' rate-limit headers (Anthropic's, then OpenAI's). */
const HEADROOM_HEADERS: [remaining: string, limit: string][] = [
  ['anthropic-ratelimit-requests-remaining', 'anthropic-ratelimit-requests-limit'],
  ['anthropic-ratelimit-tokens-remaining', 'anthropic-ratelimit-tokens-limit'],
  ['x-ratelimit-remaining-requests', 'x-ratelimit-limit-requests'],
  ['x-ratelimit-remaining-tokens', 'x-ratelimit-limit-tokens'],
];

export function headroomOf(headers: Headers): number | undefined {
  const fractions = HEADROOM_HEADERS.flatMap(([remaining, limit]) => {
    const r = Number(headers.get(remaining));
    const l = Number(headers.get(limit));
    return headers.has(remaining) && headers.has(limit) && Number.isFinite(r) && l > 0 ? [Math.max(0, Math.min(1, r / l))] : [];
  });
  return fractions.length ? Math.min(...fractions) : undefined;
}

/** The provider's error type (Anthropic's and OpenAI's error bodies), or the start of the body. */
function detailOf(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: { type?: string; code?: string; message?: string } };
    const error = parsed.error;
    if (error) return [error.type ?? error.code, error.message].filter(Boolean).join(': ').slice(0, 200) || undefined;
  } catch {
    // not JSON
  }
  return body.trim().slice(0, 200) || undefined;
}

/** What an answer means (see the top of this file). */
export function classify(
  target: Pick<ProbeTarget, 'provider' | 'model' | 'slowMs' | 'generate' | 'prompt'>,
  answer: { status: number; body: string; latencyMs: number; headers: Headers },
): ProbeResult {
  const { status, latencyMs, headers } = answer;
  const retryAfter = Number(headers.get('retry-after'));
  const headroom = headroomOf(headers);
  const base: ProbeResult = {
    class: 'healthy',
    status,
    latencyMs,
    ...(headroom !== undefined && { headroom }),
    ...(headers.has('retry-after') && Number.isFinite(retryAfter) && { retryAfterSeconds: retryAfter }),
  };
  const failed = (cls: ProbeClass): ProbeResult => {
    const detail = detailOf(answer.body);
    return { ...base, class: cls, ...(detail && { detail }) };
  };
  if (status === 401 || status === 403) return failed('auth-failure');
  if (status === 404) return failed('model-not-found');
  if (status === 429) return failed('rate-limited');
  if (status === 529 || status === 503) return failed('overloaded');
  if (status >= 500) return failed('server-error');
  if (status < 200 || status >= 300) return failed('server-error');
  if ((target.generate || target.prompt) && target.provider !== 'http') {
    const answered = generated(target.provider, answer.body);
    if (!answered) return { ...base, class: 'server-error', detail: 'answered without a generated message' };
    const { tokensUsed, text, model } = answered;
    // Answered by another model than asked (a gateway routing a retired id elsewhere): not the model's answer.
    if (model !== undefined && !sameModel(target.model!, model))
      return { ...base, tokensUsed, class: 'model-not-found', detail: `generated by ${JSON.stringify(model)}, not ${target.model}` };
    return { ...base, tokensUsed, ...(target.prompt && { text }), class: answeredIn(latencyMs, target.slowMs) };
  }
  if (target.provider !== 'http') {
    let id: unknown;
    try {
      id = (JSON.parse(answer.body) as { id?: unknown }).id;
    } catch {
      id = undefined;
    }
    if (id !== target.model)
      return { ...base, class: 'model-not-found', detail: `answered for ${JSON.stringify(id ?? null)}, not ${target.model}` };
  }
  return { ...base, class: answeredIn(latencyMs, target.slowMs) };
}

/** Probes one endpoint: one request, classified; never throws. */
export async function probe(target: ProbeTarget, deps: { fetch?: typeof fetch; now?: () => number } = {}): Promise<ProbeResult> {
  const request = probeRequest(target);
  const clock = deps.now ?? (() => performance.now());
  const started = clock();
  const timeoutMs = target.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  try {
    const response = await (deps.fetch ?? fetch)(request.url, {
      method: request.method,
      headers: request.headers,
      ...(request.body && { body: request.body }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = await response.text();
    return classify(target, { status: response.status, body, latencyMs: clock() - started, headers: response.headers });
  } catch (error) {
    const latencyMs = clock() - started;
    const name = (error as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') return timedOut(timeoutMs, latencyMs);
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return { class: 'server-error', latencyMs, detail: `unreachable: ${cause?.code ?? cause?.message ?? (error as Error).message}` };
  }
}

/** Whether a probe result counts as the endpoint answering (slow answers count; the rest do not). */
export const answers = (result: ProbeResult) => result.class === 'healthy' || result.class === 'slow';
