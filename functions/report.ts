import { parseReportRequest } from './report/report-request.js';
import { createReportDeps } from './report/runtime.js';
import { writeReport } from './report/write-report.js';
import { parseConfig } from './shared/config.js';
import { logger, lambdaHandler } from './shared/observability.js';

const deps = createReportDeps(parseConfig(process.env));

/**
 * The DR report (docs/report.md): daily on a schedule, after each drill (dr-drill invokes it
 * asynchronously), and on demand: `aws lambda invoke --function-name <stack>-report --payload '{}'
 * --cli-binary-format raw-in-base64-out out.json`. Writes index.html and report.json under the
 * policy's report prefix; returns where, and the headline.
 */
export const handler = lambdaHandler(
  async (payload: unknown) => {
    const trigger = parseReportRequest(payload);
    const { bucket, keys, report } = await writeReport(deps, trigger);
    logger.info('DR report written', { bucket, keys, verdict: report.headline.verdict });
    return { bucket, keys, generatedAt: report.generatedAt, headline: report.headline };
  },
  { publishesMetrics: false },
);
