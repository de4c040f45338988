import { type CloudWatchClient, GetMetricDataCommand, type MetricDataResult } from '@aws-sdk/client-cloudwatch';
import type { Asset } from '../policy/schema.js';
import { METRIC_NAMESPACE, SERVICE_NAME } from '../shared/service.js';
import type { RpoHistory } from './build-report.js';
import type { RpoDatapoint } from './rpo-share.js';

/**
 * RpoSeconds history from CloudWatch: GetMetricData, Stat Maximum, on the metric measure-rpo
 * publishes (functions/rpo/publish-metrics.ts: namespace AiDataDr, dimensions service, asset, tier,
 * the same the RPO alarms read). Pages through NextToken.
 */
export class CloudWatchRpoHistory implements RpoHistory {
  constructor(private readonly cloudwatch: CloudWatchClient) {}

  async maxPerPeriod(asset: Asset, window: { start: Date; end: Date }, periodSeconds: number): Promise<RpoDatapoint[]> {
    const points: RpoDatapoint[] = [];
    let token: string | undefined;
    do {
      const page = await this.cloudwatch.send(
        new GetMetricDataCommand({
          StartTime: window.start,
          EndTime: window.end,
          ScanBy: 'TimestampAscending',
          NextToken: token,
          MetricDataQueries: [
            {
              Id: 'rpo',
              ReturnData: true,
              MetricStat: {
                Metric: {
                  Namespace: METRIC_NAMESPACE,
                  MetricName: 'RpoSeconds',
                  Dimensions: [
                    { Name: 'service', Value: SERVICE_NAME },
                    { Name: 'asset', Value: asset.name },
                    { Name: 'tier', Value: asset.tier },
                  ],
                },
                Period: periodSeconds,
                Stat: 'Maximum',
              },
            },
          ],
        }),
      );
      for (const result of page.MetricDataResults ?? []) {
        // A query CloudWatch could not answer is an error, never "no data" (which counts against the share).
        if (result.StatusCode === 'Forbidden' || result.StatusCode === 'InternalError')
          throw new Error(
            `GetMetricData of RpoSeconds for ${asset.name}: ${result.StatusCode}${result.Messages?.length ? `: ${result.Messages.map((m) => m.Value).join('; ')}` : ''}`,
          );
        points.push(...datapoints(result));
      }
      token = page.NextToken;
    } while (token);
    return points.sort((a, b) => a.at.getTime() - b.at.getTime());
  }
}

function datapoints(result: MetricDataResult): RpoDatapoint[] {
  const values = result.Values ?? [];
  return (result.Timestamps ?? []).flatMap((at, i) => (values[i] === undefined ? [] : [{ at: new Date(at), maxSeconds: values[i] }]));
}
