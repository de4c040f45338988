import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { CopyObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { S3VectorsClient } from '@aws-sdk/client-s3vectors';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, parseClientEnv } from '../../functions/shared/config.js';
import { FUNCTIONS, sourceFiles } from '../support/source-files.js';

const filesMatching = (pattern: RegExp) =>
  sourceFiles(FUNCTIONS)
    .filter((file) => pattern.test(readFileSync(file, 'utf8')))
    .map((file) => relative(FUNCTIONS, file))
    .sort();

afterEach(() => {
  vi.restoreAllMocks();
  vi.resetModules();
});

describe('AWS clients', () => {
  it('are all created in shared/aws-clients.ts', () => {
    expect(filesMatching(/new \w+Client\(/)).toEqual(['shared/aws-clients.ts']);
  });

  it('are each wrapped by the tracer, and created once', async () => {
    vi.resetModules();
    const { tracer } = await import('../../functions/shared/observability.js');
    const captured: unknown[] = [];
    vi.spyOn(tracer, 'captureAWSv3Client').mockImplementation((client) => {
      captured.push(client);
      return client;
    });
    const clients = await import('../../functions/shared/aws-clients.js');
    const { RetryUnlessAmbiguous } = await import('../../functions/shared/retry.js'); // the class the fresh clients module uses

    const made = [
      clients.s3Client('us-west-2', false),
      clients.s3Client('us-west-2', false, { writes: true }),
      clients.remoteS3Client({ region: 'eu-west-1', endpoint: 'http://127.0.0.1:9' }),
      clients.sqsClient(),
      clients.lambdaClient(),
      clients.eventBridgeClient(),
      clients.cloudWatchClient(),
      clients.secretsManagerClient(),
      clients.s3VectorsClient('us-west-2'),
    ];
    clients.dynamoDocumentClient();
    expect(captured.slice(0, made.length)).toEqual(made);
    for (const [client, type] of [
      [made[0], S3Client],
      [made[2], S3Client],
      [made[3], SQSClient],
      [made[4], LambdaClient],
      [made[5], EventBridgeClient],
      [made[6], CloudWatchClient],
      [made[7], SecretsManagerClient],
      [made[8], S3VectorsClient],
      [captured.at(-1), DynamoDBClient],
    ] as const) {
      expect(client).toBeInstanceOf(type);
    }
    // Writes are never repeated after an ambiguous failure; reads retry; SQS talks to the client's endpoint.
    expect(await made[1]!.config.retryStrategy()).toBeInstanceOf(RetryUnlessAmbiguous);
    expect(await made[0]!.config.retryStrategy()).not.toBeInstanceOf(RetryUnlessAmbiguous);
    expect(await made[0]!.config.maxAttempts()).toBe(5);
    expect(await clients.remoteS3Client({ region: 'eu-west-1' }, { writes: true }).config.retryStrategy()).toBeInstanceOf(
      RetryUnlessAmbiguous,
    );
    expect((made[3] as SQSClient).config.useQueueUrlAsEndpoint).toBe(false);
    expect(await (made[4] as LambdaClient).config.maxAttempts()).toBe(3);
    // Created once per container: the same client again, and nothing more wrapped.
    expect(clients.s3Client('us-west-2', false)).toBe(made[0]);
    expect(clients.lambdaClient()).toBe(made[4]);
    clients.dynamoDocumentClient();
    expect(captured).toHaveLength(made.length + 2); // the remote write client above is one more
  });
});

describe('the environment', () => {
  it('is read only by shared/config.ts and by handlers, which hand it to config', () => {
    const readers = filesMatching(/process\.env\b/);
    expect(readers.filter((file) => file.includes('/') && file !== 'shared/config.ts')).toEqual([]);
  });

  it('of the clients is parsed with the variable named when it is wrong', () => {
    expect(parseClientEnv({})).toEqual({ s3RequestTimeoutMs: 120_000, expectedBucketOwners: {} });
    expect(parseClientEnv({ DR_S3_REQUEST_TIMEOUT_MS: '900000', AWS_ENDPOINT_URL: 'http://127.0.0.1:5000' })).toEqual({
      s3RequestTimeoutMs: 900_000,
      s3Endpoint: 'http://127.0.0.1:5000',
      expectedBucketOwners: {},
    });
    expect(parseClientEnv({ DR_EXPECTED_BUCKET_OWNERS: '{"vault-replica":"111122223333"}' }).expectedBucketOwners).toEqual({
      'vault-replica': '111122223333',
    });
    expect(() => parseClientEnv({ DR_EXPECTED_BUCKET_OWNERS: '{vault' })).toThrow(
      /^invalid environment: DR_EXPECTED_BUCKET_OWNERS: must be a JSON object/,
    );
    expect(() => parseClientEnv({ DR_EXPECTED_BUCKET_OWNERS: '{"vault-replica":"1111"}' })).toThrow(
      /^invalid environment: DR_EXPECTED_BUCKET_OWNERS\.vault-replica: must be a 12-digit AWS account id/,
    );
    expect(parseClientEnv({ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1', AWS_ENDPOINT_URL: 'http://127.0.0.1:2' }).s3Endpoint).toBe(
      'http://127.0.0.1:1',
    );
    expect(() => parseClientEnv({ DR_S3_REQUEST_TIMEOUT_MS: 'two minutes' })).toThrow(ConfigError);
    expect(() => parseClientEnv({ DR_S3_REQUEST_TIMEOUT_MS: 'two minutes' })).toThrow(/^invalid environment: DR_S3_REQUEST_TIMEOUT_MS: /);
  });
});

describe('the bucket owner condition (vault accounts)', () => {
  /** An S3 client whose requests are answered here, recording each request's headers. */
  const recording = () => {
    const headers: Record<string, string>[] = [];
    const s3 = new S3Client({
      region: 'us-west-2',
      credentials: { accessKeyId: 'unit', secretAccessKey: 'unit' },
      requestHandler: {
        handle: async (request: { headers: Record<string, string> }) => {
          headers.push(request.headers);
          // A copy's answer (S3 sends a 200 with an error inside, so an empty one is refused); HEAD ignores it.
          return {
            response: { statusCode: 200, headers: {}, body: Readable.from([Buffer.from('<CopyObjectResult></CopyObjectResult>')]) },
          };
        },
      },
    });
    return { s3, headers };
  };
  const owners = { 'vault-replica': '111122223333' };

  it('names the vault’s account on every request to its bucket, and on copies from it, and nowhere else', async () => {
    const { s3, headers } = recording();
    const { expectBucketOwners } = await import('../../functions/shared/aws-clients.js');
    expectBucketOwners(s3, owners);
    await s3.send(new HeadObjectCommand({ Bucket: 'vault-replica', Key: 'k' }));
    await s3.send(new CopyObjectCommand({ Bucket: 'vault-replica', Key: 'k', CopySource: 'prod-data/k?versionId=v1' }));
    await s3.send(new CopyObjectCommand({ Bucket: 'restore-target', Key: 'k', CopySource: '/vault-replica/k%20x?versionId=v2' }));
    await s3.send(new HeadObjectCommand({ Bucket: 'prod-data', Key: 'k' }));
    const owner = (h: Record<string, string>) => [h['x-amz-expected-bucket-owner'], h['x-amz-source-expected-bucket-owner']];
    expect(headers.map(owner)).toEqual([
      ['111122223333', undefined],
      ['111122223333', undefined],
      [undefined, '111122223333'],
      [undefined, undefined],
    ]);
  });

  it('leaves a client without vault buckets as it was, and an owner a request names as named', async () => {
    const { s3, headers } = recording();
    const { expectBucketOwners } = await import('../../functions/shared/aws-clients.js');
    const before = s3.middlewareStack.identify().length;
    expectBucketOwners(s3, {});
    expect(s3.middlewareStack.identify().length).toBe(before);
    expectBucketOwners(s3, owners);
    await s3.send(new HeadObjectCommand({ Bucket: 'vault-replica', Key: 'k', ExpectedBucketOwner: '444455556666' }));
    expect(headers[0]!['x-amz-expected-bucket-owner']).toBe('444455556666');
  });
});
