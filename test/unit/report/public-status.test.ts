import { describe, expect, it } from 'vitest';
import { buildReport } from '../../../functions/report/build-report.js';
import { publicStatus, renderStatusPage } from '../../../functions/report/public-status.js';
import { reportSources } from '../../support/report-sources.js';

const now = new Date('2026-03-01T12:34:56.000Z');
const publicNames = { 'eval-sets': 'Evaluation <suite>', 'training-data': 'Model training' };

async function statusOf(sources = reportSources(now)) {
  sources.policy = {
    ...sources.policy,
    report: { ...sources.policy.report, publicStatus: { title: 'Acme & co: data status', assets: publicNames } },
  };
  return publicStatus(await buildReport(sources, now, { kind: 'on-demand' }), sources.policy)!;
}

describe('the public status page', () => {
  it('shows only the assets the policy makes public, under their public names, with their incidents', async () => {
    const status = await statusOf();
    expect(status.services).toEqual([
      { name: 'Model training', state: 'operational', since: null },
      { name: 'Evaluation <suite>', state: 'operational', since: null },
    ]);
    expect(status.overall).toBe('operational');
    // The eval sets' RPO incident of the fixture (recovered after 50 minutes), in public words.
    expect(status.incidents).toEqual([
      {
        service: 'Evaluation <suite>',
        what: 'Backups delayed: recent changes were not yet protected in the recovery region',
        began: '2026-02-24T12:34:56.000Z',
        ended: '2026-02-24T13:24:56.000Z',
        durationSeconds: 3000,
      },
    ]);
  });

  it('says nothing internal: no asset, bucket, drill or engine name, no RPO or RTO figure', async () => {
    const status = await statusOf();
    const html = renderStatusPage(status);
    const json = JSON.stringify(status);
    for (const text of [html, json]) {
      for (const internal of [
        'eval-sets',
        'training-data',
        'product-search-index',
        'acme-ml',
        'quarterly-region-outage',
        'pgvector',
        'RPO',
        'RTO',
        'rpo-over-target',
      ])
        expect(text).not.toContain(internal);
    }
    expect(html).toContain('Evaluation &lt;suite&gt;');
    expect(html).toContain('<title>Acme &amp; co: data status</title>');
    expect(html).not.toMatch(/<script|https?:\/\//);
  });

  it('an ongoing backup delay is an incident, a failed recovery test or one recovering an issue being resolved', async () => {
    const sources = reportSources(now);
    const measure = sources.measure;
    sources.measure = async (asset, at) => {
      const m = await measure(asset, at);
      return asset.name === 'eval-sets' ? { ...m, rpoSeconds: 2100, status: 'missed', reason: 'rpo-over-target' } : m;
    };
    const states = sources.alertStates;
    sources.alertStates = {
      get: async (asset, target) =>
        asset === 'eval-sets' && target === 'rpo'
          ? { asset, target, state: 'missed', revision: 9, missedSince: '2026-03-01T12:00:00.000Z' }
          : asset === 'training-data' && target === 'rto'
            ? { asset, target, state: 'missed', revision: 3, missedSince: '2026-03-01T11:00:00.000Z' }
            : states.get(asset, target),
    };
    const status = await statusOf(sources);
    expect(status.services).toEqual([
      { name: 'Model training', state: 'degraded', since: '2026-03-01T11:00:00.000Z' },
      { name: 'Evaluation <suite>', state: 'incident', since: '2026-03-01T12:00:00.000Z' },
    ]);
    expect(status.overall).toBe('incident');
    expect(renderStatusPage(status)).toContain('ongoing for 35 min');

    // Back under target, not yet declared recovered: an issue being resolved, no longer an incident.
    sources.measure = measure;
    expect((await statusOf(sources)).services[1]).toEqual({
      name: 'Evaluation <suite>',
      state: 'degraded',
      since: '2026-03-01T12:00:00.000Z',
    });
  });

  it('is not written unless the policy asks for it', async () => {
    const sources = reportSources(now);
    const { publicStatus: _shipped, ...withoutStatus } = sources.policy.report;
    sources.policy = { ...sources.policy, report: withoutStatus };
    expect(publicStatus(await buildReport(sources, now, { kind: 'on-demand' }), sources.policy)).toBeUndefined();
  });
});
