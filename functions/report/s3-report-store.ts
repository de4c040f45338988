import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ReportStore } from './write-report.js';

/**
 * The report's files in its bucket (report.bucket and report.prefix of the policy); private, like
 * the bucket. Always SSE-S3, even where the bucket's default is the stack's KMS key (deployment.kmsKey):
 * the report is for people, who read it with s3:GetObject alone; the key is kept to the stack's
 * roles (docs/encryption.md), and the report holds no object data.
 */
export class S3ReportStore implements ReportStore {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
  ) {}

  async put(key: string, body: string, contentType: string): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentType: contentType,
        CacheControl: 'no-cache',
        ServerSideEncryption: 'AES256',
      }),
    );
  }
}
