import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../functions/policy/load.js';
import { dynamoDocumentClient } from '../../functions/shared/aws-clients.js';
import { lanceDbStore } from '../../functions/vectors/adapters/lancedb.js';
import { DynamoSnapshotCatalog } from '../../functions/vectors/dynamo-snapshot-catalog.js';
import { S3SnapshotObjects } from '../../functions/vectors/snapshot-objects.js';
import { runScheduledSnapshot } from '../../functions/vectors/snapshot-run.js';
import { openVectorStore } from '../../functions/vectors/open-store.js';
import type { VectorAsset } from '../../functions/policy/schema.js';
import { projectRoot } from '../../scripts/local-aws/venv.js';
import { startPglite, type PgliteServer } from '../../scripts/local-engines/pglite-server.js';
import { sampleRecords } from '../contract/vector-store.contract.js';
import { startStack, type StackUnderTest } from '../support/local-stack.js';
import { stepsOf } from '../support/runbook-steps.js';
import { commandPath } from '../support/cli-tools.js';

/**
 * The incident runbooks (docs/runbooks/) followed as written: every `aws lambda invoke` step of a
 * runbook is run through `osls invoke local` (the packaged handler, the stack's configuration)
 * against the local AWS, with the runbook's payload; its output must match the runbook's
 * "Expected output" (every value the runbook states; `<...>` means "present"). Each scenario is set
 * up for real first (replication through the replicate handler, snapshots through snapshot-vectors),
 * and confirmed afterwards by reading the restored bytes.
 *
 * `osls invoke local` resolves the functions' `!Ref` environment through CloudFormation: a stack of
 * the same name on the local AWS maps those logical ids to the local resources' names (moto cannot
 * deploy the whole template; this gives the CLI just the physical names it asks for).
 */
const WORK_FOLDER = `.esbuild-runbooks-${process.pid}`;
const AWS_CLI = commandPath('aws');
let t: StackUnderTest;
let pglite: PgliteServer;
let dir: string;
let policyFile: string;
let provider: Server;
/** What the serving primary's health URL answers. */
let primaryStatus = 200;

/** Every value the runbook states is in the output; "<...>" only says the field is there. */
function expectMatches(actual: unknown, expected: unknown, path = 'output'): void {
  if (typeof expected === 'string' && /^<.*>$/.test(expected)) {
    expect(actual, path).toBeDefined();
  } else if (Array.isArray(expected)) {
    expect(Array.isArray(actual), `${path} is a list`).toBe(true);
    expected.forEach((item, i) => expectMatches((actual as unknown[])[i], item, `${path}[${i}]`));
  } else if (expected !== null && typeof expected === 'object') {
    expect(actual, path).toBeTypeOf('object');
    for (const [key, value] of Object.entries(expected)) expectMatches((actual as Record<string, unknown>)[key], value, `${path}.${key}`);
  } else {
    expect(actual, path).toEqual(expected);
  }
}

/** `osls invoke local` of the function the runbook names, with the runbook's payload. */
function invokeLocal(functionName: string, payload: string): Promise<Record<string, any>> {
  const fn = {
    'restore-data': 'restoreData',
    'restore-vectors': 'restoreVectors',
    'verify-restore': 'verifyRestore',
    status: 'status',
    'probe-serving': 'probeServing',
  }[functionName.replace(/^ai-data-dr-prod-/, '')];
  if (!fn) throw new Error(`no function ${functionName} in serverless.yml`);
  const env = { ...process.env, DR_POLICY_FILE: policyFile, DR_ESBUILD_WORK_FOLDER: WORK_FOLDER, POWERTOOLS_LOG_LEVEL: 'SILENT' };
  return new Promise((resolve, reject) => {
    const child = spawn(
      join(projectRoot, 'node_modules/.bin/osls'),
      ['invoke', 'local', '-f', fn, '--stage', 'prod', '-d', payload, '-e', 'POWERTOOLS_LOG_LEVEL=SILENT'],
      {
        cwd: projectRoot,
        env,
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const start = stdout.lastIndexOf('\n{\n') >= 0 ? stdout.lastIndexOf('\n{\n') + 1 : stdout.indexOf('{\n');
      try {
        if (code !== 0 || start < 0) throw new Error(`exit ${code}`);
        resolve(JSON.parse(stdout.slice(start)) as Record<string, any>);
      } catch (error) {
        reject(new Error(`osls invoke local -f ${fn} failed (${String(error)}):\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`));
      }
    });
  });
}

