/**
 * Named domain errors of replication (caught values become ledger text through shared/errors.ts).
 */

export class MalformedNotificationError extends Error {
  override readonly name = 'MalformedNotificationError';
}

/**
 * A multipart copy ran out of invocation time; its upload and parts are kept and the next
 * invocation continues it (the message is queued again).
 */
export class CopyContinuesError extends Error {
  override readonly name = 'CopyContinuesError';
}

/**
 * The source changed under a copy: its "null" version (unversioned or suspended bucket) was
 * overwritten. The copy is given up; the next sync sees the new content as a version of its own.
 */
export class SourceChangedError extends Error {
  override readonly name = 'SourceChangedError';
}

export class ChecksumMismatchError extends Error {
  override readonly name = 'ChecksumMismatchError';
  constructor(
    readonly sourceSha256: string,
    readonly replicaSha256: string,
    readonly replicaVersionId: string,
  ) {
    super(`sha256 mismatch: source ${sourceSha256}, replica version ${replicaVersionId} ${replicaSha256}; not recorded as replicated`);
  }
}

/** The bytes read from the source do not hash to the SHA-256 S3 stores for them: nothing is copied. */
export class SourceChecksumMismatchError extends Error {
  override readonly name = 'SourceChecksumMismatchError';
  constructor(
    readonly storedSha256: string,
    readonly readSha256: string,
  ) {
    super(`source's stored sha256 ${storedSha256} differs from the sha256 of the bytes read, ${readSha256}; not copied`);
  }
}

/**
 * Another live invocation holds a claim on an earlier version of the key: the message's version
 * must wait for it. The handler queues the message again with a delay (or, without a queue URL,
 * lets it be retried after its visibility timeout).
 */
export class KeyBusyError extends Error {
  override readonly name = 'KeyBusyError';
}

export class ReplicaKeyTooLongError extends Error {
  override readonly name = 'ReplicaKeyTooLongError';
}
