import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillRun } from '../../../functions/drills/drill-run.js';
import { runDrill } from '../../../functions/drills/run-drill.js';
import { createDrillRunner } from '../../../functions/drills/runtime.js';
import { parseDrillConfig } from '../../../functions/shared/config.js';
import { localContext } from '../../../scripts/local-aws/event-source-mapping.js';
import { onCallPages } from '../../support/on-call.js';
import type { StackUnderTest } from '../../support/local-stack.js';
import { chatServing, startServingStack, type ServingStack } from '../../support/serving-stack.js';
import { providerAnswers as fixtures } from '../../support/provider-answers.js';

/**
 * The model-provider-outage drill (docs/drills.md#model-provider-outage) on the local AWS: dr-drill
 * follows docs/runbooks/model-provider-outage.md for the service "chat" (probe-serving's round, the
 * fallback pinned with a dry run and its token, the gateway's SSM parameter read back, the pin
 * lifted), through probe-serving's own code, against providers answering in their documented shapes.
 */
let s: ServingStack;
let t: StackUnderTest;
let handler: (event: unknown, context: ReturnType<typeof localContext>) => Promise<any>;
/** What each endpoint answers now (a fixture name). */
const answering: Record<string, string> = { claude: 'model', gpt: 'model' };
const ssm = new SSMClient({});
const invoke = (payload: unknown): Promise<DrillRun & { events: string[] }> => handler(payload, localContext('dr-drill'));
const parameter = async () => (await ssm.send(new GetParameterCommand({ Name: '/it/drill-serving/chat' }))).Parameter?.Value;

beforeAll(async () => {
  s = await startServingStack({
    answer: (req, _body, res) => {
      const [, id] = (req.url ?? '').split('/');
      const fixture = fixtures[id === 'claude' ? 'anthropic' : 'openai'][answering[id!]!]!;
      // Plenty of quota: the fallback is ready.
      res.writeHead(fixture.status, { 'content-type': 'application/json' }).end(JSON.stringify(fixture.body));
    },
    policy: (at) =>
      `${chatServing(at, { prefix: '/it/drill-serving/' })}drills:
  - name: provider-outage
    scenario: model-provider-outage
    schedule: cron(0 6 1 * ? *)
    service: chat
    targetMinutes: 5
`,
  });
  t = s.t;
  ({ handler } = await import('../../../functions/dr-drill.js'));
}, 240_000);

afterAll(async () => {
  await s?.stop();
});

