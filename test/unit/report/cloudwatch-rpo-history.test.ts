import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../../functions/policy/load.js';
import { CloudWatchRpoHistory } from '../../../functions/report/cloudwatch-rpo-history.js';

/** GetMetricData answers the local AWS cannot give on demand: pages, and queries CloudWatch could not run. */
const cloudwatch = mockClient(CloudWatchClient);
afterEach(() => cloudwatch.reset());
const asset = loadPolicyFile('dr-policy.yml').assets[0]!;
const window = { start: new Date('2026-03-01T00:00:00Z'), end: new Date('2026-03-01T01:00:00Z') };

describe('RpoSeconds history from CloudWatch', () => {
  it('reads every page (NextToken) of the Maximum per period, oldest first', async () => {
    cloudwatch
      .on(GetMetricDataCommand)
      .resolvesOnce({
        MetricDataResults: [{ Id: 'rpo', StatusCode: 'PartialData', Timestamps: [new Date('2026-03-01T00:05:00Z')], Values: [40] }],
        NextToken: 'page-2',
      })
      .resolvesOnce({
        MetricDataResults: [{ Id: 'rpo', StatusCode: 'Complete', Timestamps: [new Date('2026-03-01T00:00:00Z')], Values: [10] }],
      });
    const points = await new CloudWatchRpoHistory(new CloudWatchClient({})).maxPerPeriod(asset, window, 300);
    expect(points).toEqual([
      { at: new Date('2026-03-01T00:00:00Z'), maxSeconds: 10 },
      { at: new Date('2026-03-01T00:05:00Z'), maxSeconds: 40 },
    ]);
    const calls = cloudwatch.commandCalls(GetMetricDataCommand);
    expect(calls.map((c) => c.args[0].input.NextToken)).toEqual([undefined, 'page-2']);
    expect(calls[0]!.args[0].input.MetricDataQueries![0]!.MetricStat).toMatchObject({
      Period: 300,
      Stat: 'Maximum',
      Metric: {
        MetricName: 'RpoSeconds',
        Dimensions: [{ Name: 'service' }, { Name: 'asset', Value: asset.name }, { Name: 'tier', Value: asset.tier }],
      },
    });
  });

  it('fails on a query CloudWatch could not answer, rather than counting its periods as missing', async () => {
    cloudwatch.on(GetMetricDataCommand).resolves({
      MetricDataResults: [{ Id: 'rpo', StatusCode: 'Forbidden', Messages: [{ Code: 'Forbidden', Value: 'not authorized' }] }],
    });
    await expect(new CloudWatchRpoHistory(new CloudWatchClient({})).maxPerPeriod(asset, window, 300)).rejects.toThrow(
      `GetMetricData of RpoSeconds for ${asset.name}: Forbidden: not authorized`,
    );
  });
});
