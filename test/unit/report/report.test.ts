import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadPolicyFile, parsePolicy } from '../../../functions/policy/load.js';
import { buildReport, incidentsFrom } from '../../../functions/report/build-report.js';
import { escapeHtml, formatDuration, formatShare } from '../../../functions/report/format.js';
import { renderPage } from '../../../functions/report/render-page.js';
import { parseReportRequest } from '../../../functions/report/report-request.js';
import { alignedWindow, rpoShare } from '../../../functions/report/rpo-share.js';
import { renderChart } from '../../../functions/report/svg-chart.js';
import { PayloadError } from '../../../functions/shared/payload.js';
import { reportErrors } from '../../support/event-schema.js';
import { loadEvent } from '../../support/fixtures.js';
import { reportSources } from '../../support/report-sources.js';

// Pure functions: one fixed clock, and every datum placed relative to it.
const now = new Date('2026-03-01T12:34:56.000Z');
const H = 3_600_000;

describe('share of time within the RPO target', () => {
  const window = alignedWindow(now, 1, 3600); // 24 one-hour periods ending at 12:00
  const at = (hour: number) => new Date(window.start.getTime() + hour * H);

  it('aligns the window to whole periods before now', () => {
    expect(window).toEqual({ start: new Date('2026-02-28T12:00:00.000Z'), end: new Date('2026-03-01T12:00:00.000Z') });
  });

  it('counts a period within at or under the target, over above it, and a missing period against', () => {
    // Prepare: 24 periods; 20 at or under 900 s, 2 over, 2 without a datapoint.
    const points = Array.from({ length: 24 }, (_, h) => ({ at: at(h), maxSeconds: h === 3 || h === 4 ? 901 : h === 0 ? 900 : 10 })).filter(
      (_, h) => h !== 10 && h !== 11,
    );
    // Act
    const share = rpoShare(points, window, 3600, 900);
    // Assess
    expect(share).toEqual({
      periodSeconds: 3600,
      periods: 24,
      within: 20,
      over: 2,
      missing: 2,
      withinTarget: 20 / 24,
      measured: 22 / 24,
      withinWhenMeasured: 20 / 22,
    });
  });

  it('ignores datapoints outside the window and keeps the highest of two in one period', () => {
    const share = rpoShare(
      [
        { at: new Date(window.start.getTime() - 1), maxSeconds: 5000 },
        { at: window.end, maxSeconds: 5000 },
        { at: at(2), maxSeconds: 10 },
        { at: new Date(at(2).getTime() + 60_000), maxSeconds: 5000 },
      ],
      window,
      3600,
      900,
    );
    expect(share).toMatchObject({ within: 0, over: 1, missing: 23, withinTarget: 0, withinWhenMeasured: 0 });
  });

  it('a window without any datapoint has no share (not 0 %, not 100 %)', () => {
    expect(rpoShare([], window, 3600, 900)).toMatchObject({ withinTarget: null, measured: 0, withinWhenMeasured: null, missing: 24 });
    expect(formatShare(null)).toBe('no data');
  });

  it('never rounds a share up to 100 %', () => {
    expect(formatShare(0.99996)).toBe('99.9 %');
    expect(formatShare(1)).toBe('100.0 %');
    expect(formatShare(0)).toBe('0.0 %');
  });
});

describe('the SVG chart', () => {
  const from = now.getTime() - 24 * H;
  const to = now.getTime();

  it('draws a step line, broken where periods are missing, and the target', () => {
    const points = [0, 1, 2, 5, 6].map((h) => ({ at: from + h * H, seconds: 100 * (h + 1) }));
    const svg = renderChart({ title: 'rpo', style: 'step', points, periodMs: H, from, to, targetSeconds: 900 });
    const d = /<path class="series" d="([^"]+)"/.exec(svg)?.[1] ?? '';
    expect(d).toMatch(/^M[\d.]+ [\d.]+H[\d.]+V/);
    expect(d.match(/M/g)).toHaveLength(2); // the gap of hours 3-4 starts a second subpath
    expect(svg).toContain('class="target"');
    expect(svg).toContain('target 15 min');
  });

  it('draws RTO points joined by a line, failed ones marked', () => {
    const svg = renderChart({
      title: 'rto',
      style: 'points',
      points: [
        { at: from + H, seconds: 60 },
        { at: from + 2 * H, seconds: 120, failed: true },
      ],
      from,
      to,
      targetSeconds: 600,
    });
    expect(/<path class="series" d="M[\d.]+ [\d.]+L[\d.]+ [\d.]+"/.test(svg)).toBe(true);
    expect(svg.match(/<circle/g)).toHaveLength(2);
    expect(svg).toContain('class="point failed"');
  });

  it('escapes its title, and says when there is nothing to draw', () => {
    const svg = renderChart({ title: '<b>&"x"</b>', style: 'step', points: [], from, to, targetSeconds: 60 });
    expect(svg).toContain('&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;');
    expect(svg).not.toContain('<b>');
    expect(svg).not.toContain('class="series"');
    expect(svg).toContain('no data in this window');
  });
});

