import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  DeleteEndpointCommand,
  DescribeEndpointCommand,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../../functions/policy/load.js';
import { probeServing, type ServiceRound, type ServingDeps } from '../../../functions/serving/probe-round.js';
import { createServing } from '../../../functions/serving/runtime.js';
import { SdkSageMakerEndpoints } from '../../../functions/serving/sagemaker-endpoints.js';
import { probeSageMaker, sageMakerTargetOf } from '../../../functions/serving/sagemaker-probe.js';
import { parseServingConfig } from '../../../functions/shared/config.js';
import { onCallPages } from '../../support/on-call.js';
import type { StackUnderTest } from '../../support/local-stack.js';
import { startServingStack, type ServingStack } from '../../support/serving-stack.js';
import { providerAnswers } from '../../support/provider-answers.js';

/**
 * SageMaker and Bedrock endpoints in probe-serving (docs/serving.md#sagemaker) on the local AWS: the
 * team's own ranker served by an endpoint in the primary region and one in the DR region, whose
 * model data is the replica of a `model-artifacts` asset's key, with a Bedrock model and an HTTP
 * gateway as further fallbacks. The artifact is replicated by the stack; the endpoints are
 * SageMaker's (moto: DescribeEndpoint, DescribeEndpointConfig, DescribeModel); Bedrock's control
 * plane (which moto lacks) is the local server, answering its documented shapes, reached through
 * the SDK's own endpoint variable (AWS_ENDPOINT_URL_BEDROCK).
 */

let s: ServingStack;
let t: StackUnderTest;
let deps: ServingDeps;
let policyPath: string;
const ARTIFACT = 'models/ranker/model.tar.gz';
const REPLICA_URI = `s3://it-replica/dr/models/ranker/model.tar.gz`;
const clients = { 'us-east-1': new SageMakerClient({ region: 'us-east-1' }), 'us-west-2': new SageMakerClient({ region: 'us-west-2' }) };
let round = 0;
const start = Date.now();

/** A SageMaker endpoint serving `modelData`, (re)deployed now. */
async function deploy(region: keyof typeof clients, name: string, modelData: string): Promise<void> {
  const sm = clients[region];
  const suffix = `${round}-${Math.random().toString(16).slice(2, 8)}`;
  await sm.send(
    new CreateModelCommand({
      ModelName: `${name}-${suffix}`,
      ExecutionRoleArn: 'arn:aws:iam::123456789012:role/sagemaker',
      PrimaryContainer: { Image: '123456789012.dkr.ecr.us-west-2.amazonaws.com/ranker:1', ModelDataUrl: modelData },
    }),
  );
  await sm.send(
    new CreateEndpointConfigCommand({
      EndpointConfigName: `${name}-${suffix}`,
      ProductionVariants: [{ VariantName: 'main', ModelName: `${name}-${suffix}`, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }],
    }),
  );
  await sm.send(new DeleteEndpointCommand({ EndpointName: name })).catch(() => undefined);
  await sm.send(new CreateEndpointCommand({ EndpointName: name, EndpointConfigName: `${name}-${suffix}` }));
}

async function putArtifact(body: string): Promise<void> {
  await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: ARTIFACT, Body: body }));
  await t.drain();
}

beforeAll(async () => {
  s = await startServingStack({
    answer: (req, _body, res) => {
      const url = req.url ?? '';
      const bedrock = url.startsWith('/foundation-models/')
        ? 'model'
        : url.startsWith('/foundation-model-availability/')
          ? 'available'
          : undefined;
      if (!bedrock) return void res.writeHead(200).end();
      const fixture = providerAnswers.bedrock[bedrock]!;
      res.writeHead(fixture.status, { 'content-type': 'application/json' }).end(JSON.stringify(fixture.body));
    },
    assets: `  - name: artifacts
    kind: model-artifacts
    source: { bucket: it-source, prefix: models/, region: us-east-1 }
    replica: { bucket: it-replica, region: us-west-2, prefix: dr/models/ }
    rpoTargetSeconds: 3600
    rtoTargetSeconds: 14400
    tier: critical
`,
    policy: ({ base }) => `serving:
  parameterPrefix: /it/sagemaker/
  services:
    - name: ranker
      tier: critical
      rtoTargetMinutes: 15
      primary: { id: prod, provider: sagemaker, endpointName: ranker-prod, region: us-east-1 }
      fallbacks:
        - { id: dr, provider: sagemaker, endpointName: ranker-dr, servesArtifact: { asset: artifacts, key: ${ARTIFACT} } }
        - { id: bedrock, provider: bedrock, model: anthropic.claude-3-5-haiku-20241022-v1:0 }
        - { id: gateway, provider: http, url: "${base}/health" }
`,
  });
  t = s.t;
  policyPath = s.policyPath;
  process.env.AWS_ENDPOINT_URL_BEDROCK = s.base;
  deps = createServing(parseServingConfig(process.env), () => new Date(start + round * 60_000))!;
}, 240_000);