/**
 * A shell step of a runbook, run by bash as written, its `aws` commands against the local AWS (a
 * wrapper first on PATH adds `--endpoint-url`: the Debian and pip CLIs differ in the variables they
 * read); its output is one JSON document.
 */
function runShell(name: string, script: string): Promise<Record<string, any>> {
  const bin = join(dir, 'bin');
  if (!existsSync(join(bin, 'aws'))) {
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'aws'), `#!/bin/sh\nexec ${AWS_CLI} --endpoint-url "${t.aws.endpoint}" "$@"\n`, { mode: 0o755 });
  }
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => {
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        resolve(JSON.parse(stdout) as Record<string, any>);
      } catch (error) {
        reject(new Error(`runbook step ${name} failed (${String(error)}):\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`));
      }
    });
  });
}

/** Follows a runbook: each step with its placeholders filled, checked against its expected output. */
async function follow(file: string, values: Record<string, string>): Promise<Record<string, Record<string, any>>> {
  const outputs: Record<string, Record<string, any>> = {};
  for (const step of stepsOf(file)) {
    const payload = (step.kind === 'invoke' ? step.payload : step.script).replace(/<[^>]+>/g, (placeholder) => {
      const value =
        values[placeholder] ??
        (placeholder.startsWith('<planToken')
          ? outputs[
              /^<planToken from the (\S+) step>$/.exec(placeholder)?.[1] ?? (placeholder.includes('vector') ? 'vectors-dry-run' : 'dry-run')
            ]?.planToken
          : undefined);
      if (value === undefined) throw new Error(`${file}: no value for ${placeholder} in step ${step.name}`);
      return value;
    });
    const output = step.kind === 'invoke' ? await invokeLocal(step.functionName, payload) : await runShell(step.name, payload);
    if (step.expected !== undefined) expectMatches(output, step.expected, `${file} ${step.name}`);
    outputs[step.name] = output;
  }
  return outputs;
}

const put = (bucket: string, key: string, body: string | Buffer) =>
  t.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
const read = async (bucket: string, key: string) =>
  await (await t.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
/** The write time of the newest version under a prefix: "just before" what comes next. */
async function lastWrite(bucket: string, prefix: string): Promise<string> {
  const { Versions = [] } = await t.s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix }));
  return new Date(Math.max(...Versions.map((v) => v.LastModified!.getTime()))).toISOString();
}

async function createVersionedBucket(bucket: string, region: string) {
  const s3 = new (await import('@aws-sdk/client-s3')).S3Client({ region, forcePathStyle: true });
  await s3.send(
    new CreateBucketCommand({
      Bucket: bucket,
      ...(region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: region as never } }),
    }),
  );
  await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
}

