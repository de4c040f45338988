import { createHash } from 'node:crypto';
import { type ReplicationLedger, verifiedReplicas, writtenLast } from '../ledger/ledger.js';
import type { ObjectAsset, Policy } from '../policy/schema.js';
import type { VersionedStore } from '../storage/versioned-store.js';
import { answers, DEFAULT_TIMEOUT_MS, type ProbeResult, type ProbeTarget } from './probe.js';
import { targetOf, type ServingDeps } from './probe-round.js';
import { countBeyond, hourOf } from './token-budget.js';

/**
 * The smoke eval of a model service (docs/serving.md#smoke-eval), on serving.smokeEvalSchedule:
 * the first `prompts` golden prompts of a JSONL key of an eval-set asset (`{"prompt", "expected"}`
 * a line), read from the replica at its current verified version (checked against the ledger's
 * SHA-256, so it works with the primary region down), sent to every anthropic and openai endpoint of
 * the service (at most `maxTokens` each), and scored simply: an answer passes when it contains the
 * expected text (case and surrounding spaces ignored). Each fallback's score is reported beside the
 * primary's, with the change. Every prompt takes its tokens from the provider's hourly budget first
 * (generationTokensPerHour, shared with generation probes); an endpoint whose budget runs out is
 * scored on the prompts it answered, and says so.
 */
export interface SmokeEvalResult {
  at: string;
  golden: { asset: string; key: string; sourceVersionId: string; prompts: number };
  endpoints: {
    endpoint: string;
    role: 'primary' | 'fallback';
    /** passed / evaluated; null when nothing was evaluated. */
    score: number | null;
    passed: number;
    evaluated: number;
    tokensUsed: number;
    /** Why it was not (fully) evaluated: its provider generates nothing here, or the budget ran out. */
    skipped?: string;
    /** The first prompts it failed, and how (at most five). */
    failures: string[];
    /** Tokens used beyond the reservations that the budget could not count. */
    note?: string;
  }[];
  /** Each fallback's score minus the primary's; null when either has none. */
  changeVsPrimary: Record<string, number | null>;
}

export interface GoldenPrompt {
  prompt: string;
  expected: string;
}

/** The golden prompts of an eval-set key, read from the replica (the port; goldenPromptsFrom is its adapter). */
export type GoldenPrompts = (asset: ObjectAsset, key: string, limit: number) => Promise<{ sourceVersionId: string; lines: GoldenPrompt[] }>;

export interface SmokeEvalDeps extends Pick<ServingDeps, 'serving' | 'now' | 'probe' | 'apiKey' | 'budget' | 'states'> {
  policy: Pick<Policy, 'assets'>;
  golden: GoldenPrompts;
  /** The invocation's time left: no prompt is sent that could not be answered (and the result saved) in it. */
  remainingMs: () => number;
}

/** Time kept for the result's save, beyond a prompt's timeout. */
const SAVE_RESERVE_MS = 5_000;

type Service = NonNullable<Policy['serving']>['services'][number];

/** Tokens a prompt takes from the budget before it is sent: its text (three characters a token, rounded up), the answer, and overhead. */
const reservationOf = (prompt: string, maxTokens: number) => Math.ceil(prompt.length / 3) + maxTokens + 16;
const passes = (answer: string, expected: string) => answer.trim().toLowerCase().includes(expected.trim().toLowerCase());

export async function runSmokeEval(service: Service, deps: SmokeEvalDeps): Promise<SmokeEvalResult> {
  const smoke = service.smokeEval!;
  const asset = deps.policy.assets.find((a) => a.name === smoke.asset) as ObjectAsset;
  const golden = await deps.golden(asset, smoke.key, smoke.prompts);
  const all = [
    { endpoint: service.primary, role: 'primary' as const },
    ...service.fallbacks.map((e) => ({ endpoint: e, role: 'fallback' as const })),
  ];
  const endpoints = await Promise.all(all.map(({ endpoint, role }) => evaluate(endpoint, role, golden.lines, smoke.maxTokens, deps)));
  const primary = endpoints[0]!.score;
  const result: SmokeEvalResult = {
    at: deps.now().toISOString(),
    golden: { asset: asset.name, key: smoke.key, sourceVersionId: golden.sourceVersionId, prompts: golden.lines.length },
    endpoints,
    changeVsPrimary: Object.fromEntries(
      endpoints
        .filter((e) => e.role === 'fallback')
        .map((e) => [e.endpoint, primary === null || e.score === null ? null : Math.round((e.score - primary) * 1000) / 1000]),
    ),
  };
  await deps.states.saveSmokeEval(service.name, result);
  return result;
}

