import { describe, expect, it } from 'vitest';
import {
  DEFAULT_FAILOVER,
  decide,
  initialState,
  readinessOf,
  type Endpoints,
  type ServiceState,
  type Switch,
} from '../../functions/serving/failover.js';
import type { ProbeClass, ProbeResult } from '../../functions/serving/probe.js';

/** Failover of a model service (docs/serving.md#failover): decided from rounds of probes, with a clock of its own. */
const endpoints: Endpoints = { primary: 'anthropic', fallbacks: ['openai', 'bedrock'] };
const result = (cls: ProbeClass, headroom?: number): ProbeResult => ({
  class: cls,
  latencyMs: 50,
  ...(headroom !== undefined && { headroom }),
});
const up = result('healthy');
const down = result('server-error');
const at = (round: number) => new Date(Date.UTC(2030, 0, 1, 0, round));

/** Runs rounds of probes; answers the state and every switch with its round. */
function run(rounds: Record<string, ProbeResult>[], start: ServiceState = initialState('chat', endpoints)) {
  let state = start;
  const switches: (Switch & { round: number })[] = [];
  rounds.forEach((results, round) => {
    const decided = decide(state, endpoints, results, DEFAULT_FAILOVER, at(round));
    state = decided.state;
    if (decided.switch) switches.push({ ...decided.switch, round });
  });
  return { state, switches };
}

/** A deterministic generator (mulberry32), so a random outage is the same on every run. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('failover of a model service', () => {
  it('switches from a dead primary to the first ready fallback within two probe intervals', () => {
    const rounds = [
      ...Array(5).fill({ anthropic: up, openai: up, bedrock: up }),
      ...Array(5).fill({ anthropic: down, openai: up, bedrock: up }),
    ];
    const { state, switches } = run(rounds);
    expect(switches).toEqual([{ from: 'anthropic', to: 'openai', reason: 'primary failed 2 probes in a row (server-error)', round: 6 }]);
    expect(switches[0]!.round - 5).toBeLessThanOrEqual(1); // failed first in round 5: switched at the second failed probe
    expect(state).toMatchObject({ active: 'openai', switched: { at: at(6).toISOString() } });
  });

  it('skips a fallback that is not ready (revoked key, no quota headroom) and stays when none is', () => {
    const revoked = { anthropic: down, openai: result('auth-failure'), bedrock: up };
    expect(run([revoked, revoked]).switches.map((s) => s.to)).toEqual(['bedrock']);
    const noHeadroom = { anthropic: down, openai: result('healthy', 0.02), bedrock: result('rate-limited') };
    const stuck = run([noHeadroom, noHeadroom, noHeadroom]);
    expect(stuck.switches).toEqual([]);
    expect(stuck.state.active).toBe('anthropic');
    expect(readinessOf(endpoints, noHeadroom, DEFAULT_FAILOVER)).toEqual({
      primaryUp: false,
      readyFallbacks: [],
      notReady: [
        { endpoint: 'anthropic', class: 'server-error' },
        { endpoint: 'openai', class: 'no-quota-headroom' },
        { endpoint: 'bedrock', class: 'rate-limited' },
      ],
    });
    // A revoked fallback key is found while the primary is healthy: nothing switches, and readiness says so.
    expect(
      readinessOf(endpoints, { anthropic: up, openai: result('auth-failure'), bedrock: result('model-not-found') }, DEFAULT_FAILOVER),
    ).toMatchObject({
      primaryUp: true,
      readyFallbacks: [],
    });
  });

  it('moves on from an active fallback that stops being ready, and fails back after five healthy probes of the primary', () => {
    const rounds = [
      { anthropic: down, openai: up, bedrock: up },
      { anthropic: down, openai: up, bedrock: up },
      { anthropic: down, openai: result('overloaded'), bedrock: up },
      ...Array(4).fill({ anthropic: up, openai: up, bedrock: up }),
      { anthropic: up, openai: up, bedrock: up },
    ];
    expect(run(rounds).switches.map((s) => [s.round, s.to])).toEqual([
      [1, 'openai'],
      [2, 'bedrock'],
      [7, 'anthropic'],
    ]);
  });

  it('does not flap with a primary failing half its probes at random: a few failbacks, then it stays on the fallback', () => {
    for (const seed of [1, 7, 42, 2030]) {
      const next = random(seed);
      const rounds = Array.from({ length: 5000 }, () => ({ anthropic: next() < 0.5 ? down : up, openai: up, bedrock: up }));
      const { switches } = run(rounds);
      const failbacks = switches.filter((s) => s.to === 'anthropic');
      expect(failbacks.length, `seed ${seed}: ${JSON.stringify(switches.map((s) => s.round))}`).toBeLessThanOrEqual(4);
      expect(
        switches.filter((s) => s.round > 2500),
        `seed ${seed}`,
      ).toEqual([]);
    }
  });

  it('holds an operator’s pin whatever the probes say', () => {
    const pinned: ServiceState = {
      ...initialState('chat', endpoints),
      pinned: { endpoint: 'bedrock', by: 'arn:aws:iam::1:user/oncall', at: at(0).toISOString() },
    };
    const { state, switches } = run(
      [
        { anthropic: up, openai: up, bedrock: down },
        { anthropic: down, openai: up, bedrock: down },
      ],
      pinned,
    );
    expect(switches).toEqual([{ from: 'anthropic', to: 'bedrock', reason: 'pinned by arn:aws:iam::1:user/oncall', round: 0 }]);
    expect(state.active).toBe('bedrock');
  });
});
