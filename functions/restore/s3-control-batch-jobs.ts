import { CreateJobCommand, DescribeJobCommand, type S3ControlClient } from '@aws-sdk/client-s3-control';
import type { BatchJobs, BatchJobSpec, BatchJobStatus } from './batch-restore.js';

/**
 * S3 Batch Operations through S3 Control (CreateJob, DescribeJob) in the account that runs the
 * stack: a LambdaInvoke job (schema 2.0) over an S3InventoryReport_CSV_20161130 manifest, with a
 * completion report of every task (Report_CSV_20180820), run without confirmation.
 */
export class S3ControlBatchJobs implements BatchJobs {
  constructor(
    private readonly client: S3ControlClient,
    private readonly accountId: string,
    /** The ARN partition (aws, aws-cn, aws-us-gov), the function's. */
    private readonly partition = 'aws',
  ) {}

  async create(spec: BatchJobSpec): Promise<string> {
    const { JobId } = await this.client.send(
      new CreateJobCommand({
        AccountId: this.accountId,
        ConfirmationRequired: false,
        ClientRequestToken: spec.clientRequestToken,
        Description: spec.description.slice(0, 256),
        Priority: 10,
        RoleArn: spec.roleArn,
        Operation: { LambdaInvoke: { FunctionArn: spec.functionArn, InvocationSchemaVersion: '2.0', UserArguments: spec.userArguments } },
        Manifest: {
          Spec: { Format: 'S3InventoryReport_CSV_20161130' },
          Location: { ObjectArn: `arn:${this.partition}:s3:::${spec.manifest.bucket}/${spec.manifest.key}`, ETag: spec.manifest.etag },
        },
        Report: {
          Bucket: `arn:${this.partition}:s3:::${spec.report.bucket}`,
          Prefix: spec.report.prefix,
          Format: 'Report_CSV_20180820',
          Enabled: true,
          // Every task: a succeeded one says whether it restored or skipped (the run counts them).
          ReportScope: 'AllTasks',
        },
      }),
    );
    if (!JobId) throw new Error('S3 Control CreateJob returned no JobId');
    return JobId;
  }

  async describe(jobId: string): Promise<BatchJobStatus> {
    const { Job } = await this.client.send(new DescribeJobCommand({ AccountId: this.accountId, JobId: jobId }));
    const progress = Job?.ProgressSummary;
    return {
      status: Job?.Status ?? 'Unknown',
      total: progress?.TotalNumberOfTasks ?? 0,
      succeeded: progress?.NumberOfTasksSucceeded ?? 0,
      failed: progress?.NumberOfTasksFailed ?? 0,
      failureReasons: (Job?.FailureReasons ?? []).map((r) => `${r.FailureCode ?? ''}: ${r.FailureReason ?? ''}`),
    };
  }
}
