import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENERATION_RESERVE_TOKENS } from '../../../functions/serving/probe.js';
import { probeServing, type ServiceRound, type ServingDeps } from '../../../functions/serving/probe-round.js';
import { createServing } from '../../../functions/serving/runtime.js';
import { hourOf } from '../../../functions/serving/token-budget.js';
import { parseServingConfig } from '../../../functions/shared/config.js';
import { providerAnswers as fixtures } from '../../support/provider-answers.js';
import { chatServing, startServingStack, type ServingStack } from '../../support/serving-stack.js';

/**
 * Generation probes (docs/serving.md#generation) on the local AWS: endpoints whose policy asks for
 * a one-token generation, within each provider's hourly token budget (kept in the ledger table),
 * through a long outage of the primary on the round's clock. The providers are a local server
 * answering in their documented shapes; it counts what each was sent, by hour of the round's clock.
 */

let s: ServingStack;
let deps: ServingDeps;
/** Whether the primary is down (every request to it answered 529). */
let outage = false;
/** The round's clock: one minute a round, from the start of an hour. */
const start = Math.floor(Date.now() / 3_600_000) * 3_600_000;
let round = 0;
const now = () => new Date(start + round * 60_000);
/** Requests each provider got, with the hour of the round they belong to. */
const requests: {
  provider: string;
  method: string;
  url: string;
  hour: string;
  minute: number;
  body?: { max_tokens?: number; max_completion_tokens?: number };
}[] = [];
/** Budgets: five generations an hour for Anthropic, three for OpenAI. */
const BUDGET = { anthropic: 5 * GENERATION_RESERVE_TOKENS, openai: 3 * GENERATION_RESERVE_TOKENS + 10 };

beforeAll(async () => {
  s = await startServingStack({
    answer: (req, text, res) => {
      const [, id, ...rest] = (req.url ?? '').split('/');
      const body = text ? (JSON.parse(text) as Record<string, number>) : undefined;
      requests.push({
        provider: id!,
        method: req.method!,
        url: `/${rest.join('/')}`,
        hour: hourOf(now()),
        minute: now().getUTCMinutes(),
        ...(body && { body }),
      });
      const answers = id === 'claude' ? fixtures.anthropic : fixtures.openai;
      const fixture =
        id === 'claude' && outage
          ? fixtures.anthropic.overloaded!
          : req.method === 'POST'
            ? answers[id === 'claude' ? 'message' : 'completion']!
            : answers.model!;
      // Lookups without quota headers (their headroom is not what this test is about).
      const headers = req.method === 'POST' ? fixture.headers : undefined;
      res.writeHead(fixture.status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(fixture.body));
    },
    policy: (at) =>
      chatServing(at, {
        prefix: '/it/generation/',
        serving: `  generationTokensPerHour: { anthropic: ${BUDGET.anthropic}, openai: ${BUDGET.openai} }\n`,
        endpoint: ', generate: true',
      }),
  });
  deps = createServing(parseServingConfig(process.env), now)!;
}, 240_000);

afterAll(async () => {
  await s?.stop();
});

async function next(): Promise<ServiceRound> {
  const [chat] = await probeServing(deps);
  round++;
  return chat!;
}
const generations = (id: string, hour: string) => requests.filter((r) => r.provider === id && r.method === 'POST' && r.hour === hour);

describe('generation probes', () => {
  it('a generation probe asks for one token, is healthy with the tokens its usage counts, and its quota headroom', async () => {
    const first = await next();
    expect(first.results.claude).toMatchObject({ class: 'healthy', tokensUsed: 9, headroom: 0.749975 });
    expect(first.results.gpt).toMatchObject({ class: 'healthy', tokensUsed: 10 });
    // The endpoints are probed at once: in the order of their ids.
    expect(requests.map((r) => [r.provider, r.method, r.url, r.body]).sort()).toEqual([
      ['claude', 'POST', '/v1/messages', { model: 'claude-opus-4-6', max_tokens: 1, messages: [{ role: 'user', content: 'ping' }] }],
      [
        'gpt',
        'POST',
        '/v1/chat/completions',
        { model: 'gpt-4o-mini', max_completion_tokens: 1, messages: [{ role: 'user', content: 'ping' }] },
      ],
    ]);
  });

  it('reservations racing for one budget: exactly as many are taken as it holds', async () => {
    const hour = '2000-01-01T00';
    const taken = await Promise.all(Array.from({ length: 12 }, () => deps.budget.reserve('anthropic', hour, 16, 5 * 16)));
    expect(taken.filter(Boolean)).toHaveLength(5);
    expect(await deps.budget.spent('anthropic', hour)).toBe(80);
    expect(await deps.budget.reserve('anthropic', '2000-01-01T01', 16, 15)).toBe(false); // a budget smaller than one probe
  });

  it('never takes more than the hour’s budget, spread over the hour, through a three-hour outage of the primary: between, it probes by lookup, says so, and fails over all the same', async () => {
    outage = true;
    const rounds: ServiceRound[] = [];
    while (round < 180) rounds.push(await next());
    const hours = [...new Set(requests.map((r) => r.hour))];
    expect(hours).toHaveLength(3);
    for (const hour of hours) {
      // Every round probes each endpoint once: a generation while the budget lasts, a lookup after.
      expect([hour, generations('claude', hour).length, generations('gpt', hour).length]).toEqual([hour, 5, 3]);
      expect(requests.filter((r) => r.hour === hour && r.method === 'GET')).toHaveLength(2 * 60 - 8);
      expect(await deps.budget.spent('anthropic', hour)).toBeLessThanOrEqual(BUDGET.anthropic);
      expect(await deps.budget.spent('openai', hour)).toBeLessThanOrEqual(BUDGET.openai);
    }
    expect(requests.every((r) => r.method === 'GET' || r.body?.max_tokens === 1 || r.body?.max_completion_tokens === 1)).toBe(true);
    // Once the hour's budget is spent, the round says so.
    expect(rounds[10]!.results.claude).toMatchObject({
      class: 'overloaded',
      detail: `overloaded_error: Overloaded; the ${BUDGET.anthropic}-token generation budget of anthropic for ${hours[0]}h allows none now (spread over the hour): probed by model lookup`,
    });
    expect(rounds[10]!.results.gpt!.detail).toMatch(
      /generation budget of openai .* allows none now \(spread over the hour\): probed by model lookup$/,
    );
    // Spread over the hour: Anthropic's five at minutes 0, 23, 35, 47 and 59; OpenAI's three at 0, 33 and 49.
    const minutes = (id: string) => requests.filter((r) => r.provider === id && r.method === 'POST').map((r) => r.minute);
    expect(minutes('claude')).toEqual([0, 23, 35, 47, 59, 0, 23, 35, 47, 59, 0, 23, 35, 47, 59]);
    expect(minutes('gpt')).toEqual([0, 33, 49, 0, 33, 49, 0, 33, 49]);
    // The outage is seen by lookups as well as by generations: failed over at the second round, and never back.
    expect(rounds.filter((r) => r.switch).map((r) => r.switch)).toEqual([
      { from: 'claude', to: 'gpt', reason: 'primary failed 2 probes in a row (overloaded)' },
    ]);
  });
});
