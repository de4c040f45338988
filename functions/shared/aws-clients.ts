import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { RetryUnlessAmbiguous } from './retry.js';

/**
 * AWS clients, created once per container and reused by every invocation. Endpoints come from the
 * SDK's own environment variables (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, ...), so the same code
 * talks to the local AWS in tests and to AWS in production. DR_S3_FORCE_PATH_STYLE=true is for
 * local endpoints that cannot serve virtual-hosted bucket names.
 */
const s3Clients = new Map<string, S3Client>();

/**
 * `writes: true` for writes that must not be repeated after an ambiguous failure (see
 * RetryUnlessAmbiguous). DR_S3_REQUEST_TIMEOUT_MS bounds a request that hangs (default 120 s;
 * S3 keeps a long CopyObject alive by sending whitespace).
 */
export function s3Client(region: string, forcePathStyle: boolean, { writes = false } = {}): S3Client {
  const id = `${region}:${forcePathStyle}:${writes}`;
  let client = s3Clients.get(id);
  if (!client) {
    const requestTimeout = requestTimeoutMs();
    client = new S3Client({
      region,
      forcePathStyle,
      requestHandler: { requestTimeout, throwOnRequestTimeout: true, connectionTimeout: Math.min(requestTimeout, 10_000) },
      ...(writes ? { retryStrategy: new RetryUnlessAmbiguous(5) } : { maxAttempts: 5 }),
    });
    s3Clients.set(id, client);
  }
  return client;
}

/** DR_S3_REQUEST_TIMEOUT_MS: how long an S3 request may hang before it fails (default 120 s). */
export function requestTimeoutMs(): number {
  return Number(process.env.DR_S3_REQUEST_TIMEOUT_MS ?? 120_000);
}

let documentClient: DynamoDBDocumentClient | undefined;

export function dynamoDocumentClient(): DynamoDBDocumentClient {
  documentClient ??= DynamoDBDocumentClient.from(new DynamoDBClient({ maxAttempts: 5 }), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return documentClient;
}

let sqs: SQSClient | undefined;

/**
 * The SQS client. Requests go to the client's endpoint (AWS_ENDPOINT_URL locally, the region's in
 * AWS), not to the host inside a queue URL: a URL recorded elsewhere (a stack output) may name the
 * public endpoint while the code talks to another one.
 */
export function sqsClient(): SQSClient {
  sqs ??= new SQSClient({ maxAttempts: 5, useQueueUrlAsEndpoint: false });
  return sqs;
}
