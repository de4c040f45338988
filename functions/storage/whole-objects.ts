import { GetObjectCommand, NoSuchKey, PutObjectCommand, type PutObjectCommandInput, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';

/**
 * Small files the service writes whole (snapshot chunks and manifests, dataset manifests, restore
 * job files): one way of writing and reading them.
 */

/** The header SigV4 signs as the payload's hash (hex SHA-256); AWS refuses a body that does not match it. */
const PAYLOAD_SHA256_HEADER = 'x-amz-content-sha256';

/**
 * Writes `body` with its SHA-256 (hex, computed when not given): S3 refuses a body that does not
 * match and keeps the checksum. The algorithm is named too (x-amz-sdk-checksum-algorithm): S3
 * requires it, or Content-MD5, on writes into a bucket with Object Lock. The same SHA-256 is the
 * signature's payload hash (x-amz-content-sha256, which SigV4 takes as given when the request
 * carries it), so the body is hashed once, not again by the SDK's signer (about 0.17 s of CPU per
 * 300 MB of snapshot chunks, docs/benchmarks.md).
 */
export async function putWhole(
  s3: S3Client,
  input: { bucket: string; key: string; body: Buffer; contentType: string; sha256?: string } & Pick<
    PutObjectCommandInput,
    'Metadata' | 'ObjectLockMode' | 'ObjectLockRetainUntilDate'
  >,
): Promise<{ etag: string; versionId?: string }> {
  const { bucket, key, body, contentType, sha256 = createHash('sha256').update(body).digest('hex'), ...rest } = input;
  const command = new PutObjectCommand({
    Bucket: bucket,
    Key: key,
    Body: body,
    ContentType: contentType,
    ChecksumAlgorithm: 'SHA256',
    ChecksumSHA256: Buffer.from(sha256, 'hex').toString('base64'),
    ...rest,
  });
  command.middlewareStack.add(
    (next) => (args) => {
      (args.request as { headers: Record<string, string> }).headers[PAYLOAD_SHA256_HEADER] = sha256;
      return next(args);
    },
    { step: 'build', name: 'knownPayloadSha256' },
  );
  const { ETag, VersionId } = await s3.send(command);
  return { etag: (ETag ?? '').replaceAll('"', ''), ...(VersionId && { versionId: VersionId }) };
}

/** The whole object (or one version of it), or undefined when there is no such key. */
export async function getWhole(s3: S3Client, bucket: string, key: string, versionId?: string): Promise<Buffer | undefined> {
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(versionId && { VersionId: versionId }) }));
    const bytes = await object.Body!.transformToByteArray();
    // A view of the bytes: Buffer.from(Uint8Array) would allocate a zeroed buffer and copy them into it.
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (error) {
    if (error instanceof NoSuchKey) return undefined;
    throw error;
  }
}
