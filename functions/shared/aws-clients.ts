import { BedrockClient } from '@aws-sdk/client-bedrock';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { S3ControlClient } from '@aws-sdk/client-s3-control';
import { S3VectorsClient } from '@aws-sdk/client-s3vectors';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { clientEnv } from './config.js';
import { tracer } from './observability.js';
import { RetryUnlessAmbiguous } from './retry.js';

/**
 * Every AWS client of the service, created once per container and reused by every invocation, and
 * wrapped by the tracer so that X-Ray shows each SDK call as a subsegment. Endpoints come from the
 * SDK's own environment variables (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, ...), so the same code
 * talks to the local AWS in tests and to AWS in production. DR_S3_FORCE_PATH_STYLE=true is for
 * local endpoints that cannot serve virtual-hosted bucket names.
 */
const once = <T>(create: () => T) => {
  let client: T | undefined;
  return () => (client ??= create());
};

const perKey = <T>(create: (key: string) => T) => {
  const clients = new Map<string, T>();
  return (key: string) => {
    let client = clients.get(key);
    if (!client) clients.set(key, (client = create(key)));
    return client;
  };
};

/** S3 request options: a request that hangs fails after DR_S3_REQUEST_TIMEOUT_MS (default 120 s). */
function s3Options({ writes }: { writes: boolean }): Pick<S3ClientConfig, 'requestHandler' | 'retryStrategy' | 'maxAttempts'> {
  const requestTimeout = clientEnv().s3RequestTimeoutMs;
  return {
    requestHandler: { requestTimeout, throwOnRequestTimeout: true, connectionTimeout: Math.min(requestTimeout, 10_000) },
    ...(writes ? { retryStrategy: new RetryUnlessAmbiguous(5) } : { maxAttempts: 5 }),
  };
}

/** What the owner condition reads and sets on a request's input. */
type OwnedInput = { Bucket?: string; CopySource?: string; ExpectedBucketOwner?: string; ExpectedSourceBucketOwner?: string };

/** The bucket of a CopySource (`bucket/key?versionId=…`, URL-encoded, with or without a leading slash). */
const copySourceBucket = (source: string) => decodeURIComponent(source.replace(/^\//, '').split('/')[0]!);

/**
 * S3's bucket owner condition on every request to a bucket of `owners` (a vault account's): the
 * request names the account that must own the bucket (`ExpectedBucketOwner`) and, for a copy from
 * one, the source's (`ExpectedSourceBucketOwner`); S3 refuses it with 403 if another account owns
 * it (a bucket deleted and re-created elsewhere under the same name), so nothing is written to or
 * read from a bucket that is no longer the vault's. Requests that name an owner keep theirs.
 */
export function expectBucketOwners<C extends S3Client>(client: C, owners: Record<string, string>): C {
  if (Object.keys(owners).length === 0) return client;
  client.middlewareStack.add(
    (next) => (args) => {
      const input = args.input as OwnedInput;
      const owner = input.Bucket ? owners[input.Bucket] : undefined;
      const sourceOwner = input.CopySource ? owners[copySourceBucket(input.CopySource)] : undefined;
      if (!owner && !sourceOwner) return next(args);
      const owned: OwnedInput = {
        ...input,
        ...(owner && !input.ExpectedBucketOwner && { ExpectedBucketOwner: owner }),
        ...(sourceOwner && !input.ExpectedSourceBucketOwner && { ExpectedSourceBucketOwner: sourceOwner }),
      };
      return next({ ...args, input: owned as typeof args.input });
    },
    { step: 'initialize', name: 'expectedBucketOwner' },
  );
  return client;
}

const regionalS3 = perKey((id) => {
  const [region, forcePathStyle, writes] = id.split(':');
  const client = new S3Client({ region, forcePathStyle: forcePathStyle === 'true', ...s3Options({ writes: writes === 'true' }) });
  return tracer.captureAWSv3Client(expectBucketOwners(client, clientEnv().expectedBucketOwners));
});

/**
 * The stack's S3 client for a region. `writes: true` for writes that must not be repeated after an
 * ambiguous failure (see RetryUnlessAmbiguous); S3 keeps a long CopyObject alive by sending
 * whitespace, so the timeout bounds only a request that hangs.
 */
export function s3Client(region: string, forcePathStyle: boolean, { writes = false } = {}): S3Client {
  return regionalS3(`${region}:${forcePathStyle}:${writes}`);
}

/** Where a source lives when it is not the stack's own S3: another endpoint, or other credentials. */
export type RemoteS3Options = Pick<S3ClientConfig, 'region' | 'endpoint' | 'forcePathStyle' | 'credentials'>;

/** A client for a source on another S3-compatible endpoint or account; the caller keeps one per source. */
export function remoteS3Client(options: RemoteS3Options, { writes = false } = {}): S3Client {
  return tracer.captureAWSv3Client(
    expectBucketOwners(new S3Client({ ...options, ...s3Options({ writes }) }), clientEnv().expectedBucketOwners),
  );
}

export const dynamoDocumentClient = once(() =>
  DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({ maxAttempts: 5 })), {
    marshallOptions: { removeUndefinedValues: true },
  }),
);

/**
 * The SQS client. Requests go to the client's endpoint (AWS_ENDPOINT_URL locally, the region's in
 * AWS), not to the host inside a queue URL: a URL recorded elsewhere (a stack output) may name the
 * public endpoint while the code talks to another one.
 */
export const sqsClient = once(() => tracer.captureAWSv3Client(new SQSClient({ maxAttempts: 5, useQueueUrlAsEndpoint: false })));

/** Lambda, for a function's continuation of itself (its role may invoke only itself). */
export const lambdaClient = once(() => tracer.captureAWSv3Client(new LambdaClient({ maxAttempts: 3 })));

export const eventBridgeClient = once(() => tracer.captureAWSv3Client(new EventBridgeClient({ maxAttempts: 5 })));

export const cloudWatchClient = once(() => tracer.captureAWSv3Client(new CloudWatchClient({ maxAttempts: 5 })));

export const secretsManagerClient = once(() => tracer.captureAWSv3Client(new SecretsManagerClient({ maxAttempts: 5 })));

/** SSM Parameter Store: where probe-serving writes each model service's active endpoint (docs/serving.md#switch). */
export const ssmClient = once(() => tracer.captureAWSv3Client(new SSMClient({ maxAttempts: 5 })));

/** S3 Control in a region: S3 Batch Operations jobs (large restores, docs/restore.md#batch-operations). */
export const s3ControlClient = perKey((region) => tracer.captureAWSv3Client(new S3ControlClient({ region, maxAttempts: 5 })));

/** Amazon S3 Vectors in a region (a vector-index asset's engine). */
export const s3VectorsClient = perKey((region) => tracer.captureAWSv3Client(new S3VectorsClient({ region, maxAttempts: 5 })));

/** SageMaker's control plane in a region (probe-serving describes endpoints; one attempt: a probe reports, it does not wait). */
export const sageMakerClient = perKey((region) => tracer.captureAWSv3Client(new SageMakerClient({ region, maxAttempts: 1 })));

/** Bedrock's control plane in a region (probe-serving looks models up; one attempt, as SageMaker's). */
export const bedrockClient = perKey((region) => tracer.captureAWSv3Client(new BedrockClient({ region, maxAttempts: 1 })));
