import { statusReport } from './rpo/monitor.js';
import { createMonitorDeps } from './rpo/runtime.js';
import { parseStatusRequest, renderStatusTable } from './rpo/status-request.js';
import { parseMonitorConfig } from './shared/config.js';
import { lambdaHandler } from './shared/observability.js';

const deps = createMonitorDeps(parseMonitorConfig(process.env));

/**
 * For operators: `aws lambda invoke --function-name <stack>-status --payload '{"format":"table"}'
 * --cli-binary-format raw-in-base64-out out.json`. Returns every asset's RPO against its target,
 * oldest pending change, pending and failed counts, last replication and last alert.
 */
export const handler = lambdaHandler(
  async (payload: unknown) => {
    const request = parseStatusRequest(payload, deps.policy);
    const report = await statusReport(deps, request.assets);
    return request.format === 'table' ? { format: 'table', table: renderStatusTable(report) } : { format: 'json', ...report };
  },
  { publishesMetrics: false },
);
