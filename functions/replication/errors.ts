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

/** Another invocation holds the key's lease; the message is retried after its visibility timeout. */
export class KeyBusyError extends Error {
  override readonly name = 'KeyBusyError';
}

export class ReplicaKeyTooLongError extends Error {
  override readonly name = 'ReplicaKeyTooLongError';
}
