import { afterEach, describe, expect, it, vi } from 'vitest';
import { emittedMetrics } from '../support/emf.js';
import type { ServiceRound } from '../../functions/serving/probe-round.js';
import { publishServingRound } from '../../functions/serving/serving-metrics.js';

const emitted = (round: ServiceRound) => emittedMetrics(() => publishServingRound(round));

afterEach(() => vi.restoreAllMocks());

const round: ServiceRound = {
  service: 'chat',
  active: 'gpt',
  results: {
    claude: { class: 'overloaded', status: 529, latencyMs: 812.4 },
    gpt: { class: 'slow', status: 200, latencyMs: 2400 },
    gateway: { class: 'healthy', status: 200, latencyMs: 35 },
  },
  readiness: { primaryUp: false, readyFallbacks: ['gpt', 'gateway'], notReady: [{ endpoint: 'claude', class: 'overloaded' }] },
  switch: { from: 'claude', to: 'gpt', reason: 'primary failed 2 probes in a row (overloaded)' },
  events: [],
};

describe('publishServingRound (embedded metric format)', () => {
  it('publishes each endpoint’s probe latency (one value a probe: CloudWatch’s percentiles) and whether it answered, and the service’s readiness', () => {
    const records = emitted(round);
    expect(records.map((r) => [r.endpoint ?? null, r.ProbeLatency ?? null, r.EndpointUp ?? null, r.class ?? null])).toEqual([
      ['claude', 812, 0, 'overloaded'],
      ['gpt', 2400, 1, 'slow'],
      ['gateway', 35, 1, 'healthy'],
      [null, null, null, null],
    ]);
    expect(records[0]!._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'AiDataDr',
      Dimensions: [['service', 'model-service', 'endpoint']],
      Metrics: [
        { Name: 'ProbeLatency', Unit: 'Milliseconds' },
        { Name: 'EndpointUp', Unit: 'Count' },
      ],
    });
    expect(records[3]).toMatchObject({ service: 'ai-data-dr', 'model-service': 'chat', PrimaryUp: 0, ReadyFallbacks: 2, Switches: 1 });
    expect(records[3]!._aws.CloudWatchMetrics[0].Dimensions).toEqual([['service', 'model-service']]);
    expect(emitted({ ...round, switch: undefined } as unknown as ServiceRound)[3]).toMatchObject({ Switches: 0 });
  });
});
