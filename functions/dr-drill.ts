import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { parseDrillCall } from './drills/drill-request.js';
import { resumeDrills, runDrill } from './drills/run-drill.js';
import { createDrillRunner } from './drills/runtime.js';
import { parseDrillConfig } from './shared/config.js';
import { logger, metrics, lambdaHandler } from './shared/observability.js';
import { PayloadError } from './shared/payload.js';

const config = parseDrillConfig(process.env);
const runner = createDrillRunner(config, config.AWS_LAMBDA_FUNCTION_NAME ?? 'dr-drill');

/**
 * DR drills (docs/drills.md, events/dr-drill/): {"drill"} runs one (its schedule sends this; the
 * function continues itself with {"drill", "drillId", "continuation": true}); {"drill", "drillId"}
 * returns a run's record, {"drill", "history": true} the drill's runs; {"resume": true} (every 15
 * minutes) continues runs whose invocation died.
 */
export const handler = lambdaHandler(
  async (event: unknown, context: Context) => {
    const call = parseDrillCall(event, runner.policy);
    if (call.kind === 'get') {
      const run = await runner.store.get(call.drill.name, call.drillId);
      if (!run) throw new PayloadError(`drillId: drill ${call.drill.name} has no run "${call.drillId}"`);
      return run;
    }
    if (call.kind === 'history') return { drill: call.drill.name, runs: await runner.store.runs(call.drill.name, call.limit) };
    const deps = runner.depsFor(() => context.getRemainingTimeInMillis());
    if (call.kind === 'resume') {
      const resumed = await resumeDrills(deps);
      return {
        resumed: resumed.map(({ run, busy }) => ({ drill: run.drill, drillId: run.drillId, state: run.state, phase: run.phase, busy })),
      };
    }

    const { run, busy, events } = await runDrill(deps, call.drill, call.kind === 'continue' ? call.drillId : undefined);
    const fields = { drill: run.drill, drillId: run.drillId, phase: run.phase, state: run.state };
    if (busy) logger.info('drill is running in another invocation', fields);
    else if (run.state === 'running') logger.info('drill continues in a new invocation', fields);
    else {
      metrics.addDimensions({ drill: run.drill, scenario: run.scenario });
      if (run.verdict?.rtoSeconds != null) metrics.addMetric('DrillRtoSeconds', MetricUnit.Seconds, run.verdict.rtoSeconds);
      metrics.addMetric(run.state === 'passed' ? 'DrillPassed' : 'DrillFailed', MetricUnit.Count, 1);
      (run.state === 'passed' ? logger.info : logger.error).call(logger, `drill ${run.state}`, { ...fields, verdict: run.verdict });
    }
    return { ...run, busy, events: events.map((e) => e.detailType) };
  },
  { publishesMetrics: true },
);
