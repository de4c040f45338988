import { GetObjectCommand, NoSuchKey, PutObjectCommand, type PutObjectCommandInput, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';

/**
 * Small files the service writes whole (snapshot chunks and manifests, dataset manifests, restore
 * job files): one way of writing and reading them.
 */

/**
 * Writes `body` with its SHA-256 (hex, computed when not given): S3 refuses a body that does not
 * match and keeps the checksum. The algorithm is named too (x-amz-sdk-checksum-algorithm): S3
 * requires it, or Content-MD5, on writes into a bucket with Object Lock.
 */
export async function putWhole(
  s3: S3Client,
  input: { bucket: string; key: string; body: Buffer; contentType: string; sha256?: string } & Pick<
    PutObjectCommandInput,
    'Metadata' | 'ObjectLockMode' | 'ObjectLockRetainUntilDate'
  >,
): Promise<{ etag: string; versionId?: string }> {
  const { bucket, key, body, contentType, sha256, ...rest } = input;
  const { ETag, VersionId } = await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: body,
      ContentType: contentType,
      ChecksumAlgorithm: 'SHA256',
      ChecksumSHA256: sha256 ? Buffer.from(sha256, 'hex').toString('base64') : createHash('sha256').update(body).digest('base64'),
      ...rest,
    }),
  );
  return { etag: (ETag ?? '').replaceAll('"', ''), ...(VersionId && { versionId: VersionId }) };
}

/** The whole object (or one version of it), or undefined when there is no such key. */
export async function getWhole(s3: S3Client, bucket: string, key: string, versionId?: string): Promise<Buffer | undefined> {
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(versionId && { VersionId: versionId }) }));
    return Buffer.from(await object.Body!.transformToByteArray());
  } catch (error) {
    if (error instanceof NoSuchKey) return undefined;
    throw error;
  }
}