describe('the DR report', () => {
  it('is valid against its schema, with the numbers its sources give', async () => {
    const report = await buildReport(reportSources(now), now, { kind: 'on-demand' });
    expect(reportErrors(report)).toEqual([]);
    const evals = report.assets.find((a) => a.name === 'eval-sets')!;
    expect(evals.rpo).toEqual({ nowSeconds: 90, targetSeconds: 900, status: 'ok' });
    expect(evals.restoreTests).toMatchObject({ count: 3, passed: 2, passRate: 2 / 3, last: { ok: true } });
    expect(evals.incidents).toEqual([
      expect.objectContaining({ target: 'rpo', ongoing: false, durationSeconds: 3000, missedAt: '2026-02-24T12:34:56.000Z' }),
    ]);
    // 30 days of 5-minute periods: 8640; six hours missing, every 24th over target.
    const short = evals.withinRpoTarget.short;
    // Every 24th period of the sources is over target: 360 in 30 days, 3 of them in the gap.
    expect(short).toMatchObject({ periodSeconds: 300, periods: 8640, missing: 72, over: 357, within: 8211 });
    expect(evals.withinRpoTarget.long).toMatchObject({ periodSeconds: 3600, periods: 2160, missing: 6 });
    // RTO history: three restore tests and the drill, oldest first; the latest is the newest test.
    expect(evals.rto.history.map((p) => p.source)).toEqual(['drill', 'restore-test', 'restore-test', 'restore-test']);
    expect(evals.rto).toMatchObject({ latestSeconds: 900, targetSeconds: 14400 });
  });

  it('shows which restores ran in parts: the drill’s asset rows, the RTO history, and the page', async () => {
    const report = await buildReport(reportSources(now), now, { kind: 'on-demand' });
    expect(reportErrors(report)).toEqual([]);
    // product-search-index has restoreParts 8 in the shipped policy; the other assets restore in one chain.
    const run = report.drills.find((d) => d.scenario === 'region-outage')!.runs[0]!;
    expect(run.assets.filter((a) => a.fanOut).map((a) => [a.asset, a.fanOut])).toEqual([
      ['product-search-index', { writeParts: 8, verifyParts: 8 }],
    ]);
    const search = report.assets.find((a) => a.name === 'product-search-index')!;
    // Its restore tests run in parts too: every point of its RTO history says so.
    expect(search.rto.history.map((p) => [p.source, p.fanOut])).toEqual([
      ['drill', { writeParts: 8, verifyParts: 8 }],
      ['restore-test', { writeParts: 8, verifyParts: 8 }],
      ['restore-test', { writeParts: 8, verifyParts: 8 }],
      ['restore-test', { writeParts: 8, verifyParts: 8 }],
    ]);
    expect(report.assets.find((a) => a.name === 'eval-sets')!.rto.history.some((p) => p.fanOut)).toBe(false);
    const page = renderPage(report);
    expect(page).toMatch(/<td data-write-parts="8">[^<]* \(written in 8 parts, checked in 8 parts\)<\/td>/);
    expect(page.match(/data-write-parts=/g)).toHaveLength(1);
  });

  it('shows each replica bucket’s Object Lock, and names the assets a bucket without it leaves unprotected', async () => {
    const locked = await buildReport(reportSources(now), now, { kind: 'on-demand' });
    expect(locked.replicaBuckets).toEqual([
      {
        bucket: 'acme-ml-dr-replica',
        objectLock: { enabled: true, defaultRetention: { mode: 'GOVERNANCE', days: 30 } },
        lockedAssets: ['training-data', 'eval-sets', 'model-artifacts', 'product-search-index', 'support-kb-index'],
        unprotected: [],
      },
    ]);

    // A replica bucket made before Object Lock (or brought by the operator) without it.
    const unlocked = await buildReport({ ...reportSources(now), bucketLock: async () => ({ enabled: false }) }, now, { kind: 'on-demand' });
    expect(reportErrors(unlocked)).toEqual([]);
    expect(unlocked.replicaBuckets[0]!.unprotected).toEqual(locked.replicaBuckets[0]!.lockedAssets);
    const page = renderPage(unlocked);
    expect(page).toContain('<td data-field="objectLock" data-value="false" class="missed">off</td>');
    expect(page).toMatch(
      /<td data-field="unprotected" data-value="training-data,eval-sets,[^"]*" class="missed">training-data, eval-sets, .*docs\/object-lock.md<\/td>/,
    );
  });

  it('shows the latest lineage check: the lifecycle rules that would expire what models need, or that none does', async () => {
    const report = await buildReport(reportSources(now), now, { kind: 'on-demand' });
    expect(reportErrors(report)).toEqual([]);
    expect(report.lineage?.risks.map((r) => r.rule)).toEqual(['expire-old-shards']);
    const page = renderPage(report);
    expect(page).toContain('data-field="lineage" data-risks="1"');
    expect(page).toContain(
      'data-field="lineage-risk" data-asset="training-data">training-data: lifecycle rule &quot;expire-old-shards&quot; of source bucket acme-ml-prod-data deletes noncurrent versions under &quot;training/&quot;</li>',
    );
    const none = await buildReport({ ...reportSources(now), lineageCheck: async () => undefined }, now, { kind: 'on-demand' });
    expect(none.lineage).toBeNull();
    expect(reportErrors(none)).toEqual([]);
    expect(renderPage(none)).toContain('No lineage check has run yet');
  });

  it('shows each model service: what is active, whether the primary is up, what is ready, what is not and why, the last switch, its incidents', async () => {
    const example = loadPolicyFile('dr-policy.yml');
    const key = 'arn:aws:secretsmanager:us-west-2:111122223333:secret:anthropic';
    const anthropic = { provider: 'anthropic', model: 'claude-opus-4-6', credentialsSecretArn: key };
    const policy = parsePolicy(
      JSON.stringify({
        ...example,
        serving: {
          services: [
            {
              name: 'chat',
              tier: 'critical',
              rtoTargetMinutes: 5,
              primary: { id: 'claude', ...anthropic },
              fallbacks: [
                { id: 'gpt', provider: 'openai', model: 'gpt-4o-mini', credentialsSecretArn: key },
                { id: 'claude-eu', ...anthropic },
              ],
            },
          ],
        },
      }),
    );
    const report = await buildReport(reportSources(now, policy), now, { kind: 'on-demand' });
    expect(reportErrors(report)).toEqual([]);
    expect(report.serving).toEqual([
      expect.objectContaining({
        service: 'chat',
        tier: 'critical',
        rtoTargetMinutes: 5,
        state: expect.objectContaining({ active: 'gpt', switched: expect.objectContaining({ from: 'claude', to: 'gpt' }) }),
        lastRound: expect.objectContaining({ readiness: expect.objectContaining({ readyFallbacks: ['gpt'] }) }),
        incidents: [expect.objectContaining({ target: 'serving', ongoing: false, durationSeconds: 600, reason: 'serving-primary-down' })],
      }),
    ]);
    const page = renderPage(report);
    expect(page).toContain('<td data-field="servingActive" data-value="gpt">gpt</td>');
    expect(page).toContain('<td data-field="servingPrimaryUp" data-value="true">up</td>');
    expect(page).toContain(
      '<td data-field="servingNotReady" data-value="claude-eu" class="missed">claude-eu: auth-failure (authentication_error: invalid x-api-key)</td>',
    );
    expect(page).toMatch(
      /<td data-field="servingLastSwitch" data-value="[^"]+">claude → gpt at [^<]+: primary failed 2 probes in a row \(overloaded\)<\/td>/,
    );
    // Before the first round; and a policy without model services.
    const unprobed = await buildReport({ ...reportSources(now, policy), servingState: async () => undefined }, now, { kind: 'on-demand' });
    expect(reportErrors(unprobed)).toEqual([]);
    expect(unprobed.serving[0]).toMatchObject({ state: null, lastRound: null });
    expect(renderPage(unprobed)).toContain('<td colspan="6" class="missed">not probed yet</td>');
    const none = await buildReport(reportSources(now), now, { kind: 'on-demand' });
    expect(none.serving).toEqual([]);
    expect(renderPage(none)).toContain('No model service is declared in the policy');
  });

  it('takes the measured RTO from the newest restore that worked, not from a failed one', async () => {
    const sources = reportSources(now);
    const since = sources.restoreTests.since;
    sources.restoreTests = {
      since: async (asset, from) => {
        const tests = await since(asset, from);
        return [...tests, { ...tests.at(-1)!, ok: false, reason: 'failed', rtoSeconds: 2, finishedAt: now.toISOString() }];
      },
    };
    const evals = (await buildReport(sources, now, { kind: 'on-demand' })).assets.find((a) => a.name === 'eval-sets')!;
    expect(evals.rto.history.at(-1)).toMatchObject({ ok: false, seconds: 2 });
    expect(evals.rto.latestSeconds).toBe(900);
  });

  it('uses periods no shorter than measure-rpo runs (a 10-minute schedule: 10-minute periods)', async () => {
    const sources = reportSources(now);
    sources.policy = { ...sources.policy, monitoring: { ...sources.policy.monitoring, schedule: 'rate(10 minutes)' } };
    const asked: number[] = [];
    const history = sources.rpoHistory;
    sources.rpoHistory = {
      maxPerPeriod: async (asset, window, period) => (asked.push(period), history.maxPerPeriod(asset, window, period)),
    };
    const report = await buildReport(sources, now, { kind: 'on-demand' });
    expect(report.windows).toMatchObject({ shortPeriodSeconds: 600, longPeriodSeconds: 3600 });
    expect(new Set(asked)).toEqual(new Set([600, 3600]));
    expect(report.assets[0]!.withinRpoTarget.short).toMatchObject({ periodSeconds: 600, periods: 4320 });
  });

  it('says yes at the top when the last region-outage drill passed and every RPO is within target', async () => {
    const report = await buildReport(reportSources(now), now, { kind: 'schedule' });
    expect(report.headline).toMatchObject({
      verdict: 'yes',
      drill: { name: 'quarterly-region-outage', passed: true, targetSeconds: 14400 },
      assetsOverRpo: [],
    });
    expect(report.headline.text).toMatch(
      /^Yes: we could recover from a region outage now in about 25 min against a target of 4 h, as measured by drill quarterly-region-outage/,
    );
  });

  it('says at risk when an asset is over its RPO target now, and unknown without a drill', async () => {
    const sources = reportSources(now);
    const measure = sources.measure;
    sources.measure = async (asset, at) => {
      const m = await measure(asset, at);
      return asset.name === 'eval-sets' ? { ...m, rpoSeconds: 1800, status: 'missed', reason: 'rpo-over-target' } : m;
    };
    const risky = await buildReport(sources, now, { kind: 'on-demand' });
    expect(risky.headline).toMatchObject({ verdict: 'at-risk', assetsOverRpo: ['eval-sets'], worstRpo: { asset: 'eval-sets' } });
    expect(risky.headline.text).toContain('eval-sets (30 min of 15 min) is over the RPO target now');

    // An asset the drill does not recover still counts: an outage now would lose its data too.
    sources.measure = async (asset, at) => {
      const m = await measure(asset, at);
      return asset.name === 'support-kb-index' ? { ...m, rpoSeconds: null, status: 'missed', reason: 'no-verified-snapshot' } : m;
    };
    const uncovered = await buildReport(sources, now, { kind: 'on-demand' });
    expect(uncovered.headline).toMatchObject({ verdict: 'at-risk', assetsOverRpo: ['support-kb-index'] });
    expect(uncovered.headline.text).toContain('support-kb-index (no recovery point) is over the RPO target now');
    expect(uncovered.headline.text).toMatch(/Not recovered by that drill \(outside its scope\): support-kb-index\.$/);

    sources.drills = { runs: async () => [] };
    const unknown = await buildReport(sources, now, { kind: 'on-demand' });
    expect(unknown.headline.verdict).toBe('unknown');
  });

  it('says no when the last region-outage drill failed', async () => {
    const sources = reportSources(now);
    const runs = sources.drills.runs;
    sources.drills = {
      runs: async (name, limit) =>
        (await runs(name, limit)).map((r) => ({
          ...r,
          state: 'failed' as const,
          verdict: { ...r.verdict!, ok: false, reasons: ['eval-sets: sha256 mismatch'] },
        })),
    };
    const report = await buildReport(sources, now, { kind: 'on-demand' });
    expect(report.headline.verdict).toBe('no');
    expect(report.headline.text).toContain('failed (eval-sets: sha256 mismatch)');
  });

  it('pairs Missed and Recovered into incidents; an ongoing one from the alert state lasts until now', () => {
    const state = { asset: 'x', target: 'rto' as const, state: 'missed' as const, revision: 3, missedSince: '2026-03-01T10:34:56.000Z' };
    expect(incidentsFrom('x', [], [state], now)).toEqual([
      {
        incidentId: 'x:rto:2026-03-01T10:34:56.000Z',
        target: 'rto',
        missedAt: state.missedSince,
        recoveredAt: null,
        ongoing: true,
        durationSeconds: 7200,
        reason: 'missed',
      },
    ]);
  });

  it('the page escapes every name and text it shows, and loads nothing from outside', async () => {
    const policy = loadPolicyFile('dr-policy.yml');
    policy.assets[0]!.description = '<script>alert("x")</script> & <img src=x>';
    const sources = reportSources(now, policy);
    const restoreTests = sources.restoreTests;
    sources.restoreTests = {
      since: async (name, since) => (await restoreTests.since(name, since)).map((t) => ({ ...t, reason: '<i>"bad"</i>' })),
    };
    const html = renderPage(await buildReport(sources, now, { kind: 'drill', drill: 'quarterly-region-outage', drillId: '<id>' }));
    expect(html).not.toMatch(/<script|<img|<i>/);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x&gt;');
    expect(html).toContain('after drill quarterly-region-outage &lt;id&gt;');
    expect(html).not.toMatch(/\b(src|href)="(https?:)?\/\//);
    expect(html).toContain("default-src 'none'");
    expect(escapeHtml(`'`)).toBe('&#39;');
  });
});

