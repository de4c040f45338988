import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localContext } from '../../../scripts/local-aws/event-source-mapping.js';
import { loadEvent } from '../../support/fixtures.js';
import type { StackUnderTest } from '../../support/local-stack.js';
import { chatServing, startServingStack, type ServingStack } from '../../support/serving-stack.js';
import { providerAnswers as fixtures } from '../../support/provider-answers.js';

/**
 * The smoke eval (docs/serving.md#smoke-eval) on the local AWS: golden prompts of the eval-set asset
 * "evals" replicated by the stack and read from the replica; the providers a local server that
 * answers their documented generation shapes with texts the test chooses (the fallback gets one
 * prompt wrong); OpenAI's budget too small for all the prompts.
 */
let s: ServingStack;
let t: StackUnderTest;
let handler: (event: unknown, context: ReturnType<typeof localContext>) => Promise<any>;
const GOLDEN = 'evals/golden/smoke.jsonl';
const lines = [
  { prompt: 'What is the capital of France?', expected: 'Paris' },
  { prompt: '2+2=?', expected: '4' },
  { prompt: 'Spell cat backwards', expected: 'tac' },
  { prompt: 'Not read: past the prompts asked for', expected: 'x' },
];
/** What each provider answers to each prompt. */
const answers: Record<string, Record<string, string>> = {
  claude: { [lines[0]!.prompt]: 'The capital of France is Paris.', [lines[1]!.prompt]: '4', [lines[2]!.prompt]: 'TAC' },
  gpt: { [lines[0]!.prompt]: 'Lyon', [lines[1]!.prompt]: 'It is 4.', [lines[2]!.prompt]: 'tac' },
};
const asked: { provider: string; prompt: string; maxTokens: number }[] = [];

beforeAll(async () => {
  s = await startServingStack({
    answer: (req, text, res) => {
      const [, id] = (req.url ?? '').split('/');
      if (id === 'gateway') return void res.writeHead(200).end();
      const body = JSON.parse(text || '{}') as { messages?: { content: string }[]; max_tokens?: number; max_completion_tokens?: number };
      const prompt = body.messages?.[0]?.content ?? '';
      asked.push({ provider: id!, prompt, maxTokens: body.max_tokens ?? body.max_completion_tokens ?? 0 });
      const answered = answers[id!]![prompt] ?? '';
      const answer =
        id === 'claude'
          ? { ...(fixtures.anthropic.message!.body as object), content: [{ type: 'text', text: answered }] }
          : {
              ...(fixtures.openai.completion!.body as object),
              choices: [{ index: 0, message: { role: 'assistant', content: answered }, finish_reason: 'stop' }],
            };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    },
    // The golden prompts, replicated by the stack.
    before: async (stack) => {
      await stack.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: GOLDEN, Body: lines.map((l) => JSON.stringify(l)).join('\n') }));
      await stack.drain();
    },
    policy: (at) =>
      chatServing(at, {
        prefix: '/it/smoke/',
        serving: '  generationTokensPerHour: { anthropic: 1000, openai: 100 }\n',
        fallbacks: `        - { id: gateway, provider: http, url: "${at.base}/gateway/health" }\n`,
        service: `      smokeEval: { asset: evals, key: ${GOLDEN}, prompts: 3, maxTokens: 16 }\n`,
      }),
  });
  t = s.t;
  ({ handler } = await import('../../../functions/probe-serving.js'));
}, 240_000);

afterAll(async () => {
  await s?.stop();
});

describe('the smoke eval', () => {
  it('scores the primary and each fallback on the golden prompts from the replica, with the change against the primary, within the budget', async () => {
    const { smokeEvals } = await handler(loadEvent('probe-serving/valid/smoke-eval.json'), localContext('probe-serving'));
    const [chat] = smokeEvals;
    const [version] = await t.ledger.entriesFor('evals', GOLDEN);
    expect(chat).toMatchObject({
      service: 'chat',
      golden: { asset: 'evals', key: GOLDEN, sourceVersionId: version!.sourceVersionId, prompts: 3 },
      changeVsPrimary: { gpt: -0.5, gateway: null },
    });
    expect(chat.endpoints).toEqual([
      { endpoint: 'claude', role: 'primary', score: 1, passed: 3, evaluated: 3, tokensUsed: 27, failures: [] },
      {
        endpoint: 'gpt',
        role: 'fallback',
        score: 0.5,
        passed: 1,
        evaluated: 2,
        tokensUsed: 20,
        failures: ['prompt 1: answered "Lyon", not "Paris"'],
        skipped: expect.stringMatching(/^the 100-token budget of openai for \S+h ran out after 2 of 3 prompts$/),
      },
      {
        endpoint: 'gateway',
        role: 'fallback',
        score: null,
        passed: 0,
        evaluated: 0,
        tokensUsed: 0,
        failures: [],
        skipped: 'a http endpoint is not evaluated (no generation API here)',
      },
    ]);
    // Three prompts to the primary, two to the fallback before its budget ran out, each with the policy's maxTokens.
    expect(asked.filter((a) => a.provider === 'claude').map((a) => a.prompt)).toEqual(lines.slice(0, 3).map((l) => l.prompt));
    expect(asked.filter((a) => a.provider === 'gpt')).toHaveLength(2);
    expect(asked.every((a) => a.maxTokens === 16)).toBe(true);

    // Kept beside the service's state (probe-serving's rounds keep it): status shows it under the service.
    await handler({}, localContext('probe-serving'));
    const { handler: status } = (await import('../../../functions/status.js')) as { handler: (e: unknown, c: unknown) => Promise<any> };
    const table = (await status({ format: 'table' }, localContext('status'))).table as string;
    expect(table).toMatch(
      new RegExp(
        `^ {2}smoke eval at \\S+ on evals/${GOLDEN} \\(3 prompts\\): claude 1\\.00 \\(3/3\\); gpt 0\\.50 \\(1/2\\) -0\\.50 vs primary \\[the 100-token budget`,
        'm',
      ),
    );
  });

  it('says golden prompts that are not {"prompt", "expected"} lines are refused, naming the line, and sends nothing', async () => {
    asked.length = 0;
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: GOLDEN, Body: `${JSON.stringify(lines[0])}\n{"question": "?"}\n` }));
    await t.drain();
    expect((await handler({ trigger: 'smoke-eval' }, localContext('probe-serving'))).smokeEvals).toEqual([
      { service: 'chat', error: `golden prompts: line 2 of evals/${GOLDEN} is not {"prompt": "…", "expected": "…"}` },
    ]);
    expect(asked).toEqual([]);
  });
});
