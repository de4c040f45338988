import { CreateBucketCommand, ListObjectVersionsCommand, S3Client, type S3ServiceException } from '@aws-sdk/client-s3';
import { createHash, createHmac, randomBytes, type BinaryLike } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getWhole, putWhole } from '../../functions/storage/whole-objects.js';
import { type LocalAws, startLocalAws } from '../../scripts/local-aws/server.js';

/**
 * Files written whole (snapshot chunks, manifests) on the local AWS: hashed once, by the caller, for
 * S3's checksum and the signature's payload hash both; read back as they were written.
 */
let aws: LocalAws;
/** Bytes the client's SHA-256 (its signer and checksums) hashed: the body's 1 MiB if it hashed the body. */
let hashed = 0;

class CountingSha256 {
  private hash;
  private readonly secret?: BinaryLike;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.secret =
      secret === undefined || typeof secret === 'string'
        ? secret
        : secret instanceof ArrayBuffer
          ? new Uint8Array(secret)
          : new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength);
    this.hash = this.secret === undefined ? createHash('sha256') : createHmac('sha256', this.secret);
  }
  update(data: Uint8Array) {
    hashed += data.byteLength;
    this.hash.update(data);
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
  reset() {
    this.hash = this.secret === undefined ? createHash('sha256') : createHmac('sha256', this.secret);
  }
}

let s3: S3Client;
const BUCKET = 'whole-objects';

beforeAll(async () => {
  aws = await startLocalAws();
  s3 = new S3Client({
    region: 'us-east-1',
    endpoint: aws.env.AWS_ENDPOINT_URL,
    credentials: { accessKeyId: aws.env.AWS_ACCESS_KEY_ID!, secretAccessKey: aws.env.AWS_SECRET_ACCESS_KEY! },
    forcePathStyle: true,
    sha256: CountingSha256,
  });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
});

afterAll(async () => {
  await aws?.stop();
});

describe('putWhole and getWhole', () => {
  it('hash the body once: the SHA-256 given is S3’s checksum and the signature’s payload hash, and the SDK hashes no byte of the body', async () => {
    const body = randomBytes(1024 ** 2);
    const sha256 = createHash('sha256').update(body).digest('hex');
    hashed = 0;
    await putWhole(s3, { bucket: BUCKET, key: 'given', body, contentType: 'application/octet-stream', sha256 });
    // The signer hashes its canonical request and string to sign (a few hundred bytes), not the MiB.
    expect(hashed).toBeGreaterThan(0);
    expect(hashed).toBeLessThan(4096);

    hashed = 0;
    await putWhole(s3, { bucket: BUCKET, key: 'computed', body, contentType: 'application/octet-stream' });
    expect(hashed).toBeLessThan(4096);

    for (const key of ['given', 'computed']) expect((await getWhole(s3, BUCKET, key))!.equals(body)).toBe(true);
    expect(await getWhole(s3, BUCKET, 'never-written')).toBeUndefined();
  });

  it('refuse a body that does not match the SHA-256 given, storing nothing', async () => {
    const body = Buffer.from('the chunk');
    const wrong = createHash('sha256').update('another chunk').digest('hex');
    const refused = await putWhole(s3, { bucket: BUCKET, key: 'wrong', body, contentType: 'text/plain', sha256: wrong }).then(
      () => undefined,
      (error: S3ServiceException) => ({ name: error.name, status: error.$metadata.httpStatusCode }),
    );
    // Both the payload hash and the checksum are wrong; the local AWS checks the payload hash first.
    expect(refused).toEqual({ name: 'XAmzContentSHA256Mismatch', status: 400 });
    const { Versions = [] } = await s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: 'wrong' }));
    expect(Versions).toEqual([]);
  });
});
