import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport } from '../../functions/report/build-report.js';
import { formatDuration, formatShare, formatTime } from '../../functions/report/format.js';
import type { DrReport } from '../../functions/report/report-data.js';
import { publicStatus, renderStatusPage } from '../../functions/report/public-status.js';
import { renderPage } from '../../functions/report/render-page.js';
import { CHROMIUM } from '../../scripts/browser/chromium.js';
import { projectRoot } from '../../scripts/local-aws/venv.js';
import { reportSources } from '../support/report-sources.js';

/**
 * The DR report page, and its public status page, opened from local files in headless Chromium
 * (Debian's, driven by playwright-core): no console error, no request but the file, every asset row
 * shows report.json's numbers, the charts have drawn paths, every service row shows status.json's
 * state. Screenshots are kept in test-artifacts/ (gitignored).
 */
let browser: Browser;
let report: DrReport;
let file: string;
/** Where the pages are written; removed after the tests. */
const dirs: string[] = [];
beforeAll(async () => {
  const now = new Date();
  report = await buildReport(reportSources(now), now, { kind: 'on-demand' });
  const dir = mkdtempSync(join(tmpdir(), 'dr-report-page-'));
  dirs.push(dir);
  file = join(dir, 'index.html');
  writeFileSync(file, renderPage(report));
  writeFileSync(join(dir, 'report.json'), JSON.stringify(report));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});
afterAll(async () => {
  await browser?.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('the DR report page in Chromium', () => {
  it('loads from a local file with no console error, shows the JSON numbers per asset, draws its charts', async () => {
    // Prepare
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));

    // Act
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });

    // Assess: nothing but the file itself was requested, and nothing complained.
    expect(problems).toEqual([]);
    expect(requests).toEqual([pathToFileURL(file).href]);
    expect(await page.locator('[data-field="headline"]').textContent()).toBe(report.headline.text);

    const rows = await page.$$eval('table.assets tbody tr', (trs) =>
      trs.map((tr) => ({
        asset: tr.getAttribute('data-asset'),
        cells: Object.fromEntries(
          [...tr.querySelectorAll('td[data-field]')].map((td) => [
            td.getAttribute('data-field'),
            { text: td.textContent?.trim(), value: td.getAttribute('data-value') },
          ]),
        ),
      })),
    );
    expect(rows.map((r) => r.asset)).toEqual(report.assets.map((a) => a.name));
    for (const a of report.assets) {
      const { cells } = rows.find((r) => r.asset === a.name)!;
      const last = a.lastVerified.replicatedAt ?? a.lastVerified.snapshotAt;
      const expected: Record<string, { text: string; value: number | string | null }> = {
        rpoNow: { text: formatDuration(a.rpo.nowSeconds), value: a.rpo.nowSeconds },
        rpoTarget: { text: formatDuration(a.rpo.targetSeconds), value: a.rpo.targetSeconds },
        withinShort: { text: formatShare(a.withinRpoTarget.short.withinTarget), value: a.withinRpoTarget.short.withinTarget },
        withinLong: { text: formatShare(a.withinRpoTarget.long.withinTarget), value: a.withinRpoTarget.long.withinTarget },
        rtoLatest: { text: formatDuration(a.rto.latestSeconds), value: a.rto.latestSeconds },
        rtoTarget: { text: formatDuration(a.rto.targetSeconds), value: a.rto.targetSeconds },
        lastVerified: { text: formatTime(last), value: last },
        restorePassRate: { text: `${formatShare(a.restoreTests.passRate)} of ${a.restoreTests.count}`, value: a.restoreTests.passRate },
        incidents: { text: String(a.incidents.length), value: a.incidents.length },
      };
      for (const [field, { text, value }] of Object.entries(expected)) {
        expect(cells[field], `${a.name} ${field}`).toEqual({ text, value: value === null ? '' : String(value) });
      }
    }

    // Two charts per asset (RPO history, RTO), each with a drawn data path.
    const paths = await page.$$eval('section.asset svg.chart path.series', (ps) => ps.map((p) => p.getAttribute('d') ?? ''));
    expect(paths).toHaveLength(2 * report.assets.length);
    for (const d of paths) expect(d).toMatch(/^M[\d.]+ [\d.]+[HVL]/);
    const drawn = await page.$$eval('section.asset svg.chart path.series', (ps) =>
      ps.map((p) => (p as unknown as { getTotalLength(): number }).getTotalLength()),
    );
    for (const length of drawn) expect(length).toBeGreaterThan(0);

    // Drill detail: each run's per-asset table.
    const runs = await page.locator('details.run').count();
    expect(runs).toBe(report.drills.reduce((n, d) => n + d.runs.length, 0));

    const artifacts = join(projectRoot, 'test-artifacts');
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'dr-report.png'), fullPage: true });
    await page.close();
  });

  it('the public status page: no console error, no request but the file, each service as status.json says', async () => {
    const status = publicStatus(report, reportSources(new Date()).policy)!;
    const dir = mkdtempSync(join(tmpdir(), 'dr-status-page-'));
    dirs.push(dir);
    const statusFile = join(dir, 'index.html');
    writeFileSync(statusFile, renderStatusPage(status));
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => void ((m.type() === 'error' || m.type() === 'warning') && problems.push(`${m.type()}: ${m.text()}`)));
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(statusFile).href, { waitUntil: 'load' });
    expect(problems).toEqual([]);
    expect(requests).toEqual([pathToFileURL(statusFile).href]);
    const rows = await page.$$eval('table tr', (trs) =>
      trs.map((tr) => ({
        name: tr.querySelector('td')?.textContent,
        state: tr.querySelector('td[data-state]')?.getAttribute('data-state'),
      })),
    );
    expect(rows).toEqual(status.services.map((s) => ({ name: s.name, state: s.state })));
    expect(await page.locator('ol.timeline li').count()).toBe(status.incidents.length);
    await page.screenshot({ path: join(projectRoot, 'test-artifacts', 'dr-status.png'), fullPage: true });
    await page.close();
  });
});
