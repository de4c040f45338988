import { type CloudWatchClient, GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';

/**
 * Age of the oldest change still waiting in the replication queue: what the ledger cannot see
 * (a change has no ledger entry until the replicator reads its event). Read from SQS's own
 * CloudWatch metric ApproximateAgeOfOldestMessage.
 */
export interface QueueAge {
  oldestMessageAgeSeconds(now: Date): Promise<number | undefined>;
}

export class CloudWatchQueueAge implements QueueAge {
  constructor(
    private readonly cloudwatch: CloudWatchClient,
    private readonly queueName: string,
  ) {}

  async oldestMessageAgeSeconds(now: Date): Promise<number | undefined> {
    const { Datapoints = [] } = await this.cloudwatch.send(
      new GetMetricStatisticsCommand({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: this.queueName }],
        StartTime: new Date(now.getTime() - 5 * 60_000),
        EndTime: new Date(now.getTime() + 60_000),
        Period: 60,
        Statistics: ['Maximum'],
      }),
    );
    const latest = [...Datapoints].sort((a, b) => (b.Timestamp?.getTime() ?? 0) - (a.Timestamp?.getTime() ?? 0))[0];
    return latest?.Maximum;
  }
}