beforeAll(async () => {
  // osls invoke local bundles into its own work folder (other tests package the service meanwhile)
  // and runs the CommonJS bundles inside this "type": "module" project; in Lambda no package.json
  // is packaged, so they are CommonJS there. Say so for the local run too.
  mkdirSync(join(projectRoot, WORK_FOLDER), { recursive: true });
  writeFileSync(join(projectRoot, WORK_FOLDER, 'package.json'), '{ "type": "commonjs" }\n');
  // The shipped policy, with the vector engines where they run here (PGlite, LanceDB on disk).
  pglite = await startPglite({ maxConnections: 4 });
  dir = mkdtempSync(join(tmpdir(), 'runbooks-'));
  const policy = parse(readFileSync(join(projectRoot, 'dr-policy.yml'), 'utf8'));
  for (const asset of policy.assets) {
    if (asset.source.engine === 'pgvector') {
      asset.source.endpoint = pglite.connectionString;
      delete asset.source.credentialsSecretArn;
    }
    if (asset.source.engine === 'lancedb') asset.source.endpoint = join(dir, 'lancedb');
  }
  // Model serving (model-provider-outage.md): two HTTP endpoints on a local server; the primary's answer is set by the test.
  provider = createServer((req, res) => res.writeHead(req.url?.startsWith('/primary') ? primaryStatus : 200).end());
  await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
  policy.serving = {
    services: [
      {
        name: 'chat',
        tier: 'critical',
        rtoTargetMinutes: 5,
        primary: { id: 'primary', provider: 'http', url: `${base}/primary/health` },
        fallbacks: [{ id: 'gateway', provider: 'http', url: `${base}/gateway/health` }],
      },
    ],
  };
  policyFile = join(dir, 'dr-policy.yml');
  writeFileSync(policyFile, stringify(policy));

  t = await startStack(policyFile);
  await createVersionedBucket('acme-ml-restore', 'us-east-1');
  await createVersionedBucket('acme-ml-dr-workspace', 'us-west-2');
  // What `osls invoke local` looks up for the functions' `!Ref` environment: the local resources'
  // names (SSM parameters stand in for the table and the bus; queues are themselves, by name).
  const cfn = new CloudFormationClient({ region: 'us-west-2' });
  const parameter = (name: string) => ({ Type: 'AWS::SSM::Parameter', Properties: { Name: name, Type: 'String', Value: name } });
  const queue = (url: string) => ({ Type: 'AWS::SQS::Queue', Properties: { QueueName: url.split('/').at(-1) } });
  await cfn.send(
    new CreateStackCommand({
      StackName: 'ai-data-dr-prod',
      TemplateBody: JSON.stringify({
        Resources: {
          LedgerTable: parameter(t.stack.ledgerTable),
          DrEventBus: parameter(t.stack.eventBus),
          RestoreTestScratchBucket: parameter(t.stack.scratchBucket),
          BatchRestoreRole: parameter('ai-data-dr-prod-BatchRestoreRole'),
          ReplicationQueue: queue(t.stack.queueUrl),
          ReplicationDeadLetterQueue: queue(t.stack.deadLetterQueueUrl),
        },
      }),
    }),
  );

  // The product search index: a real pgvector table, snapshotted (verified) before anything happens.
  const client = new pg.Client({ connectionString: pglite.connectionString });
  await client.connect();
  await client.query('CREATE TABLE product_embeddings (id text PRIMARY KEY, embedding vector(768) NOT NULL, metadata jsonb NOT NULL)');
  await client.end();
  const productSearch = t.policy.assets.find((a) => a.name === 'product-search-index') as VectorAsset;
  const store = await openVectorStore(productSearch);
  await store.write('product_embeddings', sampleRecords(40, 768, 3));
  await store.close();
  const snapshot = await runScheduledSnapshot(productSearch, 'assets[3]', {
    catalog: new DynamoSnapshotCatalog(dynamoDocumentClient(), t.stack.ledgerTable),
    objects: new S3SnapshotObjects(t.s3 as never, 'acme-ml-dr-replica'),
    openStore: openVectorStore,
    continuation: { continueLater: async () => {} },
    now: () => new Date(),
    remainingMs: () => 900_000,
    log: () => {},
  });
  expect(snapshot.run.outcome).toBe('verified');
}, 240_000);

afterAll(async () => {
  provider?.closeAllConnections();
  await new Promise((resolve) => (provider ? provider.close(resolve) : resolve(undefined)));
  await t?.stop();
  await pglite?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  rmSync(join(projectRoot, WORK_FOLDER), { recursive: true, force: true });
});

