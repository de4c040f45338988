import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';

/** S3 refused to delete some versions under a prefix (Object Lock, a legal hold, a policy); `removed` were deleted. */
export class PrefixNotDestroyedError extends Error {
  override readonly name = 'PrefixNotDestroyedError';
  constructor(
    message: string,
    readonly removed: number,
  ) {
    super(message);
  }
}

/** Every page of the versions and delete markers under `prefix` (ListObjectVersions, followed to its end). */
export async function* versionPages(
  s3: S3Client,
  bucket: string,
  prefix: string,
  maxKeys?: number,
): AsyncIterable<ListObjectVersionsCommandOutput> {
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectVersionsCommand({
        Bucket: bucket,
        Prefix: prefix,
        KeyMarker: keyMarker,
        VersionIdMarker: versionIdMarker,
        ...(maxKeys !== undefined && { MaxKeys: maxKeys }),
      }),
    );
    yield page;
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    versionIdMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
  } while (keyMarker !== undefined);
}

/**
 * Removes every version and delete marker under `prefix`. Only for areas this service owns and
 * must clean up (expired snapshots, restore-test scratch copies); never for replicated data, and the
 * IAM roles allow it only there.
 */
export async function destroyAllVersions(s3: S3Client, bucket: string, prefix: string): Promise<number> {
  return (await destroyVersionsWhile(s3, bucket, prefix, () => true)).removed;
}

/**
 * destroyAllVersions a page at a time (up to `maxKeys` versions, one DeleteObjects each) while
 * `more()` says there is time: `done` when nothing is left. Each call starts from the first key left,
 * so a prefix too large for one invocation is removed by calling again.
 */
export async function destroyVersionsWhile(
  s3: S3Client,
  bucket: string,
  prefix: string,
  more: () => boolean,
  maxKeys?: number,
): Promise<{ removed: number; done: boolean }> {
  let removed = 0;
  for await (const page of versionPages(s3, bucket, prefix, maxKeys)) {
    const objects = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((v) => ({ Key: v.Key!, VersionId: v.VersionId }));
    if (objects.length > 0) {
      const result = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, Quiet: true } }));
      if (result.Errors?.length) {
        const first = result.Errors[0]!;
        throw new PrefixNotDestroyedError(
          `deleting ${prefix}: S3 refused ${result.Errors.length} of ${objects.length} versions, first ${first.Key}: ${first.Code} ${first.Message}`,
          removed + objects.length - result.Errors.length,
        );
      }
      removed += objects.length;
    }
    if (page.IsTruncated && !more()) return { removed, done: false };
  }
  return { removed, done: true };
}

/** Aborts every incomplete multipart upload under `prefix` (what a copy killed halfway leaves); returns how many. */
export async function abortUploads(s3: S3Client, bucket: string, prefix: string): Promise<number> {
  let aborted = 0;
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  do {
    const page = await s3.send(
      new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
    );
    for (const upload of page.Uploads ?? []) {
      await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key!, UploadId: upload.UploadId! }));
      aborted++;
    }
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
  } while (keyMarker !== undefined);
  return aborted;
}