describe('the report payload', () => {
  it('takes {}, the schedule and a drill; refuses anything else with a PayloadError naming the field', () => {
    expect(parseReportRequest({})).toEqual({ kind: 'on-demand' });
    expect(parseReportRequest(undefined)).toEqual({ kind: 'on-demand' });
    expect(parseReportRequest({ trigger: 'schedule' })).toEqual({ kind: 'schedule' });
    expect(parseReportRequest({ trigger: 'drill', drill: 'quarterly-region-outage', drillId: 'abc' })).toEqual({
      kind: 'drill',
      drill: 'quarterly-region-outage',
      drillId: 'abc',
    });
    expect(() => parseReportRequest({ window: 7 })).toThrow(PayloadError);
    expect(() => parseReportRequest({ window: 7 })).toThrow(/unknown field "window"/);
    expect(() => parseReportRequest({ drill: 'x' })).toThrow(/drill: drill and drillId are given only with "trigger": "drill"/);
  });

  it('formats durations as people read them', () => {
    expect([0, 42, 60, 900, 3600, 4320, 86_400, 97_200, null].map(formatDuration)).toEqual([
      '0 s',
      '42 s',
      '1 min',
      '15 min',
      '1 h',
      '1 h 12 min',
      '1 d',
      '1 d 3 h',
      'unknown',
    ]);
  });
});

describe('the report samples (events/report/)', () => {
  it.each(readdirSync('events/report/valid'))('accepts %s', (file) => {
    expect(() => parseReportRequest(loadEvent(`report/valid/${file}`))).not.toThrow();
  });
  it.each(readdirSync('events/report/invalid'))('refuses %s with a PayloadError', (file) => {
    expect(() => parseReportRequest(loadEvent(`report/invalid/${file}`))).toThrow(PayloadError);
  });
});
