import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';

/**
 * Dataset version requests dropped by training pipelines (docs/lineage.md#request-files): a small
 * JSON file `{"dataset": {"asset", "prefix"?, "asOf"?, "name"?}}` under the policy's
 * `lineage.requests` prefix; its S3 "Object Created" event invokes the lineage function, which
 * builds the dataset version and writes what happened beside the request, as
 * `<request without .json>.result.json` (the dataset version, or the error): the pipeline reads
 * that file for the id and digest to cite. A result file's own event is ignored.
 */
export const RESULT_SUFFIX = '.result.json';
/** A request file is small: more than this is refused unread. */
export const MAX_REQUEST_BYTES = 64 * 1024;

export const resultKeyOf = (key: string) => `${key.replace(/\.json$/, '')}${RESULT_SUFFIX}`;

const objectCreated = z.object({
  source: z.literal('aws.s3'),
  'detail-type': z.literal('Object Created'),
  detail: z.object({ bucket: z.object({ name: z.string() }), object: z.object({ key: z.string(), size: z.number().optional() }) }),
});

/** The request file an S3 event (through EventBridge) names, if the event is one. */
export function requestFileOf(event: unknown): { bucket: string; key: string; size?: number } | undefined {
  const parsed = objectCreated.safeParse(event);
  if (!parsed.success) return undefined;
  const { bucket, object } = parsed.data.detail;
  return { bucket: bucket.name, key: object.key, ...(object.size !== undefined && { size: object.size }) };
}

export interface RequestFiles {
  /** The file's bytes; an error naming the limit when it holds more than `maxBytes`. */
  read(bucket: string, key: string, maxBytes: number): Promise<Buffer>;
  write(bucket: string, key: string, json: unknown): Promise<void>;
}

export class RequestFileTooLargeError extends Error {
  override readonly name = 'RequestFileTooLargeError';
}

export class S3RequestFiles implements RequestFiles {
  constructor(private readonly s3: S3Client) {}

  async read(bucket: string, key: string, maxBytes: number): Promise<Buffer> {
    const object = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    if ((object.ContentLength ?? 0) > maxBytes) {
      object.Body?.transformToWebStream()
        .cancel()
        .catch(() => undefined);
      throw new RequestFileTooLargeError(`the request file is ${object.ContentLength} bytes; a request holds at most ${maxBytes}`);
    }
    return Buffer.from(await object.Body!.transformToByteArray());
  }

  async write(bucket: string, key: string, json: unknown): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: `${JSON.stringify(json, null, 2)}\n`, ContentType: 'application/json' }),
    );
  }
}
