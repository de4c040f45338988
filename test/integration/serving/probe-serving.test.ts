import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { providerAnswers as fixtures } from '../../support/provider-answers.js';
import { probeServing, type ServiceRound, type ServingDeps } from '../../../functions/serving/probe-round.js';
import { createServing } from '../../../functions/serving/runtime.js';
import { pinService, type PinDeps } from '../../../functions/serving/operator-pin.js';
import { parseServingConfig } from '../../../functions/shared/config.js';
import { localContext } from '../../../scripts/local-aws/event-source-mapping.js';
import { loadEvent } from '../../support/fixtures.js';
import { onCallPages } from '../../support/on-call.js';
import type { StackUnderTest } from '../../support/local-stack.js';
import { chatServing, startServingStack, type ServingStack } from '../../support/serving-stack.js';

/**
 * probe-serving's rounds (docs/serving.md) on the local AWS: keys in Secrets Manager, the failover
 * state in the ledger table, the switch in SSM Parameter Store, pages on the stack's bus; the
 * providers are a local server answering in their documented shapes
 * (test/fixtures/serving/provider-answers.json), with outages injected by the test.
 */

let s: ServingStack;
let t: StackUnderTest;
let deps: ServingDeps & PinDeps;
/** What each endpoint answers now (a fixture name; "http" endpoints: a status). */
const answering: Record<string, string> = { claude: 'model', gpt: 'model', gateway: '200' };
const requests: { method: string; url: string }[] = [];
const ssm = new SSMClient({});
let round = 0;
const start = Date.now();

beforeAll(async () => {
  s = await startServingStack({
    answer: (req, _body, res) => {
      requests.push({ method: req.method!, url: req.url! });
      const [, id] = (req.url ?? '').split('/');
      if (id === 'gateway') return void res.writeHead(Number(answering.gateway)).end();
      const fixture = fixtures[id === 'claude' ? 'anthropic' : 'openai'][answering[id!]!]!;
      res.writeHead(fixture.status, { 'content-type': 'application/json', ...fixture.headers }).end(JSON.stringify(fixture.body));
    },
    policy: (at) =>
      chatServing(at, {
        prefix: '/it/serving/',
        fallbacks: `        - { id: gateway, provider: http, url: "${at.base}/gateway/health" }\n`,
      }),
  });
  t = s.t;
  deps = createServing(parseServingConfig(process.env), () => new Date(start + round * 60_000))!;
}, 240_000);

afterAll(async () => {
  await s?.stop();
});

/** One scheduled round, a minute after the last. */
async function next(): Promise<ServiceRound> {
  round++;
  const [chat] = await probeServing(deps);
  return chat!;
}
const parameter = async () => (await ssm.send(new GetParameterCommand({ Name: '/it/serving/chat' }))).Parameter?.Value;
const pages = async () => (await onCallPages(t)).map((p) => [p['detail-type'], p.detail.reason]);

