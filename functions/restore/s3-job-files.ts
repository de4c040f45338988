import { GetObjectCommand, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import { getWhole, putWhole } from '../storage/whole-objects.js';
import type { JobFiles } from './batch-restore.js';

/** Restore job files in the replica bucket. */
export class S3JobFiles implements JobFiles {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
  ) {}

  async put(key: string, body: Buffer, contentType: string): Promise<string> {
    return (await putWhole(this.s3, { bucket: this.bucket, key, body, contentType })).etag;
  }

  get(key: string): Promise<Buffer | undefined> {
    return getWhole(this.s3, this.bucket, key);
  }

  async stream(key: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    try {
      return (await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }))).Body as AsyncIterable<Uint8Array>;
    } catch (error) {
      if (error instanceof NoSuchKey) return undefined;
      throw error;
    }
  }
}
