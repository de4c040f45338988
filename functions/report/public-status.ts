import type { Policy } from '../policy/schema.js';
import { escapeHtml as e, formatDuration, formatTime } from './format.js';
import type { DrReport, Incident } from './report-data.js';

/**
 * The public status page (report.publicStatus): for the people an outage affects, honest about
 * impact and timeline, and nothing else. It shows only the assets the policy names, under their
 * public names: whether each is operating normally, protected with a delay, or in an incident, and
 * the incidents of the last 90 days with when they began and ended. No asset, bucket, drill or
 * engine name of the stack, no RPO or RTO figure, no internal reason text.
 */
export type PublicState = 'operational' | 'degraded' | 'incident';

export interface PublicStatus {
  schemaVersion: '1';
  title: string;
  generatedAt: string;
  /** The worst state of any service. */
  overall: PublicState;
  services: { name: string; state: PublicState; since: string | null }[];
  incidents: { service: string; what: string; began: string; ended: string | null; durationSeconds: number }[];
}

/** What an incident means to the people it affects, by target. */
const WHAT: Record<Incident['target'], string> = {
  rpo: 'Backups delayed: recent changes were not yet protected in the recovery region',
  rto: 'A scheduled recovery test did not pass',
  drill: 'A recovery exercise did not pass',
  lineage: 'Data that trained a model was at risk of being removed, or did not restore in a test',
  serving: 'A model service had no working fallback, or its primary provider was down',
};
const ORDER: PublicState[] = ['operational', 'degraded', 'incident'];

export function publicStatus(report: DrReport, policy: Policy): PublicStatus | undefined {
  const config = policy.report.publicStatus;
  if (!config) return undefined;
  const services = report.assets
    .filter((a) => config.assets[a.name] !== undefined)
    .map((a) => {
      const open = a.incidents.filter((i) => i.ongoing);
      // Data written now not yet safe elsewhere (an RPO incident, still over target) is an incident;
      // one recovering (back under target, not yet declared recovered) or a failed restore test
      // leaves the service up with an issue being resolved.
      const behind = open.some((i) => i.target === 'rpo') && a.rpo.status === 'missed';
      const state: PublicState = behind ? 'incident' : open.length > 0 ? 'degraded' : 'operational';
      const since = open.map((i) => i.missedAt).sort()[0] ?? null;
      return { asset: a.name, service: { name: config.assets[a.name]!, state, since } };
    });
  const incidents = report.assets
    .filter((a) => config.assets[a.name] !== undefined)
    .flatMap((a) =>
      a.incidents.map((i) => ({
        service: config.assets[a.name]!,
        what: WHAT[i.target],
        began: i.missedAt,
        ended: i.recoveredAt,
        durationSeconds: i.durationSeconds,
      })),
    )
    .sort((x, y) => y.began.localeCompare(x.began));
  const overall = ORDER[Math.max(0, ...services.map((s) => ORDER.indexOf(s.service.state)))]!;
  return {
    schemaVersion: '1',
    title: config.title,
    generatedAt: report.generatedAt,
    overall,
    services: services.map((s) => s.service),
    incidents,
  };
}

const LABEL: Record<PublicState, string> = {
  operational: 'Operating normally',
  degraded: 'Operating; an issue is being resolved',
  incident: 'Incident: recent changes not yet protected',
};

/** The status page: static HTML, inline CSS, no script and no request to anywhere. */
export function renderStatusPage(status: PublicStatus): string {
  const rows = status.services
    .map(
      (s) =>
        `<tr class="state-${e(s.state)}"><td>${e(s.name)}</td><td data-state="${e(s.state)}">${e(LABEL[s.state])}</td><td>${s.since ? `since ${e(formatTime(s.since))}` : ''}</td></tr>`,
    )
    .join('\n');
  const timeline =
    status.incidents.length === 0
      ? '<p>No incident in the last 90 days.</p>'
      : `<ol class="timeline">${status.incidents
          .map(
            (i) =>
              `<li><strong>${e(i.service)}</strong>: ${e(i.what)}. Began ${e(formatTime(i.began))}; ${
                i.ended
                  ? `resolved ${e(formatTime(i.ended))} (${e(formatDuration(i.durationSeconds))})`
                  : `ongoing for ${e(formatDuration(i.durationSeconds))}`
              }.</li>`,
          )
          .join('\n')}</ol>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${e(status.title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
table{border-collapse:collapse;width:100%}td{padding:.5rem;border-bottom:1px solid #d8dee4}
.state-operational td:nth-child(2){color:#1a7f37}.state-degraded td:nth-child(2){color:#9a6700}.state-incident td:nth-child(2){color:#cf222e;font-weight:600}
.overall{padding:.75rem 1rem;border-radius:6px;background:#f6f8fa}</style>
</head>
<body>
<h1>${e(status.title)}</h1>
<p class="overall" data-state="${e(status.overall)}">${e(LABEL[status.overall])}. Updated ${e(formatTime(status.generatedAt))}.</p>
<table>
${rows}
</table>
<h2>Incidents, last 90 days</h2>
${timeline}
</body>
</html>
`;
}