describe('probe-serving', () => {
  it('writes the primary as active while all is well, and pages nothing', async () => {
    const first = await next();
    expect(first.results).toMatchObject({
      claude: { class: 'healthy' },
      gpt: { class: 'healthy', headroom: 0.04 },
      gateway: { class: 'healthy' },
    });
    expect(first.readiness).toEqual({
      primaryUp: true,
      readyFallbacks: ['gateway'],
      notReady: [{ endpoint: 'gpt', class: 'no-quota-headroom' }],
    });
    expect(await parameter()).toBe('claude');
    expect(await pages()).toEqual([]);
  });

  it('pages when no fallback would answer although nothing is down yet (a revoked key, a failing gateway), and recovers', async () => {
    answering.gpt = 'auth';
    answering.gateway = '503';
    const revoked = await next();
    expect(revoked.readiness.readyFallbacks).toEqual([]);
    expect(revoked.active).toBe('claude');
    const missed = await onCallPages(t);
    expect(missed.map((p) => [p['detail-type'], p.detail.asset, p.detail.target, p.detail.reason])).toEqual([
      ['DR Target Missed', 'chat', 'serving', 'no-ready-fallback'],
    ]);
    expect(missed[0]!.detail.description).toContain('gpt: auth-failure (invalid_request_error: Incorrect API key provided)');
    await next();
    expect(await pages()).toEqual([]); // once per incident
    answering.gpt = 'model';
    answering.gateway = '200';
    await next();
    expect(await pages()).toEqual([['DR Target Recovered', 'back-under-target']]);
  });

  it('fails over from a dead primary within two probe intervals, without flapping back, and fails back after it holds', async () => {
    answering.claude = 'overloaded';
    const first = await next();
    expect([first.results.claude!.class, first.active, await parameter()]).toEqual(['overloaded', 'claude', 'claude']);
    const second = await next();
    expect(second.switch).toEqual({ from: 'claude', to: 'gateway', reason: 'primary failed 2 probes in a row (overloaded)' });
    expect(await parameter()).toBe('gateway');
    expect(await pages()).toEqual([['DR Target Missed', 'serving-primary-down']]);

    // Back for four rounds, down for one, back again: still on the fallback until five in a row.
    answering.claude = 'model';
    for (let i = 0; i < 4; i++) expect((await next()).active).toBe('gateway');
    expect(await pages()).toEqual([['DR Target Recovered', 'back-under-target']]);
    answering.claude = 'serverError';
    expect((await next()).active).toBe('gateway');
    answering.claude = 'model';
    const back = [];
    for (let i = 0; i < 5; i++) back.push((await next()).switch);
    expect(back.filter(Boolean)).toEqual([{ from: 'gateway', to: 'claude', reason: 'primary answered 5 probes in a row' }]);
    expect(await parameter()).toBe('claude');
    // status shows the service as the last round left it, and the last switch.
    const { handler: status } = (await import('../../../functions/status.js')) as { handler: (e: unknown, c: unknown) => Promise<any> };
    const table = (await status({ format: 'table' }, localContext('status'))).table as string;
    expect(table).toMatch(
      /^serving chat: active claude; primary up; ready fallbacks: gateway; not ready: gpt no-quota-headroom; probed at \S+; last switch gateway → claude at \S+$/m,
    );
    const json = await status({}, localContext('status'));
    expect(json.serving).toEqual([
      expect.objectContaining({
        service: 'chat',
        state: expect.objectContaining({ active: 'claude' }),
        lastRound: expect.objectContaining({ readiness: expect.any(Object) }),
      }),
    ]);
  });

  it('the deployed handler runs one round with the policy’s keys, and takes only {}, the schedule’s event or the smoke eval’s', async () => {
    const { handler } = (await import('../../../functions/probe-serving.js')) as { handler: (e: unknown, c: unknown) => Promise<any> };
    const result = await handler(loadEvent('probe-serving/valid/schedule.json'), localContext('probe-serving'));
    expect(result.services).toEqual([
      expect.objectContaining({
        service: 'chat',
        active: 'claude',
        results: expect.objectContaining({
          claude: expect.objectContaining({ class: 'healthy' }),
          gpt: expect.objectContaining({ class: 'healthy' }),
        }),
      }),
    ]);
    await expect(handler(loadEvent('probe-serving/invalid/unknown-trigger.json'), localContext('probe-serving'))).rejects.toThrow(
      'expected {} or {"trigger": "schedule" | "smoke-eval"}',
    );
    expect((await handler(loadEvent('probe-serving/valid/by-hand.json'), localContext('probe-serving'))).services).toHaveLength(1);
  });

  it('an operator pins the service to an endpoint with a dry run and its token: the switch is written at once and holds whatever the probes say, until the pin is lifted', async () => {
    const { handler } = (await import('../../../functions/probe-serving.js')) as { handler: (e: unknown, c: unknown) => Promise<any> };
    const invoke = (payload: unknown) => handler(payload, localContext('probe-serving'));
    const sample = loadEvent<{ pin: { service: string; endpoint: string; by: string } }>('probe-serving/valid/pin-dry-run.json');
    await expect(invoke(loadEvent('probe-serving/invalid/pin-without-token.json'))).rejects.toThrow('planToken: a restore runs only');
    const pin = { ...sample.pin, endpoint: 'gpt' };
    const plan = await invoke({ pin, dryRun: true });
    expect(plan).toMatchObject({
      state: 'planned',
      planToken: expect.stringMatching(/^[0-9a-f]{32}$/),
      plan: { service: 'chat', activeNow: 'claude', activeAfter: 'gpt', lastProbe: { class: 'healthy' } },
    });
    expect(plan.plan.warning).toMatch(/^gpt was not ready at the last round \(healthy\)/); // healthy, but without quota headroom
    expect(await parameter()).toBe('claude'); // a dry run changes nothing
    await expect(invoke({ pin })).rejects.toThrow('planToken: a restore runs only with the planToken of its dry run');
    await expect(invoke({ pin: { ...pin, endpoint: 'nowhere' }, dryRun: true })).rejects.toThrow(
      'pin.endpoint: "nowhere" is not an endpoint of chat (claude, gpt, gateway)',
    );
    expect(await invoke({ pin, planToken: plan.planToken })).toMatchObject({ state: 'done', result: { active: 'gpt', pinned: true } });
    expect(await parameter()).toBe('gpt');
    // The primary healthy for many rounds, gpt failing: the pin holds.
    answering.gpt = 'serverError';
    for (let i = 0; i < 6; i++) expect((await next()).active).toBe('gpt');
    answering.gpt = 'model';
    await pages();
    const lift = await invoke(loadEvent('probe-serving/valid/unpin-dry-run.json'));
    expect(lift.plan).toMatchObject({ activeNow: 'gpt', activeAfter: 'gpt', pinnedNow: { endpoint: 'gpt', by: 'oncall@example.com' } });
    expect(await invoke({ pin: { service: 'chat', by: 'oncall@example.com' }, planToken: lift.planToken })).toMatchObject({
      result: { active: 'gpt', pinned: false },
    });
    // Unpinned, with the primary healthy all along: the next round fails back.
    expect((await next()).switch).toMatchObject({ from: 'gpt', to: 'claude' });
    expect(await parameter()).toBe('claude');
  });

  it('a pin saved while a round decides is kept: the round, overtaken, decides again on the pinned state', async () => {
    const real = deps.states;
    let pinnedMeanwhile = false;
    const pin = { service: 'chat', endpoint: 'gateway', by: 'oncall@example.com' };
    const states = {
      get: async (service: string) => {
        const read = await real.get(service);
        if (!pinnedMeanwhile) {
          pinnedMeanwhile = true;
          const plan = await pinService({ request: pin, dryRun: true }, deps);
          await pinService({ request: pin, dryRun: false, planToken: plan.restoreId }, deps);
        }
        return read;
      },
      save: real.save.bind(real),
      saveSmokeEval: real.saveSmokeEval.bind(real),
    };
    /** What the round writes to the gateway's parameter: never the choice the pin overtook. */
    const written: string[] = [];
    const active = { read: (s: string) => deps.active.read(s), write: async (s: string, e: string) => void written.push(e) };
    round++;
    const [chat] = await probeServing({ ...deps, states, active });
    expect(written).toEqual([]); // the pin wrote gateway; the round, deciding again, found it written
    expect(chat!.active).toBe('gateway');
    expect((await real.get('chat'))!.state.pinned).toMatchObject({ endpoint: 'gateway', by: 'oncall@example.com' });
    expect(await parameter()).toBe('gateway');
    // A save that names a revision another save replaced is refused.
    const read = (await real.get('chat'))!;
    expect(await real.save(read)).toBe(true);
    expect(await real.save(read)).toBe(false);
    const lift = await pinService({ request: { service: 'chat', by: 'oncall@example.com' }, dryRun: true }, deps);
    await pinService({ request: { service: 'chat', by: 'oncall@example.com' }, dryRun: false, planToken: lift.restoreId }, deps);
  });

  it('spent no generation: every request to a provider was a GET of a model or a health check', () => {
    expect(requests.length).toBeGreaterThan(30);
    expect(requests.filter((r) => r.method !== 'GET' || !/\/v1\/models\/|\/health$/.test(r.url))).toEqual([]);
  });
});
