import { z } from 'zod';
import { DynamoAlertStateStore } from '../alerts/dynamo-alert-state.js';
import { DynamoIncidentLog } from '../alerts/dynamo-incident-log.js';
import { EventBridgePublisher } from '../alerts/eventbridge-publisher.js';
import { loadPolicyFile } from '../policy/load.js';
import { DynamoLedger } from '../ledger/dynamo-ledger.js';
import { bedrockClient, dynamoDocumentClient, eventBridgeClient, sageMakerClient, ssmClient } from '../shared/aws-clients.js';
import type { ServingConfig } from '../shared/config.js';
import { readJsonSecret } from '../shared/secrets.js';
import { servingPlanStore } from '../restore/dynamo-plan-store.js';
import { DynamoServingStateStore } from './dynamo-serving-state.js';
import type { PinDeps, PinPlanContents } from './operator-pin.js';
import { SdkBedrockModels } from './bedrock-models.js';
import { bedrockTargetOf, probeBedrock } from './bedrock-probe.js';
import { probe } from './probe.js';
import { SdkSageMakerEndpoints } from './sagemaker-endpoints.js';
import { goldenPromptsFrom, type SmokeEvalDeps } from './smoke-eval.js';
import { createStores } from '../storage/stores.js';
import { probeSageMaker, sageMakerTargetOf } from './sagemaker-probe.js';
import type { ServingDeps } from './probe-round.js';
import { SsmActiveEndpoint } from './ssm-active-endpoint.js';
import { DynamoTokenBudget } from './dynamo-token-budget.js';

const apiKeySecret = z.strictObject({ apiKey: z.string().min(1) });

/**
 * Composition root of probe-serving: the policy's services; probes over HTTPS, through Bedrock's
 * and SageMaker's APIs (with the ledger for what a DR-region endpoint must serve); keys from Secrets
 * Manager; the failover state in the ledger table; the switch in SSM Parameter Store; the alerts on
 * the stack's bus. Undefined when the policy has no `serving` section.
 */
export function createServing(
  config: ServingConfig,
  now: () => Date = () => new Date(),
): (ServingDeps & PinDeps & Omit<SmokeEvalDeps, 'remainingMs'>) | undefined {
  const policy = loadPolicyFile(config.policyPath);
  const serving = policy.serving;
  if (!serving) return undefined;
  const db = dynamoDocumentClient();
  const bedrock = new SdkBedrockModels(bedrockClient);
  const ledger = new DynamoLedger(db, config.LEDGER_TABLE);
  const sageMaker = { endpoints: new SdkSageMakerEndpoints(sageMakerClient), ledger };
  const stores = createStores(config.DR_S3_FORCE_PATH_STYLE);
  return {
    policy,
    serving,
    now,
    golden: goldenPromptsFrom(ledger, (asset) => stores.replicaOf(asset)),
    probe: (target) => probe(target),
    probeSageMaker: (endpoint) => probeSageMaker(sageMakerTargetOf(policy, endpoint), sageMaker),
    probeBedrock: (endpoint) => probeBedrock(bedrockTargetOf(policy, endpoint), { models: bedrock, today: now }),
    apiKey: async (arn) => (await readJsonSecret(arn, apiKeySecret, '{"apiKey"}')).apiKey,
    states: new DynamoServingStateStore(db, config.LEDGER_TABLE),
    active: new SsmActiveEndpoint(ssmClient(), serving.parameterPrefix),
    plans: servingPlanStore<PinPlanContents>(db, config.LEDGER_TABLE),
    budget: new DynamoTokenBudget(db, config.LEDGER_TABLE),
    alerts: {
      store: new DynamoAlertStateStore(db, config.LEDGER_TABLE),
      publisher: new EventBridgePublisher(eventBridgeClient(), config.DR_EVENT_BUS),
      incidents: new DynamoIncidentLog(db, config.LEDGER_TABLE),
    },
  };
}
