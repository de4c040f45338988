import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { Readable } from 'node:stream';

/**
 * The mocked S3 calls of a multipart copy of an object holding `bytes`: the object has no tags, the
 * upload created is u1, each GetObject returns the bytes its Range asks for (all of them without
 * one), and an abort succeeds. The part copies and the completion are each test's own.
 */
export function mockMultipartCopyOf(s3: AwsClientStub<S3Client>, bytes: Buffer): void {
  s3.on(GetObjectTaggingCommand).resolves({ TagSet: [] });
  s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u1' });
  s3.on(GetObjectCommand).callsFake((input: { Range?: string }) => {
    const [start, end] = (input.Range ?? `bytes=0-${bytes.length - 1}`).replace('bytes=', '').split('-').map(Number);
    return { Body: Readable.from([bytes.subarray(start, end! + 1)]) as never };
  });
  s3.on(AbortMultipartUploadCommand).resolves({});
}
