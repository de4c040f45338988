import { z } from 'zod';
import { describeError, quote } from '../shared/errors.js';
import { decodeFormKey, MAX_KEY_BYTES } from '../shared/s3-keys.js';
import { CopyContinuesError, KeyBusyError, ReplicaKeyTooLongError } from './errors.js';
import type { ReplicationBatch } from './replicator.js';

/**
 * S3 Batch Operations ("Invoke AWS Lambda function"): the backfill path for prefixes too large for
 * one queue. A job built from an S3 Inventory manifest invokes the function with tasks; each task
 * is one key, synced whole by the same replicate logic; the result codes tell Batch Operations
 * what to retry (TemporaryFailure) and what to report as failed (PermanentFailure).
 */
const taskSchema = z.object({
  taskId: z.string().min(1),
  s3Key: z.string().min(1),
  s3VersionId: z.string().nullish(),
  s3BucketArn: z.string().optional(),
  s3Bucket: z.string().optional(),
});

export const batchRequestSchema = z.object({
  invocationSchemaVersion: z.enum(['1.0', '2.0']),
  invocationId: z.string().min(1),
  job: z.object({ id: z.string().min(1), userArguments: z.record(z.string(), z.string()).optional() }),
  tasks: z.array(taskSchema).min(1),
});
export type BatchRequest = z.infer<typeof batchRequestSchema>;

export type ResultCode = 'Succeeded' | 'TemporaryFailure' | 'PermanentFailure';

export interface BatchResponse {
  invocationSchemaVersion: string;
  treatMissingKeysAs: ResultCode;
  invocationId: string;
  results: { taskId: string; resultCode: ResultCode; resultString: string }[];
}

/** Errors that retrying cannot fix: the task is reported as failed. */
const PERMANENT_S3_ERRORS = new Set(['AccessDenied', 'NoSuchBucket', 'InvalidObjectState', 'Forbidden']);

export function resultCodeOf(error: unknown): ResultCode {
  if (error instanceof KeyBusyError || error instanceof CopyContinuesError) return 'TemporaryFailure';
  if (error instanceof ReplicaKeyTooLongError) return 'PermanentFailure';
  const name = (error as { name?: string })?.name ?? '';
  return PERMANENT_S3_ERRORS.has(name) ? 'PermanentFailure' : 'TemporaryFailure';
}

/** Manifest keys are URL-encoded; how exactly depends on the tool that wrote it: sync every reading. */
function keyReadings(raw: string): string[] {
  let percentDecoded: string | undefined;
  try {
    percentDecoded = decodeURIComponent(raw);
  } catch {
    percentDecoded = undefined;
  }
  const readings = [raw, percentDecoded, decodeFormKey(raw)].filter(
    (k): k is string => k !== undefined && k.length > 0 && Buffer.byteLength(k, 'utf8') <= MAX_KEY_BYTES,
  );
  return [...new Set(readings)];
}

export function bucketOf(task: z.infer<typeof taskSchema>): string | undefined {
  return task.s3Bucket ?? task.s3BucketArn?.split(':::')[1]?.split('/')[0];
}

export async function runBatchTasks(replicator: Pick<ReplicationBatch, 'replicateHint'>, request: BatchRequest): Promise<BatchResponse> {
  const results: BatchResponse['results'] = [];
  for (const task of request.tasks) {
    const bucket = bucketOf(task);
    if (!bucket) {
      results.push({ taskId: task.taskId, resultCode: 'PermanentFailure', resultString: 'task has neither s3Bucket nor s3BucketArn' });
      continue;
    }
    const readings = keyReadings(task.s3Key);
    if (readings.length === 0) {
      const problem = `key ${quote(task.s3Key)} is longer than ${MAX_KEY_BYTES} bytes in every reading; S3 has no such key`;
      results.push({ taskId: task.taskId, resultCode: 'PermanentFailure', resultString: problem });
      continue;
    }
    try {
      const { keys, unmanaged } = await replicator.replicateHint({ bucket, keys: readings });
      if (keys.length === 0) {
        results.push({
          taskId: task.taskId,
          resultCode: 'PermanentFailure',
          resultString: `${quote(`s3://${bucket}/${unmanaged[0]?.key ?? task.s3Key}`)} belongs to no asset of the DR policy`,
        });
        continue;
      }
      const copied = keys.reduce((n, k) => n + k.replicated.length, 0);
      const already = keys.reduce((n, k) => n + k.alreadyReplicated, 0);
      results.push({
        taskId: task.taskId,
        resultCode: 'Succeeded',
        resultString: `replicated ${copied} version(s), ${already} already replicated`,
      });
    } catch (error: unknown) {
      results.push({ taskId: task.taskId, resultCode: resultCodeOf(error), resultString: describeError(error) });
    }
  }
  return {
    invocationSchemaVersion: request.invocationSchemaVersion,
    treatMissingKeysAs: 'PermanentFailure',
    invocationId: request.invocationId,
    results,
  };
}