afterAll(async () => {
  delete process.env.AWS_ENDPOINT_URL_BEDROCK;
  await s?.stop();
});

async function next(): Promise<ServiceRound> {
  round++;
  const [ranker] = await probeServing(deps);
  return ranker!;
}
const pages = async () => (await onCallPages(t)).map((p) => [p['detail-type'], p.detail.asset, p.detail.reason, p.detail.description]);

describe('SageMaker and Bedrock endpoints in probe-serving', () => {
  it('an endpoint in service that serves the current verified replica of its artifact is ready', async () => {
    await putArtifact('ranker weights v1');
    await deploy('us-east-1', 'ranker-prod', `s3://it-source/${ARTIFACT}`);
    await deploy('us-west-2', 'ranker-dr', REPLICA_URI);
    const first = await next();
    expect(first.results).toMatchObject({
      prod: { class: 'healthy' },
      dr: { class: 'healthy' },
      bedrock: { class: 'healthy' },
      gateway: { class: 'healthy' },
    });
    expect(first.readiness).toEqual({ primaryUp: true, readyFallbacks: ['dr', 'bedrock', 'gateway'], notReady: [] });
    expect(await pages()).toEqual([]);
  });

  it('a DR endpoint left serving last week’s artifact is stale: paged (dr-endpoint-stale) although another fallback is ready; redeployed, it recovers', async () => {
    await putArtifact('ranker weights v2');
    const [v1, v2] = (await t.ledger.entriesFor('artifacts', ARTIFACT)).sort((a, b) => (a.replicatedAt! < b.replicatedAt! ? -1 : 1));
    const stale = await next();
    expect(stale.results.dr).toMatchObject({ class: 'stale-artifact' });
    const deployedAt = (await clients['us-west-2'].send(new DescribeEndpointCommand({ EndpointName: 'ranker-dr' }))).LastModifiedTime!;
    expect(stale.results.dr!.detail).toBe(
      `it was deployed at ${deployedAt.toISOString()} and serves the replica version of ${v1!.replicatedAt} ` +
        `(SHA-256 ${v1!.sha256!.slice(0, 12)}…), not the current verified replica of artifacts/${ARTIFACT} ` +
        `(SHA-256 ${v2!.sha256!.slice(0, 12)}…, replicated at ${v2!.replicatedAt})`,
    );
    expect(stale.readiness).toMatchObject({ primaryUp: true, readyFallbacks: ['bedrock', 'gateway'] });
    expect(stale.active).toBe('prod');
    const missed = await pages();
    expect(missed.map((p) => p.slice(0, 3))).toEqual([['DR Target Missed', 'ranker', 'dr-endpoint-stale']]);
    expect(missed[0]![3]).toMatch(/^dr serves a stale artifact; active: prod; dr: stale-artifact \(it was deployed at /);
    await next();
    expect(await pages()).toEqual([]); // once per incident

    // The pipeline redeploys the DR endpoint from the replica: it takes the current version, and recovers.
    await deploy('us-west-2', 'ranker-dr', REPLICA_URI);
    const fresh = await next();
    expect(fresh.results.dr).toMatchObject({ class: 'healthy' });
    expect((await pages()).map((p) => p.slice(0, 3))).toEqual([['DR Target Recovered', 'ranker', 'back-under-target']]);
  });

  it('an endpoint serving other model data than the replica, one that does not exist, and an artifact never replicated are each said so', async () => {
    const policy = loadPolicyFile(policyPath);
    const probeDeps = { endpoints: new SdkSageMakerEndpoints((region) => clients[region as keyof typeof clients]), ledger: t.ledger };
    const dr = policy.serving!.services[0]!.fallbacks[0]!;
    await deploy('us-west-2', 'ranker-elsewhere', `s3://it-source/${ARTIFACT}`);
    expect(await probeSageMaker(sageMakerTargetOf(policy, { ...dr, endpointName: 'ranker-elsewhere' }), probeDeps)).toMatchObject({
      class: 'stale-artifact',
      detail: `its model data is s3://it-source/${ARTIFACT}, not ${REPLICA_URI} (the replica of artifacts/${ARTIFACT})`,
    });
    expect(await probeSageMaker(sageMakerTargetOf(policy, { ...dr, endpointName: 'ranker-gone' }), probeDeps)).toMatchObject({
      class: 'model-not-found',
      detail: expect.stringMatching(/^ValidationException: Could not find endpoint .*ranker-gone/),
    });
    const unreplicated = { ...dr, servesArtifact: { asset: 'artifacts', key: 'models/ranker/never.tar.gz' } };
    await deploy('us-west-2', 'ranker-never', 's3://it-replica/dr/models/ranker/never.tar.gz');
    expect(await probeSageMaker(sageMakerTargetOf(policy, { ...unreplicated, endpointName: 'ranker-never' }), probeDeps)).toMatchObject({
      class: 'stale-artifact',
      detail: 'the ledger has no verified replica of artifacts/models/ranker/never.tar.gz',
    });
  });
});
