import { lineageLines } from './lineage/lineage-check.js';
import { DynamoLineageCheckStore } from './lineage/dynamo-lineage-check-store.js';
import { dynamoDocumentClient } from './shared/aws-clients.js';
import { statusReport } from './rpo/monitor.js';
import { createMonitorDeps } from './rpo/runtime.js';
import { parseStatusRequest, renderStatusTable } from './rpo/status-request.js';
import { parseMonitorConfig } from './shared/config.js';
import { lambdaHandler } from './shared/observability.js';

const config = parseMonitorConfig(process.env);
const deps = createMonitorDeps(config);
const lineageChecks = new DynamoLineageCheckStore(dynamoDocumentClient(), config.LEDGER_TABLE);

/**
 * For operators: `aws lambda invoke --function-name <stack>-status --payload '{"format":"table"}'
 * --cli-binary-format raw-in-base64-out out.json`. Returns every asset's RPO against its target,
 * oldest pending change, pending and failed counts, last replication and last alert; and the
 * latest lineage check (lifecycle rules that would expire what registered models need, the last
 * model's training-set restore test: docs/lineage.md#lineage-check).
 */
export const handler = lambdaHandler(
  async (payload: unknown) => {
    const request = parseStatusRequest(payload, deps.policy);
    const [report, lineage] = await Promise.all([statusReport(deps, request.assets), lineageChecks.latest()]);
    return request.format === 'table'
      ? { format: 'table', table: [renderStatusTable(report), ...lineageLines(lineage)].join('\n') }
      : { format: 'json', ...report, lineage: lineage ?? null };
  },
  { publishesMetrics: false },
);