describe('the model-provider-outage drill', () => {
  it('follows the runbook: the fallback found ready, pinned with a dry run and its token, the gateway told, the pin lifted; the switch timed', async () => {
    const run = await invoke({ drill: 'provider-outage' });
    expect(run).toMatchObject({ scenario: 'model-provider-outage', state: 'passed', phase: 'finished', rpoAtStart: [] });
    const [chat] = run.assets;
    expect(chat).toMatchObject({ asset: 'chat', kind: 'model-service', tier: 'critical', ok: true, step: 'done', rtoTargetSeconds: 300 });
    expect(chat!.checks).toMatchObject({
      probe: { active: 'claude', readiness: { primaryUp: true, readyFallbacks: ['gpt'] } },
      endpoint: 'gpt',
      'dry-run': { service: 'chat', activeNow: 'claude', activeAfter: 'gpt' },
      run: { active: 'gpt', pinned: true },
      parameter: 'gpt',
      'lift-dry-run': { pinnedNow: { endpoint: 'gpt', by: `dr-drill ${run.drillId}` } },
      lift: { active: 'gpt', pinned: false },
    });
    expect(chat!.rtoSeconds).toBeGreaterThanOrEqual(0);
    expect(chat!.rtoSeconds).toBe((Date.parse(chat!.verifiedAt!) - Date.parse(run.startedAt)) / 1000);
    expect(run.verdict).toMatchObject({ ok: true, targetSeconds: 300, rtoSeconds: chat!.rtoSeconds });
    expect(run.verdict!.targets.map((x) => `${x.target}:${x.ok}`)).toEqual(['rto:true', 'drill:true']);
    expect(run.cleanup).toEqual({ removedObjects: 0, droppedIndexes: 0, leftBehind: [] });
    // The gateway still reads the fallback until probe-serving fails back by its own rules (recoverAfter).
    expect(await parameter()).toBe('gpt');
    const status = await handler({ drill: 'provider-outage', drillId: run.drillId }, localContext('dr-drill'));
    expect(status.state).toBe('passed');
  });

  it('with no ready fallback, fails at the probe with why, pins nothing, and pages for the drill', async () => {
    await onCallPages(t);
    answering.gpt = 'auth';
    const run = await invoke({ drill: 'provider-outage' });
    answering.gpt = 'model';
    expect(run.state).toBe('failed');
    expect(run.assets[0]).toMatchObject({
      ok: false,
      reason: 'probe: no fallback of chat is ready (gpt auth-failure): nothing to fail over to',
    });
    expect(run.created).toEqual([]);
    // The drill's probe is probe-serving's round: it pages for the service too.
    const pages = await onCallPages(t);
    expect(pages.map((p) => [p['detail-type'], p.detail.asset, p.detail.reason]).sort()).toEqual([
      ['DR Target Missed', 'chat', 'no-ready-fallback'],
      ['DR Target Missed', 'provider-outage', 'drill-failed'],
    ]);
  });

  it('leaves an operator’s pin alone: fails at the dry run, and the pin stays', async () => {
    const { handler: serving } = (await import('../../../functions/probe-serving.js')) as {
      handler: (e: unknown, c: unknown) => Promise<any>;
    };
    const pin = { service: 'chat', endpoint: 'gpt', by: 'oncall@example.com' };
    const plan = await serving({ pin, dryRun: true }, localContext('probe-serving'));
    await serving({ pin, planToken: plan.planToken }, localContext('probe-serving'));
    const run = await invoke({ drill: 'provider-outage' });
    expect(run.state).toBe('failed');
    expect(run.assets[0]!.reason).toBe('dry-run: chat is pinned to gpt by oncall@example.com; the drill leaves that pin alone');
    expect(run.created).toEqual([]);
    const runner = createDrillRunner(parseDrillConfig(process.env), 'dr-drill');
    expect((await runner.depsFor(() => 600_000).serving!.states.get('chat'))?.state.pinned).toMatchObject({ by: 'oncall@example.com' });
    const lift = await serving({ pin: { service: 'chat', by: 'oncall@example.com' }, dryRun: true }, localContext('probe-serving'));
    await serving({ pin: { service: 'chat', by: 'oncall@example.com' }, planToken: lift.planToken }, localContext('probe-serving'));
  });

  it('a pin step whose try failed after the pin landed is not done twice: the next try finds it and moves on', async () => {
    const runner = createDrillRunner(parseDrillConfig(process.env), 'dr-drill');
    const deps = runner.depsFor(() => 600_000);
    const serving = deps.serving!;
    let failOnce = true;
    /** The pin's plan store, whose finish of the pin's run fails once (after the pin landed). */
    const real = serving.plans;
    const plans = new Proxy(real, {
      get(target, prop) {
        if (prop === 'finish')
          return async (...args: Parameters<typeof real.finish>) => {
            if (failOnce && (args[3] as { pinned?: boolean } | null)?.pinned === true) {
              failOnce = false;
              throw new Error('DynamoDB answered 500');
            }
            return real.finish(...args);
          };
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const continued: Record<string, unknown>[] = [];
    const flaky = {
      ...deps,
      serving: { ...serving, plans },
      continuation: { continueLater: async (p: Record<string, unknown>) => void continued.push(p) },
    };
    const definition = runner.policy.drills.find((d) => d.name === 'provider-outage')!;
    const first = await runDrill(flaky, definition);
    expect(first.run.state).toBe('running');
    expect(first.run.assets[0]!.checks.lastError).toBe('run (attempt 1): Error: DynamoDB answered 500');
    const { run } = await runDrill(flaky, definition, first.run.drillId);
    expect(run.state).toBe('passed');
    expect(run.assets[0]!.checks.run).toMatchObject({ active: 'gpt', pinned: true });
    // The pin was not made twice: no fresh dry run (the pin's and the lift's only), and the pin's plan is finished.
    expect(run.assets[0]!.restoreIds).toHaveLength(2);
    expect((await serving.plans.get(run.assets[0]!.restoreIds[0]!))?.state).toBe('done');
    expect((await serving.states.get('chat'))?.state.pinned).toBeUndefined();
  });

  it('a drill that stops after its pin (the gateway reads something else) lifts the pin in its cleanup', async () => {
    const runner = createDrillRunner(parseDrillConfig(process.env), 'dr-drill');
    const deps = runner.depsFor(() => 600_000);
    const serving = deps.serving!;
    const gateway = serving.active;
    const elsewhere = { read: async () => 'claude', write: (service: string, endpoint: string) => gateway.write(service, endpoint) };
    const broken = { ...deps, serving: { ...serving, active: elsewhere } };
    const definition = runner.policy.drills.find((d) => d.name === 'provider-outage')!;
    const { run } = await runDrill(broken, definition);
    expect(run.state).toBe('failed');
    expect(run.assets[0]).toMatchObject({ ok: false, reason: 'parameter: the gateway reads claude, not gpt' });
    expect(run.created).toEqual([{ kind: 'serving-pin', service: 'chat', by: `dr-drill ${run.drillId}` }]);
    expect(run.cleanup?.leftBehind).toEqual([]);
    expect((await serving.states.get('chat'))?.state.pinned).toBeUndefined();
  });
});
