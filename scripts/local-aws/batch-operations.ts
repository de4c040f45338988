import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash, randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import type { BatchJobs, BatchJobSpec, BatchJobStatus } from '../../functions/restore/batch-restore.js';
import { parseCsv } from '../../functions/restore/batch-restore.js';
import type { BatchResponse } from '../../functions/replication/batch-operations.js';
import { getWhole, putWhole } from '../../functions/storage/whole-objects.js';

/**
 * S3 Batch Operations for the local AWS, which moto (5.2.5) does not serve: the jobs of the
 * BatchJobs port run here as AWS documents them, over the local AWS's S3. A job checks its
 * manifest's ETag, reads an S3InventoryReport_CSV_20161130 manifest (manifest.json naming gzip'd
 * CSV files, each checked against its MD5), invokes the function once per task with schema 2.0
 * (the key as the manifest has it, URL-encoded), retries TemporaryFailure (up to `retries` times),
 * and writes the completion report of every task: <prefix>/job-<id>/manifest.json naming a CSV
 * result file of the succeeded and one of the failed tasks (Bucket, Key, VersionId, TaskStatus,
 * ErrorCode, HTTPStatusCode, ResultMessage). Unlike AWS it never fails a job at its failure
 * threshold, and it writes a report even when no task ran.
 * `invoke` stands for Lambda: the function's handler, in this process.
 */
export class LocalBatchOperations implements BatchJobs {
  private readonly jobs = new Map<string, { status: BatchJobStatus; done: Promise<void> }>();
  private readonly byToken = new Map<string, string>();
  /** Every task invocation's event, in order (tests look at what the function was given). */
  readonly invocations: { functionArn: string; event: unknown }[] = [];

  constructor(
    private readonly s3: S3Client,
    private readonly invoke: (functionArn: string, event: unknown) => Promise<BatchResponse>,
    private readonly options: { concurrency?: number; retries?: number } = {},
  ) {}

  async create(spec: BatchJobSpec): Promise<string> {
    const existing = this.byToken.get(spec.clientRequestToken);
    if (existing) return existing;
    const head = await this.s3.send(new HeadObjectCommand({ Bucket: spec.manifest.bucket, Key: spec.manifest.key }));
    if ((head.ETag ?? '').replaceAll('"', '') !== spec.manifest.etag) {
      throw Object.assign(new Error(`the manifest's ETag is ${head.ETag}, the job names ${spec.manifest.etag}`), {
        name: 'InvalidRequest',
      });
    }
    const tasks = await this.manifestTasks(spec.manifest.bucket, spec.manifest.key);
    const id = randomUUID();
    const status: BatchJobStatus = { status: 'Active', total: tasks.length, succeeded: 0, failed: 0, failureReasons: [] };
    this.byToken.set(spec.clientRequestToken, id);
    const done = this.run(id, spec, tasks, status).catch((error: unknown) => {
      status.status = 'Failed';
      status.failureReasons.push(String(error));
    });
    this.jobs.set(id, { status, done });
    return id;
  }

  async describe(jobId: string): Promise<BatchJobStatus> {
    const job = this.jobs.get(jobId);
    if (!job) throw Object.assign(new Error(`no job ${jobId}`), { name: 'NotFoundException' });
    return { ...job.status, failureReasons: [...job.status.failureReasons] };
  }

  private async get(bucket: string, key: string): Promise<Buffer> {
    const body = await getWhole(this.s3, bucket, key);
    if (!body) throw Object.assign(new Error(`s3://${bucket}/${key} does not exist`), { name: 'InvalidManifest' });
    return body;
  }

  private async manifestTasks(bucket: string, key: string) {
    const manifest = JSON.parse((await this.get(bucket, key)).toString('utf8')) as {
      fileFormat: string;
      fileSchema: string;
      files: { key: string; MD5checksum: string }[];
    };
    if (manifest.fileFormat !== 'CSV' || !manifest.fileSchema.startsWith('Bucket, Key, VersionId'))
      throw Object.assign(new Error(`unsupported manifest: ${manifest.fileFormat} ${manifest.fileSchema}`), { name: 'InvalidManifest' });
    const tasks: { bucket: string; key: string; versionId: string }[] = [];
    for (const file of manifest.files) {
      const body = await this.get(bucket, file.key);
      if (createHash('md5').update(body).digest('hex') !== file.MD5checksum)
        throw Object.assign(new Error(`manifest file ${file.key}: MD5 does not match`), { name: 'InvalidManifest' });
      for (const [b = '', k = '', v = ''] of parseCsv(gunzipSync(body).toString('utf8'))) tasks.push({ bucket: b, key: k, versionId: v });
    }
    return tasks;
  }

  private async run(id: string, spec: BatchJobSpec, tasks: { bucket: string; key: string; versionId: string }[], status: BatchJobStatus) {
    const rows: Record<'succeeded' | 'failed', string[][]> = { succeeded: [], failed: [] };
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < tasks.length; i = next++) {
        const task = tasks[i]!;
        let outcome: { code: string; message: string } = { code: 'TemporaryFailure', message: '' };
        for (let attempt = 0; attempt <= (this.options.retries ?? 3) && outcome.code === 'TemporaryFailure'; attempt++) {
          const event = {
            invocationSchemaVersion: '2.0',
            invocationId: randomUUID(),
            job: { id, userArguments: spec.userArguments },
            tasks: [{ taskId: `${id}-${i}`, s3Bucket: task.bucket, s3Key: task.key, s3VersionId: task.versionId }],
          };
          this.invocations.push({ functionArn: spec.functionArn, event });
          try {
            const [result] = (await this.invoke(spec.functionArn, event)).results;
            outcome = { code: result?.resultCode ?? 'PermanentFailure', message: result?.resultString ?? 'no result for the task' };
          } catch (error) {
            outcome = { code: 'PermanentFailure', message: `Lambda returned function error: ${String(error)}` };
          }
        }
        const taskStatus = outcome.code === 'Succeeded' ? 'succeeded' : 'failed';
        status[taskStatus]++;
        rows[taskStatus].push([task.bucket, task.key, task.versionId, taskStatus, outcome.code, '200', outcome.message]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency ?? 8, tasks.length) }, worker));
    await this.writeReport(id, spec, rows);
    status.status = 'Complete';
  }

  private async writeReport(id: string, spec: BatchJobSpec, rows: Record<'succeeded' | 'failed', string[][]>) {
    const results = [];
    for (const status of ['succeeded', 'failed'] as const) {
      if (rows[status].length === 0) continue;
      const csv = Buffer.from(rows[status].map((row) => `${row.map(csvField).join(',')}\n`).join(''), 'utf8');
      const key = `${spec.report.prefix}/job-${id}/results/${createHash('sha1').update(csv).digest('hex')}.csv`;
      await putWhole(this.s3, { bucket: spec.report.bucket, key, body: csv, contentType: 'text/csv' });
      const md5 = createHash('md5').update(csv).digest('hex');
      results.push({ TaskExecutionStatus: status, Bucket: spec.report.bucket, MD5Checksum: md5, Key: key });
    }
    const manifest = {
      Format: 'Report_CSV_20180820',
      ReportCreationDate: new Date().toISOString(),
      Results: results,
      ReportSchema: 'Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage',
    };
    const body = Buffer.from(JSON.stringify(manifest), 'utf8');
    await putWhole(this.s3, {
      bucket: spec.report.bucket,
      key: `${spec.report.prefix}/job-${id}/manifest.json`,
      body,
      contentType: 'application/json',
    });
  }
}

const csvField = (value: string) => (/[",\n\r]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value);
