import { reportLocation } from '../policy/assets.js';
import { buildReport, type ReportSources } from './build-report.js';
import type { DrReport, ReportTrigger } from './report-data.js';
import { publicStatus, renderStatusPage } from './public-status.js';
import { renderPage } from './render-page.js';

/** Where the report's files go (S3 in production). */
export interface ReportStore {
  readonly bucket: string;
  put(key: string, body: string, contentType: string): Promise<void>;
}

export interface ReportDeps extends ReportSources {
  store: ReportStore;
  now: () => Date;
}

export interface WrittenReport {
  bucket: string;
  keys: string[];
  report: DrReport;
}

/**
 * Builds the DR report and writes it: `<prefix>index.html` and `<prefix>report.json` (the latest),
 * and the same two under `<prefix>history/<YYYY-MM-DD>/` (the last report of each day is kept);
 * with report.publicStatus, also `<prefix>status/index.html` and `status.json` (public-status.ts).
 */
export async function writeReport(deps: ReportDeps, trigger: ReportTrigger): Promise<WrittenReport> {
  const report = await buildReport(deps, deps.now(), trigger);
  const { prefix } = reportLocation(deps.policy);
  const day = report.generatedAt.slice(0, 10);
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const html = renderPage(report);
  const files: [string, string, string][] = [];
  for (const dir of [`${prefix}history/${day}/`, prefix]) {
    files.push([`${dir}report.json`, json, 'application/json; charset=utf-8'], [`${dir}index.html`, html, 'text/html; charset=utf-8']);
  }
  // The public status page, when the policy asks for one (only public names and states in it).
  const status = publicStatus(report, deps.policy);
  if (status) {
    files.push(
      [`${prefix}status/status.json`, `${JSON.stringify(status, null, 2)}\n`, 'application/json; charset=utf-8'],
      [`${prefix}status/index.html`, renderStatusPage(status), 'text/html; charset=utf-8'],
    );
  }
  // The dated copy first: the latest is replaced only once the history holds it.
  for (const [key, body, type] of files) await deps.store.put(key, body, type);
  return { bucket: deps.store.bucket, keys: files.map(([key]) => key), report };
}
