import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * AWS clients, created once per container and reused by every invocation. Endpoints come from the
 * SDK's own environment variables (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, ...), so the same code
 * talks to the local AWS in tests and to AWS in production. DR_S3_FORCE_PATH_STYLE=true is for
 * local endpoints that cannot serve virtual-hosted bucket names.
 */
const s3Clients = new Map<string, S3Client>();

/** `retries: false` for writes that must not be repeated blindly (see S3VersionedStore). */
export function s3Client(region: string, forcePathStyle: boolean, { retries = true } = {}): S3Client {
  const id = `${region}:${forcePathStyle}:${retries}`;
  let client = s3Clients.get(id);
  if (!client) {
    client = new S3Client({ region, forcePathStyle, maxAttempts: retries ? 5 : 1 });
    s3Clients.set(id, client);
  }
  return client;
}

let documentClient: DynamoDBDocumentClient | undefined;

export function dynamoDocumentClient(): DynamoDBDocumentClient {
  documentClient ??= DynamoDBDocumentClient.from(new DynamoDBClient({ maxAttempts: 5 }), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return documentClient;
}
