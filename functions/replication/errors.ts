/**
 * Named domain errors of replication (caught values become ledger text through shared/errors.ts).
 */

export class MalformedNotificationError extends Error {
  override readonly name = 'MalformedNotificationError';
}

/** Above the CopyObject limit; multipart UploadPartCopy comes in a later release. */
export class ObjectTooLargeError extends Error {
  override readonly name = 'ObjectTooLargeError';
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(
      `object is ${size} bytes, above the ${limit}-byte CopyObject limit; multipart copy of objects over 5 GB is not supported in this release`,
    );
  }
}

export class ChecksumMismatchError extends Error {
  override readonly name = 'ChecksumMismatchError';
  constructor(
    readonly sourceSha256: string,
    readonly replicaSha256: string,
    readonly replicaVersionId: string,
  ) {
    super(
      `sha256 mismatch: source ${sourceSha256}, replica version ${replicaVersionId} ${replicaSha256}; not recorded as replicated`,
    );
  }
}

/** Another invocation holds the key's lease; the message is retried after its visibility timeout. */
export class KeyBusyError extends Error {
  override readonly name = 'KeyBusyError';
}

export class ReplicaKeyTooLongError extends Error {
  override readonly name = 'ReplicaKeyTooLongError';
}
