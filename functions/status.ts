import { lineageLines } from './lineage/lineage-check.js';
import { DynamoServingStateStore } from './serving/dynamo-serving-state.js';
import { servingLines } from './serving/probe-round.js';
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
const servingStates = new DynamoServingStateStore(dynamoDocumentClient(), config.LEDGER_TABLE);
/** Each model service of the policy as probe-serving's last round left it (docs/serving.md). */
const serving = () =>
  Promise.all((deps.policy.serving?.services ?? []).map(async ({ name }) => ({ name, stored: await servingStates.get(name) })));

/**
 * For operators: `aws lambda invoke --function-name <stack>-status --payload '{"format":"table"}'
 * --cli-binary-format raw-in-base64-out out.json`. Returns every asset's RPO against its target,
 * oldest pending change, pending and failed counts, last replication and last alert; and the
 * latest lineage check (lifecycle rules that would expire what registered models need, the last
 * model's training-set restore test: docs/lineage.md#lineage-check); and each model service's
 * active endpoint and readiness (docs/serving.md).
 */
export const handler = lambdaHandler(
  async (payload: unknown) => {
    const request = parseStatusRequest(payload, deps.policy);
    const [report, lineage, services] = await Promise.all([statusReport(deps, request.assets), lineageChecks.latest(), serving()]);
    return request.format === 'table'
      ? { format: 'table', table: [renderStatusTable(report), ...lineageLines(lineage), ...servingLines(services)].join('\n') }
      : {
          format: 'json',
          ...report,
          lineage: lineage ?? null,
          serving: services.map(({ name, stored }) => ({ service: name, ...(stored ?? { state: null }) })),
        };
  },
  { publishesMetrics: false },
);
