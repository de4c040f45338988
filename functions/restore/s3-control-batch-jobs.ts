import { CreateJobCommand, DescribeJobCommand, type S3ControlClient } from '@aws-sdk/client-s3-control';
import type { BatchJobs, BatchJobSpec, BatchJobStatus } from './batch-restore.js';

/**
 * S3 Batch Operations through S3 Control (CreateJob, DescribeJob) in the account that runs the
 * stack: a LambdaInvoke job (schema 2.0) over an S3InventoryReport_CSV_20161130 manifest, with a
 * completion report of the failed tasks (Report_CSV_20180820), run without confirmation.
 */
export class S3ControlBatchJobs implements BatchJobs {
  constructor(
    private readonly client: S3ControlClient,
    private readonly accountId: string,
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
          Location: { ObjectArn: `arn:aws:s3:::${spec.manifest.bucket}/${spec.manifest.key}`, ETag: spec.manifest.etag },
        },
        Report: {
          Bucket: `arn:aws:s3:::${spec.report.bucket}`,
          Prefix: spec.report.prefix,
          Format: 'Report_CSV_20180820',
          Enabled: true,
          ReportScope: 'FailedTasksOnly',
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
