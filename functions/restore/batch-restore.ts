import { createHash, randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { type ObjectAsset, RESTORE_JOBS_PREFIX } from '../policy/schema.js';
import { sourceKeyFor } from '../policy/assets.js';
import { type BatchRequest, type BatchResponse, bucketOf, resultCodeOf } from '../replication/batch-operations.js';
import { ChecksumMismatchError } from '../replication/errors.js';
import { describeError } from '../shared/errors.js';

/**
 * Large data restores as S3 Batch Operations jobs (docs/restore.md#batch-operations): the dry run
 * writes a manifest of the replica versions to restore (as it decides each key), the run creates a
 * job that invokes restore-data once per version (LambdaInvoke, schema 2.0), each task copying one
 * version to the target and verifying its SHA-256 against the ledger, and the run follows the job
 * to its completion report. S3 runs the tasks, as many at once as the account's Lambda concurrency
 * allows: the engine AWS runs for billions of objects.
 */

/** The port to S3 Batch Operations (S3 Control CreateJob / DescribeJob). */
export interface BatchJobs {
  /** Creates the job, or returns the one already created with this clientRequestToken. */
  create(job: BatchJobSpec): Promise<string>;
  describe(jobId: string): Promise<BatchJobStatus>;
}

export interface BatchJobSpec {
  /** Makes creation idempotent: the restore's token. */
  clientRequestToken: string;
  description: string;
  /** An S3InventoryReport_CSV_20161130 manifest (manifest.json naming gzip'd CSV files), and its ETag. */
  manifest: { bucket: string; key: string; etag: string };
  functionArn: string;
  roleArn: string;
  userArguments: Record<string, string>;
  /** Where the completion report of every task goes: <prefix>/job-<id>/manifest.json (prefix without a trailing /). */
  report: { bucket: string; prefix: string };
}

/** A job's state as DescribeJob gives it. */
export interface BatchJobStatus {
  /** Active, Complete, Failed, Cancelled, ... (S3's JobStatus). */
  status: string;
  total: number;
  succeeded: number;
  failed: number;
  /** Why the job itself failed (S3's FailureReasons). */
  failureReasons: string[];
}

/** The job ends in one of these; any other status is still on its way. */
export const TERMINAL_JOB_STATES = new Set(['Complete', 'Failed', 'Cancelled']);

/** Files of restore jobs (manifests, completion reports) in one bucket: the asset's replica bucket, in the DR region. */
export interface JobFiles {
  readonly bucket: string;
  /** Stores `body`; returns its ETag (a job names its manifest's). */
  put(key: string, body: Buffer, contentType: string): Promise<string>;
  get(key: string): Promise<Buffer | undefined>;
  /** The file's bytes as they arrive (a completion report's result file can be large), or undefined when there is none. */
  stream(key: string): Promise<AsyncIterable<Uint8Array> | undefined>;
}

/** Where a restore's job files live in the replica bucket. */
export const jobPrefix = (manifestId: string) => `${RESTORE_JOBS_PREFIX}${manifestId}/`;

/** One file of a manifest, as manifest.json lists it. */
export interface ManifestFile {
  key: string;
  size: number;
  MD5checksum: string;
}

/** The batch side of a dry run: where its manifest goes and what it holds so far. */
export interface BatchManifestProgress {
  manifestId: string;
  files: ManifestFile[];
  versions: number;
}

/**
 * Collects one planning invocation's manifest lines (Bucket, Key, VersionId, keys URL-encoded as
 * Batch Operations requires) and writes them as one gzip'd CSV file of the manifest.
 */
export class ManifestPiece {
  private readonly lines: string[] = [];
  constructor(
    private readonly bucket: string,
    readonly progress: BatchManifestProgress,
  ) {}

  add(replicaKey: string, versionId: string): void {
    this.lines.push(`${this.bucket},${encodeURIComponent(replicaKey)},${versionId}\n`);
  }

  /** Writes the lines collected (if any) as the manifest's next file; returns the progress with it. */
  async write(files: JobFiles): Promise<BatchManifestProgress> {
    if (this.lines.length === 0) return this.progress;
    const body = gzipSync(Buffer.from(this.lines.join(''), 'utf8'));
    // A key of its own each time: two walkers of one dry run (a duplicate continuation) never overwrite each other's file.
    const key = `${jobPrefix(this.progress.manifestId)}manifest/part-${String(this.progress.files.length).padStart(5, '0')}-${randomUUID().slice(0, 8)}.csv.gz`;
    await files.put(key, body, 'application/gzip');
    const file = { key, size: body.length, MD5checksum: createHash('md5').update(body).digest('hex') };
    return { ...this.progress, files: [...this.progress.files, file], versions: this.progress.versions + this.lines.length };
  }
}

export const newManifest = (): BatchManifestProgress => ({ manifestId: randomUUID(), files: [], versions: 0 });

/** Writes manifest.json (S3 Inventory's format, which Batch Operations reads) naming the files; returns where and its ETag. */
export async function writeManifest(
  files: JobFiles,
  progress: BatchManifestProgress,
  sourceBucket: string,
  now: Date,
  partition = 'aws',
): Promise<{ key: string; etag: string }> {
  const manifest = {
    sourceBucket,
    destinationBucket: `arn:${partition}:s3:::${files.bucket}`,
    version: '2016-11-30',
    creationTimestamp: String(now.getTime()),
    fileFormat: 'CSV',
    fileSchema: 'Bucket, Key, VersionId',
    files: progress.files,
  };
  const key = `${jobPrefix(progress.manifestId)}manifest.json`;
  const etag = await files.put(key, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8'), 'application/json');
  return { key, etag };
}

/** A failed task of a completion report. */
export interface FailedTask {
  key: string;
  versionId: string;
  error: string;
}

/** The failed keys a data restore keeps with their errors (its result's failures); the others are counted. */
export const FAILURES_KEPT = 50;

/** What a completion report of every task (ReportScope AllTasks) says, counted. */
export interface TaskResults {
  restored: { objects: number; bytes: number };
  skipped: Record<string, number>;
  /** The failed tasks: how many, and the first FAILURES_KEPT (keys decoded) with their errors. */
  failed: { count: number; first: FailedTask[] };
}

/**
 * Counts a job's completion report: <prefix>/job-<id>/manifest.json lists the result files, each CSV
 * (Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage; keys URL-encoded as
 * in the manifest). A succeeded task's message says what it did (restore-data's taskResult):
 * "restored <bytes> bytes to …" or "skipped <reason>: …". The result files are read as they stream
 * in and only counts and the first failures are kept, so a report of a billion tasks takes no more
 * memory than one of ten.
 */
export async function taskResults(files: JobFiles, prefix: string, jobId: string): Promise<TaskResults> {
  const where = `${prefix}/job-${jobId}/manifest.json`;
  const body = await files.get(where);
  if (!body) throw new Error(`the completion report of job ${jobId} is missing (s3://${files.bucket}/${where})`);
  const report = JSON.parse(body.toString('utf8')) as { Results?: { TaskExecutionStatus: string; Key: string }[] };
  const counted: TaskResults = { restored: { objects: 0, bytes: 0 }, skipped: {}, failed: { count: 0, first: [] } };
  for (const result of report.Results ?? []) {
    const csv = await files.stream(result.Key);
    if (!csv) throw new Error(`a result file of job ${jobId} is missing (s3://${files.bucket}/${result.Key})`);
    for await (const [, key = '', versionId = '', status = '', code1 = '', code2 = '', message = ''] of csvRows(csv)) {
      const restored = /^restored (\d+) bytes /.exec(message);
      const skipped = /^skipped ([a-z-]+): /.exec(message);
      if (status === 'succeeded' && restored) {
        counted.restored.objects++;
        counted.restored.bytes += Number(restored[1]);
      } else if (status === 'succeeded' && skipped) {
        counted.skipped[skipped[1]!] = (counted.skipped[skipped[1]!] ?? 0) + 1;
      } else {
        const error = [status === 'succeeded' ? 'unexpected result:' : '', code1, code2, message].filter(Boolean).join(' ');
        if (counted.failed.count++ < FAILURES_KEPT) counted.failed.first.push({ key: decodeKey(key), versionId, error });
      }
    }
  }
  return counted;
}

/** A key of the manifest or the report: URL-encoded (encodeURIComponent, ManifestPiece). */
function decodeKey(key: string): string {
  try {
    return decodeURIComponent(key);
  } catch {
    return key;
  }
}

/**
 * RFC 4180 CSV (quoted fields, doubled quotes, newlines inside quotes) read in pieces, as a file
 * streams in: push() each piece of text, then end(); each returns the rows it completed. A piece may
 * end anywhere, inside a field, between a CR and its LF, or between the two quotes of a doubled one.
 */
export class CsvReader {
  private row: string[] = [];
  private field = '';
  private quoted = false;
  /** A last character whose meaning the next piece decides: a CR (a LF may follow) or a quote inside quotes. */
  private held = '';

  push(piece: string): string[][] {
    return this.read(this.held + piece, false);
  }

  end(): string[][] {
    return this.read(this.held, true);
  }

  private read(text: string, last: boolean): string[][] {
    this.held = '';
    const rows: string[][] = [];
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      if (!last && i === text.length - 1 && (c === '\r' || (c === '"' && this.quoted))) {
        this.held = c;
        break;
      }
      if (this.quoted) {
        if (c !== '"') this.field += c;
        else if (text[i + 1] === '"') {
          this.field += '"';
          i++;
        } else this.quoted = false;
      } else if (c === '"') this.quoted = true;
      else if (c === ',') this.endField();
      else if (c === '\n' || c === '\r') {
        if (c === '\r' && text[i + 1] === '\n') i++;
        this.endField();
        rows.push(this.row);
        this.row = [];
      } else this.field += c;
    }
    if (last && (this.field !== '' || this.row.length > 0)) {
      this.endField();
      rows.push(this.row);
      this.row = [];
    }
    return rows;
  }

  private endField() {
    this.row.push(this.field);
    this.field = '';
  }
}

/** A whole CSV text's rows (CsvReader). */
export function parseCsv(text: string): string[][] {
  const reader = new CsvReader();
  return [...reader.push(text), ...reader.end()];
}

/** The rows of a CSV file as it streams in (UTF-8, CsvReader). */
export async function* csvRows(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string[]> {
  const decoder = new TextDecoder('utf-8');
  const reader = new CsvReader();
  for await (const chunk of chunks) yield* reader.push(decoder.decode(chunk, { stream: true }));
  yield* reader.push(decoder.decode());
  yield* reader.end();
}

/** What a task needs to restore one version: the plan's decision for its key, made again now. */
export interface TaskRestore {
  /** The version of the key to restore as of the plan's time, or why there is nothing to do. */
  restoreKey(asset: ObjectAsset, key: string, replicaVersionId: string): Promise<{ restored: string } | { skipped: string }>;
}

/** A task that retrying cannot fix (the plan no longer names its version): PermanentFailure. */
export class PermanentTaskError extends Error {
  override readonly name = 'PermanentTaskError';
}

/** Errors of a task that no retry fixes, beside the backfill's (resultCodeOf): a checksum, a version gone. */
const isPermanent = (error: unknown) =>
  error instanceof ChecksumMismatchError ||
  error instanceof PermanentTaskError ||
  ['NoSuchVersion', 'NoSuchKey'].includes((error as { name?: string } | null)?.name ?? '');

/**
 * The tasks of a restore job (schema 2.0; userArguments.restoreId names the restore): each is one
 * replica version of the manifest, restored by `restoreKey` (restore-data's restoreTask). Result
 * codes: as the backfill's (TemporaryFailure for throttling, 5xx, a plan that cannot be read now and
 * copies that continue); PermanentFailure for a checksum that does not match, access denied, a
 * version gone or no longer the plan's, a restore that is not running.
 */
export async function runRestoreTasks(
  request: BatchRequest,
  planFor: (restoreId: string) => Promise<{ asset: ObjectAsset; restore: TaskRestore } | { refused: string }>,
): Promise<BatchResponse> {
  const restoreId = request.job.userArguments?.restoreId;
  const results: BatchResponse['results'] = [];
  let found: Awaited<ReturnType<typeof planFor>>;
  try {
    found = restoreId ? await planFor(restoreId) : { refused: 'the job names no restoreId (userArguments)' };
  } catch (error) {
    // The plan could not be read (throttling at the job's concurrency): every task is tried again.
    const resultString = `the plan of restore ${restoreId} could not be read: ${describeError(error)}`;
    return responseOf(
      request,
      request.tasks.map((t) => ({ taskId: t.taskId, resultCode: 'TemporaryFailure', resultString })),
    );
  }
  for (const task of request.tasks) {
    const permanent = (resultString: string) => results.push({ taskId: task.taskId, resultCode: 'PermanentFailure', resultString });
    if ('refused' in found) {
      permanent(found.refused);
      continue;
    }
    const bucket = bucketOf(task);
    if (bucket !== found.asset.replica.bucket || !task.s3VersionId) {
      permanent(
        `task names s3://${bucket}/${task.s3Key} ${task.s3VersionId ?? '(no version)'}, not a version in ${found.asset.name}'s replica`,
      );
      continue;
    }
    const replicaKey = decodeKey(task.s3Key);
    try {
      const outcome = await found.restore.restoreKey(found.asset, sourceKeyFor(found.asset, replicaKey), task.s3VersionId);
      results.push({
        taskId: task.taskId,
        resultCode: 'Succeeded',
        resultString: 'restored' in outcome ? outcome.restored : outcome.skipped,
      });
    } catch (error: unknown) {
      const resultCode = isPermanent(error) ? 'PermanentFailure' : resultCodeOf(error);
      results.push({ taskId: task.taskId, resultCode, resultString: describeError(error) });
    }
  }
  return responseOf(request, results);
}

const responseOf = (request: BatchRequest, results: BatchResponse['results']): BatchResponse => ({
  invocationSchemaVersion: request.invocationSchemaVersion,
  treatMissingKeysAs: 'PermanentFailure',
  invocationId: request.invocationId,
  results,
});
