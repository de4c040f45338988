import { readdirSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import type { AlertState, AlertStateStore } from '../../functions/alerts/alert-state.js';
import { type AlertDeps, evaluateCheck } from '../../functions/alerts/evaluate.js';
import type { TargetEvent } from '../../functions/alerts/target-events.js';
import { type AssetMeasurement, rpoCheck } from '../../functions/rpo/measure.js';
import { scheduleIntervalSeconds } from '../../functions/policy/schedule.js';
import { lagStats, percentile } from '../../functions/rpo/percentiles.js';
import { targetEventErrors } from '../support/event-schema.js';
import { loadEvent } from '../support/fixtures.js';

class MemoryAlertStore implements AlertStateStore {
  states = new Map<string, AlertState>();
  async get(asset: string) {
    const s = this.states.get(asset);
    return s && structuredClone(s);
  }
  async transition(next: AlertState, expected: number) {
    if ((this.states.get(next.asset)?.revision ?? 0) !== expected) return false;
    this.states.set(next.asset, structuredClone(next));
    return true;
  }
  async markSent(asset: string, revision: number) {
    const s = this.states.get(asset);
    if (s?.revision === revision) delete s.unsent;
  }
}

/** What measure-rpo does with each measurement. */
const evaluateTarget = (deps: AlertDeps, m: AssetMeasurement) => evaluateCheck(deps, rpoCheck(m));

const measurement = (rpoSeconds: number | null, at: string, extra: Partial<AssetMeasurement> = {}): AssetMeasurement => ({
  asset: 'eval-sets',
  kind: 'eval-set',
  tier: 'critical',
  rpoTargetSeconds: 900,
  rpoSeconds,
  status: rpoSeconds === null || rpoSeconds > 900 ? 'missed' : 'ok',
  ...(rpoSeconds === null ? { reason: 'no-verified-snapshot' as const } : rpoSeconds > 900 ? { reason: 'rpo-over-target' as const } : {}),
  pendingObjects: rpoSeconds ? 2 : 0,
  pendingBytes: 10,
  failedObjects: rpoSeconds ? 1 : 0,
  lag: lagStats([]),
  lagValues: [],
  measuredAt: at,
  ...extra,
});

let store: MemoryAlertStore;
let sent: TargetEvent[];
let failNextPublish: boolean;
const deps = () => ({
  store,
  publisher: {
    publish: async (e: TargetEvent) => {
      if (failNextPublish) {
        failNextPublish = false;
        throw new Error('EventBridge unavailable');
      }
      sent.push(e);
    },
  },
});
/** What EventBridge delivers for a published event: the envelope around its detail. */
const envelope = (e: TargetEvent) => ({
  version: '0',
  id: 'x',
  'detail-type': e.detailType,
  source: 'ai-data-dr',
  account: '123456789012',
  time: '2026-11-26T14:00:00Z',
  region: 'us-west-2',
  resources: [],
  detail: e.detail,
});

beforeEach(() => {
  store = new MemoryAlertStore();
  sent = [];
  failNextPublish = false;
});

describe('evaluateTarget: one page per incident', () => {
  it('sends one Missed on the way over the target, nothing while it holds, one Recovered on the way back', async () => {
    await evaluateTarget(deps(), measurement(10, '2026-11-26T14:00:00.000Z'));
    await evaluateTarget(deps(), measurement(901, '2026-11-26T14:01:00.000Z'));
    await evaluateTarget(deps(), measurement(961, '2026-11-26T14:02:00.000Z'));
    await evaluateTarget(deps(), measurement(null, '2026-11-26T14:03:00.000Z'));
    await evaluateTarget(deps(), measurement(0, '2026-11-26T14:04:00.000Z'));
    await evaluateTarget(deps(), measurement(0, '2026-11-26T14:05:00.000Z'));
    expect(sent.map((e) => [e.detailType, e.detail.incidentId])).toEqual([
      ['DR Target Missed', 'eval-sets:rpo:2026-11-26T14:01:00.000Z'],
      ['DR Target Recovered', 'eval-sets:rpo:2026-11-26T14:01:00.000Z'],
    ]);
    expect(sent[0]!.detail).toMatchObject({ actualSeconds: 901, targetSeconds: 900, reason: 'rpo-over-target' });
    expect(sent[1]!.detail).toMatchObject({ actualSeconds: 0, reason: 'back-under-target', missedSince: '2026-11-26T14:01:00.000Z' });
    for (const e of sent) expect(targetEventErrors(envelope(e))).toEqual([]);
  });

  it('a page whose publish failed after the state changed is sent by the next run, once', async () => {
    failNextPublish = true;
    await expect(evaluateTarget(deps(), measurement(1000, '2026-11-26T14:01:00.000Z'))).rejects.toThrow(/unavailable/);
    expect(sent).toEqual([]);
    await evaluateTarget(deps(), measurement(1060, '2026-11-26T14:02:00.000Z'));
    await evaluateTarget(deps(), measurement(1120, '2026-11-26T14:03:00.000Z'));
    expect(sent.map((e) => e.detailType)).toEqual(['DR Target Missed']);
    expect(sent[0]!.detail.measuredAt).toBe('2026-11-26T14:01:00.000Z');
  });

  it('records every published event in the incident log, once per event, even when a publish failed first', async () => {
    const recorded = new Map<string, TargetEvent>();
    const incidents = {
      record: async (e: TargetEvent) => void recorded.set(`${e.detail.asset}|${e.detail.measuredAt}#${e.detailType}`, e),
      since: async () => [...recorded.values()],
    };
    failNextPublish = true;
    await expect(evaluateTarget({ ...deps(), incidents }, measurement(1000, '2026-11-26T14:01:00.000Z'))).rejects.toThrow(/unavailable/);
    expect(recorded.size).toBe(1); // recorded before the page; recording it again later keeps one
    await evaluateTarget({ ...deps(), incidents }, measurement(1060, '2026-11-26T14:02:00.000Z'));
    await evaluateTarget({ ...deps(), incidents }, measurement(0, '2026-11-26T14:03:00.000Z'));
    expect([...recorded.keys()]).toEqual([
      'eval-sets|2026-11-26T14:01:00.000Z#DR Target Missed',
      'eval-sets|2026-11-26T14:03:00.000Z#DR Target Recovered',
    ]);
    expect([...recorded.values()]).toEqual(sent);
  });

  it('a failing incident log delays the page to the next run, and it is sent once', async () => {
    let failRecord = true;
    const incidents = {
      record: async () => {
        if (failRecord) throw new Error('dynamodb unavailable');
      },
      since: async () => [],
    };
    await expect(evaluateTarget({ ...deps(), incidents }, measurement(1000, '2026-11-26T14:01:00.000Z'))).rejects.toThrow(/unavailable/);
    expect(sent).toHaveLength(0);
    failRecord = false;
    await evaluateTarget({ ...deps(), incidents }, measurement(1060, '2026-11-26T14:02:00.000Z'));
    await evaluateTarget({ ...deps(), incidents }, measurement(1120, '2026-11-26T14:03:00.000Z'));
    expect(sent.map((e) => [e.detailType, e.detail.measuredAt])).toEqual([['DR Target Missed', '2026-11-26T14:01:00.000Z']]);
  });

  it('two runs racing on the same transition page once', async () => {
    const m = measurement(1000, '2026-11-26T14:01:00.000Z');
    await Promise.all([evaluateTarget(deps(), m), evaluateTarget(deps(), m)]);
    expect(sent).toHaveLength(1);
  });

  it('an RPO hovering at its target pages once: Recovered only after recoverySeconds back under it', async () => {
    const withRecovery = () => ({ ...deps(), recoverySeconds: 300 });
    const at = (minute: number) => `2026-11-26T14:${String(minute).padStart(2, '0')}:00.000Z`;
    const rpos = [1000, 800, 1000, 800, 1000, 800, 800, 800, 800, 800, 800];
    for (const [minute, rpo] of rpos.entries()) await evaluateTarget(withRecovery(), measurement(rpo, at(minute)));
    expect(sent.map((e) => [e.detailType, e.detail.measuredAt])).toEqual([
      ['DR Target Missed', at(0)],
      ['DR Target Recovered', at(10)],
    ]);
  });

  it('an asset with no recovery point at all pages, with actualSeconds null', async () => {
    await evaluateTarget(deps(), measurement(null, '2026-11-26T14:01:00.000Z', { kind: 'vector-index' }));
    expect(sent[0]!.detail).toMatchObject({ reason: 'no-verified-snapshot', actualSeconds: null });
    expect(targetEventErrors(envelope(sent[0]!))).toEqual([]);
  });
});

describe('the DR target event schema (docs/schemas/dr-target-event.schema.json)', () => {
  it.each(readdirSync('events/dr-target/valid'))('accepts the sample %s', (file) => {
    expect(targetEventErrors(loadEvent(`dr-target/valid/${file}`))).toEqual([]);
  });
  it.each(readdirSync('events/dr-target/invalid'))('rejects the sample %s', (file) => {
    expect(targetEventErrors(loadEvent(`dr-target/invalid/${file}`))).not.toEqual([]);
  });
});

describe('lag statistics', () => {
  it('nearest-rank percentiles', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(lagStats([3, 1, 2])).toEqual({ count: 3, p50: 2, p99: 3, max: 3 });
    expect(lagStats([])).toEqual({ count: 0, p50: undefined, p99: undefined, max: undefined });
  });
  it('schedule intervals', () => {
    expect(scheduleIntervalSeconds('rate(1 minute)')).toBe(60);
    expect(scheduleIntervalSeconds('rate(5 minutes)')).toBe(300);
    expect(scheduleIntervalSeconds('rate(2 hours)')).toBe(7200);
    expect(scheduleIntervalSeconds('cron(0/5 * * * ? *)')).toBe(60);
  });
});