describe('runbooks, followed as written', { timeout: 300_000 }, () => {
  it('region-outage.md: recovery point, a writable copy in the DR region, vector search restored into LanceDB there', async () => {
    await put('acme-ml-prod-data', 'training/part-000.jsonl', '{"x":0}\n');
    await put('acme-ml-prod-data', 'training/part-001.jsonl', '{"x":1}\n');
    await t.drain();

    const outputs = await follow('region-outage.md', {});
    expect(await read('acme-ml-dr-workspace', 'training/part-001.jsonl')).toBe('{"x":1}\n');
    expect(outputs['vectors-run']!.result.fingerprint.actual).toBe(outputs['vectors-run']!.result.fingerprint.expected);
    const lance = lanceDbStore({ uri: join(dir, 'lancedb') });
    expect((await lance.describe('product_embeddings_dr')).count).toBe(40);
    await lance.close();
  });

  it('data-corruption.md: the versions from before the corruption come back byte for byte', async () => {
    const originals = { 'training/shard-a.jsonl': 'good a', 'training/shard-b.jsonl': 'good b', 'training/shard-c.jsonl': 'good c' };
    for (const [key, body] of Object.entries(originals)) await put('acme-ml-prod-data', key, body);
    await t.drain();
    const lastGood = await lastWrite('acme-ml-prod-data', 'training/');
    await put('acme-ml-prod-data', 'training/shard-a.jsonl', 'garbage');
    await put('acme-ml-prod-data', 'training/shard-b.jsonl', 'garbage');
    await t.s3.send(new DeleteObjectCommand({ Bucket: 'acme-ml-prod-data', Key: 'training/shard-c.jsonl' }));
    await put('acme-ml-prod-data', 'training/shard-new.jsonl', 'written by the bad pipeline');
    await t.drain();

    await follow('data-corruption.md', { '<last good time>': lastGood });
    for (const [key, body] of Object.entries(originals)) expect(await read('acme-ml-prod-data', key), key).toBe(body);
  });

  it('model-regression.md: the previous model artifacts are back', async () => {
    await put('acme-ml-prod-models', 'llm/model.safetensors', 'weights v1');
    await put('acme-ml-prod-models', 'llm/config.json', '{"version":1}');
    await t.drain();
    const beforeRelease = await lastWrite('acme-ml-prod-models', 'llm/');
    await put('acme-ml-prod-models', 'llm/model.safetensors', 'weights v2 (bad)');
    await put('acme-ml-prod-models', 'llm/config.json', '{"version":2}');
    await put('acme-ml-prod-models', 'llm/adapter.bin', 'new in v2');
    await t.drain();

    await follow('model-regression.md', { '<time before the release>': beforeRelease });
    expect(await read('acme-ml-prod-models', 'llm/model.safetensors')).toBe('weights v1');
    expect(await read('acme-ml-prod-models', 'llm/config.json')).toBe('{"version":1}');
  });

  it('model-provider-outage.md: the primary down, the service pinned to its fallback, the gateway told, the pin lifted', async () => {
    primaryStatus = 503;
    const outputs = await follow('model-provider-outage.md', {});
    expect(outputs.probe!.services[0].readiness.notReady).toEqual([{ endpoint: 'primary', class: 'overloaded' }]);
    expect(outputs.parameter).toEqual({ active: 'gateway' });
    const state = (
      await dynamoDocumentClient().send(new GetCommand({ TableName: t.stack.ledgerTable, Key: { pk: 'SERVING#chat', sk: 'state' } }))
    ).Item;
    expect(state?.state).toMatchObject({ active: 'gateway' });
    expect(state?.state.pinned).toBeUndefined();
  });

  it('security-breach.md: replica proven intact, clean copies of data and vectors from before the breach', async () => {
    await put('acme-ml-prod-data', 'evals/golden.jsonl', 'golden answers');
    await put('acme-ml-prod-data', 'evals/labels.jsonl', 'labels');
    await t.drain();
    const beforeBreach = new Date(new Date(await lastWrite('acme-ml-prod-data', 'evals/')).getTime() + 1).toISOString();
    await put('acme-ml-prod-data', 'evals/golden.jsonl', 'ENCRYPTED BY RANSOMWARE');
    await put('acme-ml-prod-data', 'evals/labels.jsonl', 'ENCRYPTED BY RANSOMWARE');
    await t.drain();

    await follow('security-breach.md', { '<time before the breach>': beforeBreach });
    expect(await read('acme-ml-restore', 'clean/evals/golden.jsonl')).toBe('golden answers');
    expect(await read('acme-ml-restore', 'clean/evals/labels.jsonl')).toBe('labels');
    const restored = await openVectorStore(t.policy.assets.find((a) => a.name === 'product-search-index') as VectorAsset);
    expect((await restored.describe('product_embeddings_clean')).count).toBe(40);
    await restored.close();
    expect(loadPolicyFile(policyFile).restore.targetBuckets.map((b) => b.bucket)).toContain('acme-ml-restore');
  });
});
