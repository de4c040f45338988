import { escapeHtml as e, formatDuration, formatShare, formatTime } from './format.js';
import type { AssetReport, DrillReport, DrReport, Incident } from './report-data.js';
import { renderChart } from './svg-chart.js';
import { describeRetention } from '../storage/object-lock.js';
import { smokeEvalLine } from '../serving/probe-round.js';
import type { RestoreFanOut } from '../restore/restore-vectors.js';

/**
 * The DR report as one static HTML page: inline CSS and inline SVG charts, no script, no font, no
 * request to anywhere (its Content-Security-Policy forbids them), so it reads the same from S3 and
 * from a local file. Every number shown is one of report.json's, in a cell that names its field
 * (`data-field`) and carries the raw value (`data-value`).
 */
export function renderPage(report: DrReport): string {
  const title = `DR report: ${report.service} (${report.region})`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${e(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${e(title)}</h1>
<p class="meta">Generated ${e(formatTime(report.generatedAt))} (${e(trigger(report))}). Same data: <code>report.json</code>.</p>
<p class="headline verdict-${e(report.headline.verdict)}" data-field="headline" data-verdict="${e(report.headline.verdict)}">${e(report.headline.text)}</p>
</header>
<main>
<section>
<h2>Assets</h2>
${assetTable(report)}
</section>
<section>
<h2>Replica protection</h2>
${protectionTable(report)}
</section>
<section>
<h2>Lineage</h2>
${lineageSection(report)}
</section>
<section>
<h2>Model serving</h2>
${servingSection(report)}
</section>
${report.assets.map((a) => assetSection(a, report)).join('\n')}
<section>
<h2>Drills</h2>
${report.drills.length === 0 ? '<p>No drill is declared in the policy.</p>' : report.drills.map(drillSection).join('\n')}
</section>
</main>
<footer><p>RPO: what a region outage now would lose, in time. Within RPO target: the share of ${report.windows.shortPeriodSeconds / 60}-minute (${report.windows.shortDays} days) or ${report.windows.longPeriodSeconds / 60}-minute (${report.windows.longDays} days) periods whose highest RPO was at or under the target; a period without a measurement counts against. RTO: measured by restore tests and drills. See docs/report.md.</p></footer>
</body>
</html>
`;
}

function trigger(report: DrReport): string {
  const t = report.trigger;
  if (t.kind === 'drill') return `after drill ${t.drill ?? ''} ${t.drillId ?? ''}`.trim();
  return t.kind === 'schedule' ? 'daily schedule' : 'on demand';
}

/** A cell showing one field of report.json: its text, and the raw value for machines. */
const cell = (field: string, value: number | string | null, text: string, cls = '') =>
  `<td data-field="${e(field)}" data-value="${e(value === null ? '' : String(value))}"${cls ? ` class="${e(cls)}"` : ''}>${e(text)}</td>`;

/** How many incidents in the window, marked while one is ongoing. */
const incidentsCell = (incidents: Incident[]) =>
  cell('incidents', incidents.length, String(incidents.length), incidents.some((i) => i.ongoing) ? 'missed' : '');

function assetTable(report: DrReport): string {
  const rows = report.assets.map((a) => {
    const last = a.lastVerified.replicatedAt ?? a.lastVerified.snapshotAt;
    return `<tr data-asset="${e(a.name)}">
<th scope="row"><a href="#asset-${e(a.name)}">${e(a.name)}</a><br><span class="kind">${e(a.kind)}, ${e(a.tier)}</span></th>
${cell('rpoNow', a.rpo.nowSeconds, a.rpo.nowSeconds === null ? 'no recovery point' : formatDuration(a.rpo.nowSeconds), a.rpo.status)}
${cell('rpoTarget', a.rpo.targetSeconds, formatDuration(a.rpo.targetSeconds))}
${cell('withinShort', a.withinRpoTarget.short.withinTarget, formatShare(a.withinRpoTarget.short.withinTarget))}
${cell('withinLong', a.withinRpoTarget.long.withinTarget, formatShare(a.withinRpoTarget.long.withinTarget))}
${cell('rtoLatest', a.rto.latestSeconds, formatDuration(a.rto.latestSeconds))}
${cell('rtoTarget', a.rto.targetSeconds, formatDuration(a.rto.targetSeconds))}
${cell('lastVerified', last, formatTime(last))}
${cell('restorePassRate', a.restoreTests.passRate, a.restoreTests.count === 0 ? 'no tests' : `${formatShare(a.restoreTests.passRate)} of ${a.restoreTests.count}`)}
${incidentsCell(a.incidents)}
</tr>`;
  });
  return `<table class="assets">
<thead><tr><th>Asset</th><th>RPO now</th><th>RPO target</th><th>Within RPO target, ${report.windows.shortDays} d</th><th>${report.windows.longDays} d</th><th>RTO measured</th><th>RTO target</th><th>Last verified replica or snapshot</th><th>Restore tests passed</th><th>Incidents, ${report.windows.longDays} d</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>`;
}

/** Each replica bucket's Object Lock: an asset the policy locks in a bucket without it is shown as missed. */
function protectionTable(report: DrReport): string {
  const rows = report.replicaBuckets.map((b) => {
    const rule = b.objectLock.defaultRetention ? describeRetention(b.objectLock.defaultRetention) : 'none';
    return `<tr data-bucket="${e(b.bucket)}">
<th scope="row">${e(b.bucket)}</th>
${cell('objectLock', String(b.objectLock.enabled), b.objectLock.enabled ? 'on' : 'off', b.unprotected.length > 0 ? 'missed' : '')}
<td>${e(rule)}</td>
<td>${e(b.lockedAssets.join(', ') || 'none')}</td>
${cell('unprotected', b.unprotected.join(','), b.unprotected.length > 0 ? `${b.unprotected.join(', ')}: can be deleted by anyone allowed to; docs/object-lock.md` : 'none', b.unprotected.length > 0 ? 'missed' : '')}
</tr>`;
  });
  return `<table class="protection">
<thead><tr><th>Replica bucket</th><th>Object Lock</th><th>Default retention</th><th>Assets the policy locks</th><th>Unprotected</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>`;
}

/** What registered models need: lifecycle rules that would expire it, and the last training-set restore test. */
function lineageSection(report: DrReport): string {
  const check = report.lineage;
  if (!check) return '<p>No lineage check has run yet (docs/lineage.md).</p>';
  const linked = check.referenced.reduce((n, r) => n + r.datasetVersions, 0);
  const risks = check.risks.map(
    (r) =>
      `<li class="missed" data-field="lineage-risk" data-asset="${e(r.asset)}">${e(
        `${r.asset}: lifecycle rule "${r.rule}" of ${r.where} bucket ${r.bucket} ${r.does.join(' and ')} under "${r.rulePrefix}"${r.held ? ' (held in the replica)' : ''}`,
      )}</li>`,
  );
  const test = check.restoreTest;
  return `<p data-field="lineage" data-risks="${check.risks.length}">Checked ${e(formatTime(check.checkedAt))}: ${linked} dataset version(s) linked by registered models; ${
    check.risks.length
      ? `${check.risks.length} lifecycle rule(s) would expire what they need`
      : 'no lifecycle rule would expire what they need'
  }.</p>
${risks.length ? `<ul>${risks.join('\n')}</ul>` : ''}
${test ? `<p data-field="lineage-restore-test" data-ok="${test.ok}">Restore test of ${e(test.model)}'s training set: ${test.ok ? 'passed' : `failed: ${e(test.reason ?? '')}`}${test.rtoSeconds !== null ? `, measured RTO ${e(formatDuration(test.rtoSeconds))}` : ''}.</p>` : ''}`;
}

/** Each model service as probe-serving's last round left it: what is active, what is ready, what is not and why. */
function servingSection(report: DrReport): string {
  if (report.serving.length === 0) return '<p>No model service is declared in the policy (docs/serving.md).</p>';
  const rows = report.serving.map((s) => {
    const round = s.lastRound;
    if (!s.state || !round)
      return `<tr data-service="${e(s.service)}"><th scope="row">${e(s.service)}</th><td colspan="6" class="missed">not probed yet</td>${incidentsCell(s.incidents)}</tr>`;
    const { readiness } = round;
    const notReady = readiness.notReady.map((n) => `${n.endpoint}: ${n.class}${n.detail ? ` (${n.detail})` : ''}`);
    const switched = s.state.switched;
    return `<tr data-service="${e(s.service)}">
<th scope="row">${e(s.service)}<br><span class="kind">${e(s.tier)}, RTO target ${e(formatDuration(s.rtoTargetMinutes * 60))}</span></th>
${cell('servingActive', s.state.active, `${s.state.active}${s.state.pinned ? ` (pinned by ${s.state.pinned.by})` : ''}`)}
${cell('servingPrimaryUp', String(readiness.primaryUp), readiness.primaryUp ? 'up' : 'down', readiness.primaryUp ? '' : 'missed')}
${cell('servingReadyFallbacks', readiness.readyFallbacks.join(','), readiness.readyFallbacks.join(', ') || 'none', readiness.readyFallbacks.length ? '' : 'missed')}
${cell('servingNotReady', readiness.notReady.map((n) => n.endpoint).join(','), notReady.join('; ') || 'none', notReady.length ? 'missed' : '')}
${cell('servingProbedAt', round.checkedAt, formatTime(round.checkedAt))}
${cell('servingLastSwitch', switched?.at ?? null, switched ? `${switched.from} → ${switched.to} at ${formatTime(switched.at)}: ${switched.reason}` : 'none')}
${incidentsCell(s.incidents)}
</tr>`;
  });
  return `<table class="serving">
<thead><tr><th>Service</th><th>Active endpoint</th><th>Primary</th><th>Ready fallbacks</th><th>Not ready, and why</th><th>Probed</th><th>Last switch</th><th>Incidents, ${report.windows.longDays} d</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>
${report.serving
  .map((s) =>
    s.smokeEval ? `<p data-field="servingSmokeEval" data-service="${e(s.service)}">${e(smokeEvalLine(s.smokeEval).trim())}</p>` : '',
  )
  .join('\n')}
${report.serving.map((s) => (s.incidents.length ? `<h3>${e(s.service)}</h3>\n${incidentTable(s.incidents)}` : '')).join('\n')}`;
}

function assetSection(a: AssetReport, report: DrReport): string {
  const to = Date.parse(report.generatedAt);
  const rpoChart = renderChart({
    title: `${a.name}: RPO, highest per hour, last ${report.windows.chartDays} days`,
    style: 'step',
    points: a.rpoHistory.points.map((p) => ({ at: Date.parse(p.at), seconds: p.maxSeconds })),
    periodMs: a.rpoHistory.periodSeconds * 1000,
    from: to - report.windows.chartDays * 86_400_000,
    to,
    targetSeconds: a.rpo.targetSeconds,
  });
  const rtoChart = renderChart({
    title: `${a.name}: measured RTO (restore tests and drills), last ${report.windows.longDays} days`,
    style: 'points',
    points: a.rto.history.flatMap((p) => (p.seconds === null ? [] : [{ at: Date.parse(p.at), seconds: p.seconds, failed: !p.ok }])),
    from: to - report.windows.longDays * 86_400_000,
    to,
    targetSeconds: a.rto.targetSeconds,
  });
  const short = a.withinRpoTarget.short;
  const long = a.withinRpoTarget.long;
  return `<section class="asset" id="asset-${e(a.name)}" data-asset="${e(a.name)}">
<h2>${e(a.name)}</h2>
${a.description ? `<p>${e(a.description)}</p>` : ''}
<p>Within RPO target: ${e(formatShare(short.withinTarget))} of the last ${report.windows.shortDays} days (measured ${e(formatShare(short.measured))} of the time), ${e(formatShare(long.withinTarget))} of the last ${report.windows.longDays} days (measured ${e(formatShare(long.measured))}). Restore tests: ${a.restoreTests.passed} of ${a.restoreTests.count} passed${a.restoreTests.last ? `, last ${e(formatTime(a.restoreTests.last.at))} ${a.restoreTests.last.ok ? 'passed' : `failed: ${e(a.restoreTests.last.reason ?? '')}`}` : ''}. Last verified: replica ${e(formatTime(a.lastVerified.replicatedAt))}, snapshot ${e(formatTime(a.lastVerified.snapshotAt))}, restore test ${e(formatTime(a.lastVerified.restoreTestPassedAt))}, drill ${e(formatTime(a.lastVerified.drillVerifiedAt))}.</p>
<div class="charts">${rpoChart}${rtoChart}</div>
${incidentTable(a.incidents)}
</section>`;
}

function incidentTable(incidents: Incident[]): string {
  if (incidents.length === 0) return '<p class="none">No incident in the window.</p>';
  const rows = incidents.map(
    (i) =>
      `<tr class="${i.ongoing ? 'missed' : ''}"><td>${e(i.target)}</td><td>${e(formatTime(i.missedAt))}</td><td>${e(i.recoveredAt ? formatTime(i.recoveredAt) : 'ongoing')}</td><td data-value="${i.durationSeconds}">${e(formatDuration(i.durationSeconds))}</td><td>${e(i.reason)}${i.description ? `: ${e(i.description)}` : ''}</td></tr>`,
  );
  return `<table class="incidents"><thead><tr><th>Target</th><th>Missed</th><th>Recovered</th><th>Duration</th><th>Why</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** How a restore in parts ran: "written in 8 parts, checked in 8 parts" (a native restore writes in none). */
const inParts = ({ writeParts, verifyParts }: RestoreFanOut) =>
  [writeParts > 0 && `written in ${writeParts} parts`, verifyParts > 1 && `checked in ${verifyParts} parts`].filter(Boolean).join(', ');

function drillSection(d: DrillReport): string {
  const runs = d.runs.map((run) => {
    const assets = run.assets
      .map(
        (a) =>
          `<tr><td>${e(a.asset)}</td><td class="${a.ok === false ? 'missed' : a.ok ? 'ok' : ''}">${a.ok === null ? 'not verified' : a.ok ? 'passed' : 'failed'}</td><td${a.fanOut ? ` data-write-parts="${a.fanOut.writeParts}"` : ''}>${e(formatDuration(a.rtoSeconds))}${a.fanOut ? e(` (${inParts(a.fanOut)})`) : ''}</td><td>${e(formatDuration(a.rtoTargetSeconds))}</td><td>${e(a.reason ?? '')}</td></tr>`,
      )
      .join('');
    const rpo = run.rpoAtStart
      .map(
        (r) =>
          `${e(r.asset)} ${r.rpoSeconds === null ? 'unknown' : e(formatDuration(r.rpoSeconds))} of ${e(formatDuration(r.rpoTargetSeconds))}`,
      )
      .join('; ');
    return `<details class="run" data-drill-id="${e(run.drillId)}"><summary><span class="${run.state === 'failed' ? 'missed' : run.state === 'passed' ? 'ok' : ''}">${e(run.state)}</span> ${e(formatTime(run.startedAt))}: RTO ${e(formatDuration(run.rtoSeconds))} of ${e(formatDuration(run.targetSeconds))}</summary>
<p>Run ${e(run.drillId)}, finished ${e(formatTime(run.finishedAt))}.${run.reasons.length ? ` Reasons: ${e(run.reasons.join('; '))}.` : ''}</p>
<p>RPO at the start (what an outage then would have lost): ${rpo || 'not measured'}.</p>
<table><thead><tr><th>Asset</th><th>Result</th><th>RTO</th><th>Target</th><th>Why</th></tr></thead><tbody>${assets}</tbody></table>
</details>`;
  });
  return `<section class="drill" data-drill="${e(d.name)}">
<h3>${e(d.name)} <span class="kind">${e(d.scenario)}, ${e(d.schedule)}, target ${e(formatDuration(d.targetSeconds))}, scope ${e(d.scope.join(', '))}</span></h3>
${runs.length === 0 ? '<p class="none">Not run yet.</p>' : runs.join('\n')}
${incidentTable(d.incidents)}
</section>`;
}

const STYLE = `
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d232a;margin:0 auto;max-width:1180px;padding:16px 24px;background:#fff}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #d5dbe1}h3{font-size:1.05em}
.meta,.kind{color:#5b6670;font-size:.9em;font-weight:normal}
.headline{font-size:1.15em;padding:12px 14px;border-radius:6px;border-left:6px solid #8a949e;background:#f2f4f6}
.verdict-yes{border-color:#1f8a4c;background:#eaf6ef}.verdict-at-risk{border-color:#c98a00;background:#fdf5e3}.verdict-no{border-color:#c2352b;background:#fbeceb}
table{border-collapse:collapse;width:100%;margin:.6em 0;font-size:.92em}th,td{border-bottom:1px solid #e3e7eb;padding:5px 8px;text-align:left;vertical-align:top}
thead th{background:#f5f7f9;font-weight:600}td.missed,tr.missed td,span.missed{color:#b3261e;font-weight:600}td.ok,span.ok{color:#1f7a45}
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{max-width:100%;height:auto;background:#fbfcfd;border:1px solid #e3e7eb;border-radius:4px}
.chart .grid{stroke:#e6e9ec}.chart .axis{stroke:#8a949e;fill:none}.chart .tick{font-size:10px;fill:#5b6670}.chart .chart-title{font-size:11px;fill:#1d232a;font-weight:600}
.chart .target{stroke:#c2352b;stroke-dasharray:5 4}.chart .target-label{font-size:10px;fill:#c2352b}.chart .series{fill:none;stroke:#2463b5;stroke-width:1.6}
.chart .point{fill:#2463b5}.chart .point.failed{fill:#fff;stroke:#c2352b;stroke-width:1.6}.chart .empty{font-size:12px;fill:#8a949e}
details.run{margin:.4em 0;padding:4px 8px;border:1px solid #e3e7eb;border-radius:4px}code{background:#f2f4f6;padding:0 3px}
footer{margin-top:2em;color:#5b6670;font-size:.85em}
`;
