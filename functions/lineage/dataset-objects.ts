import { PutObjectLegalHoldCommand, type S3Client } from '@aws-sdk/client-s3';
import { getWhole, putWhole } from '../storage/whole-objects.js';
import type { ObjectHolds } from './legal-holds.js';

/** Where a dataset version's files live: the asset's replica bucket (docs/lineage.md). */
export interface DatasetObjects {
  readonly bucket: string;
  /** Stores `body` (S3 refuses it unless it matches `sha256`, hex, and keeps that checksum); returns the new version's id. */
  put(key: string, body: Buffer, sha256: string, contentType: string): Promise<string>;
  /** One version of a file. */
  get(key: string, versionId: string): Promise<Buffer>;
}

export class S3DatasetObjects implements DatasetObjects {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
  ) {}

  async put(key: string, body: Buffer, sha256: string, contentType: string): Promise<string> {
    const { versionId } = await putWhole(this.s3, { bucket: this.bucket, key, body, contentType, sha256 });
    if (!versionId || versionId === 'null')
      throw new Error(`${this.bucket}/${key}: written without a version id (bucket versioning is off?)`);
    return versionId;
  }

  async get(key: string, versionId: string): Promise<Buffer> {
    const body = await getWhole(this.s3, this.bucket, key, versionId);
    if (!body) throw new Error(`${this.bucket}/${key} version ${versionId} does not exist`);
    return body;
  }
}

/** Legal holds on versions of a replica bucket (S3 Object Lock). */
export class S3ObjectHolds implements ObjectHolds {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
  ) {}

  async set(key: string, versionId: string, on: boolean): Promise<void> {
    await this.s3.send(
      new PutObjectLegalHoldCommand({ Bucket: this.bucket, Key: key, VersionId: versionId, LegalHold: { Status: on ? 'ON' : 'OFF' } }),
    );
  }
}