async function evaluate(
  endpoint: Service['primary'],
  role: 'primary' | 'fallback',
  lines: GoldenPrompt[],
  maxTokens: number,
  deps: SmokeEvalDeps,
): Promise<SmokeEvalResult['endpoints'][number]> {
  const out: SmokeEvalResult['endpoints'][number] = {
    endpoint: endpoint.id,
    role,
    score: null,
    passed: 0,
    evaluated: 0,
    tokensUsed: 0,
    failures: [],
  };
  const { provider } = endpoint;
  if (provider !== 'anthropic' && provider !== 'openai')
    return { ...out, skipped: `a ${provider} endpoint is not evaluated (no generation API here)` };
  let target: ProbeTarget;
  try {
    target = await targetOf({ ...endpoint, provider }, deps);
  } catch (error) {
    return { ...out, skipped: `its key could not be read: ${(error as Error).message}` };
  }
  const limit = deps.serving.generationTokensPerHour[provider];
  for (const [i, line] of lines.entries()) {
    if (deps.remainingMs() < (target.timeoutMs ?? DEFAULT_TIMEOUT_MS) + SAVE_RESERVE_MS) {
      out.skipped = `the invocation's time ran out after ${out.evaluated} of ${lines.length} prompts`;
      break;
    }
    const hour = hourOf(deps.now());
    const reserved = reservationOf(line.prompt, maxTokens);
    let taken: boolean;
    try {
      taken = await deps.budget.reserve(provider, hour, reserved, limit);
    } catch (error) {
      out.skipped = `the budget could not be read after ${out.evaluated} of ${lines.length} prompts (${(error as Error).message})`;
      break;
    }
    if (!taken) {
      out.skipped = `the ${limit}-token budget of ${provider} for ${hour}h ran out after ${out.evaluated} of ${lines.length} prompts`;
      break;
    }
    const result: ProbeResult = await deps.probe({ ...target, prompt: { text: line.prompt, maxTokens } });
    out.evaluated++;
    out.tokensUsed += result.tokensUsed ?? 0;
    const uncounted = await countBeyond(deps.budget, provider, hour, reserved, result.tokensUsed);
    if (uncounted) out.note = uncounted; // the score stands; the budget's count is short
    if (answers(result) && passes(result.text ?? '', line.expected)) out.passed++;
    else if (out.failures.length < 5)
      out.failures.push(
        `prompt ${i + 1}: ${answers(result) ? `answered ${JSON.stringify((result.text ?? '').slice(0, 80))}, not ${JSON.stringify(line.expected)}` : `${result.class}${result.detail ? ` (${result.detail})` : ''}`}`,
      );
  }
  return { ...out, score: out.evaluated ? Math.round((out.passed / out.evaluated) * 1000) / 1000 : null };
}

/**
 * Golden prompts from the replica: the key's newest verified version (the ledger's), read from the
 * replica bucket, its SHA-256 checked against the ledger's, its first `limit` lines parsed. A line
 * that is not `{"prompt": string, "expected": string}` is an error naming it.
 */
export function goldenPromptsFrom(
  ledger: Pick<ReplicationLedger, 'entriesFor'>,
  replica: (asset: ObjectAsset) => VersionedStore,
): GoldenPrompts {
  return async (asset, key, limit) => {
    const current = writtenLast(verifiedReplicas(await ledger.entriesFor(asset.name, key)));
    if (!current) throw new Error(`golden prompts: the ledger has no verified replica of ${asset.name}/${key}`);
    if (!current.sha256)
      throw new Error(
        `golden prompts: the newest replica of ${asset.name}/${key} was copied in parts (no whole-object SHA-256 to check it against): keep golden prompts under the multipart threshold`,
      );
    const chunks: Buffer[] = [];
    for await (const chunk of await replica(asset).openRange({
      bucket: asset.replica.bucket,
      key: current.replicaKey!,
      versionId: current.replicaVersionId!,
    }))
      chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const sha256 = createHash('sha256').update(body).digest('hex');
    if (sha256 !== current.sha256)
      throw new Error(`golden prompts: the replica of ${asset.name}/${key} has SHA-256 ${sha256}, not the ledger's ${current.sha256}`);
    const lines = body
      .toString('utf8')
      .split('\n')
      .map((text, i) => ({ l: text.trim(), number: i + 1 }))
      .filter(({ l }) => l)
      .slice(0, limit)
      .map(({ l, number }) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(l);
        } catch {
          parsed = undefined;
        }
        const { prompt, expected } = (parsed ?? {}) as Partial<GoldenPrompt>;
        if (typeof prompt !== 'string' || typeof expected !== 'string' || !prompt || !expected)
          throw new Error(`golden prompts: line ${number} of ${asset.name}/${key} is not {"prompt": "…", "expected": "…"}`);
        return { prompt, expected };
      });
    return { sourceVersionId: current.sourceVersionId, lines };
  };
}
