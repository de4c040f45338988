import type { Context } from 'aws-lambda';
import { probeServing } from './serving/probe-round.js';
import { createServing } from './serving/runtime.js';
import { parseServingConfig } from './shared/config.js';
import { logger, lambdaHandler } from './shared/observability.js';
import { PayloadError } from './shared/payload.js';
import { pinService } from './serving/operator-pin.js';
import { parseServingCall } from './serving/serving-request.js';
import { publishServingRound } from './serving/serving-metrics.js';
import { runSmokeEval } from './serving/smoke-eval.js';

const deps = createServing(parseServingConfig(process.env));

/**
 * Model serving DR (docs/serving.md), on the policy's serving.schedule: one round of probes of
 * every service's endpoints, the failover decided and written to SSM Parameter Store, readiness
 * paged, the round published as metrics (probe latency per endpoint: its percentiles). Operators
 * may run a round by hand with `{}` (the schedule sends `{"trigger": "schedule"}`), and pin a
 * service to an endpoint, or lift the pin, with a dry run and its token (`{"pin": {"service",
 * "endpoint"?, "by"?}, "dryRun": true}`, then `"planToken"`). `{"trigger": "smoke-eval"}` (on
 * serving.smokeEvalSchedule) runs the services' smoke evals.
 */
export const handler = lambdaHandler(
  async (event: unknown, context: Context) => {
    const call = parseServingCall(event);
    if (!deps) throw new PayloadError('serving: the policy has no serving section (docs/serving.md)');
    if (call.kind === 'pin') return pinService(call, deps);
    if (call.kind === 'smoke-eval') {
      const evalDeps = { ...deps, remainingMs: () => context.getRemainingTimeInMillis() };
      // The services at once; one whose eval cannot run (its golden prompts unreadable) does not stop the others'.
      const evals = await Promise.all(
        deps.serving.services
          .filter((s) => s.smokeEval)
          .map(async (service) => {
            try {
              const result = await runSmokeEval(service, evalDeps);
              const scores = Object.fromEntries(result.endpoints.map((e) => [e.endpoint, e.score]));
              logger.info('smoke eval', { service: service.name, scores });
              return { service: service.name, ...result };
            } catch (error) {
              logger.error('smoke eval failed', { service: service.name, error: (error as Error).message });
              return { service: service.name, error: (error as Error).message };
            }
          }),
      );
      return { smokeEvals: evals };
    }
    const rounds = await probeServing(deps);
    for (const round of rounds) {
      publishServingRound(round);
      const log = round.switch ? logger.warn.bind(logger) : logger.info.bind(logger);
      log(round.switch ? 'model service switched' : 'model service probed', {
        service: round.service,
        active: round.active,
        ...(round.switch && { switch: round.switch }),
        classes: Object.fromEntries(Object.entries(round.results).map(([id, r]) => [id, r.class])),
        readyFallbacks: round.readiness.readyFallbacks,
      });
    }
    return { services: rounds.map(({ events, ...round }) => ({ ...round, events: events.map((e) => e.detailType) })) };
  },
  { publishesMetrics: false },
);
