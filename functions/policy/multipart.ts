import type { Policy } from './schema.js';

/** Multipart copy settings (policy.replication); CopyObject copies at most 5 GB in one call. */
export interface MultipartPolicy {
  thresholdBytes: number;
  partSizeBytes: number;
  partConcurrency: number;
}
/** The policy's multipart settings. */
export const multipartOf = (policy: Policy): MultipartPolicy => ({
  thresholdBytes: policy.replication.multipartThresholdBytes,
  partSizeBytes: policy.replication.multipartPartSizeBytes,
  partConcurrency: policy.replication.partConcurrency,
});

export const DEFAULT_MULTIPART: MultipartPolicy = {
  thresholdBytes: 512 * 1024 ** 2,
  partSizeBytes: 128 * 1024 ** 2,
  partConcurrency: 8,
};
