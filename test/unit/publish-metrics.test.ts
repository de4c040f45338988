import { afterEach, describe, expect, it, vi } from 'vitest';
import { emittedMetrics } from '../support/emf.js';
import type { AssetMeasurement } from '../../functions/rpo/measure.js';
import { lagStats } from '../../functions/rpo/percentiles.js';
import { publishMeasurement } from '../../functions/rpo/publish-metrics.js';

const measurement = (extra: Partial<AssetMeasurement>): AssetMeasurement => ({
  asset: 'eval-sets',
  kind: 'eval-set',
  tier: 'critical',
  rpoTargetSeconds: 900,
  rpoSeconds: 1000,
  status: 'missed',
  reason: 'rpo-over-target',
  pendingObjects: 3,
  pendingBytes: 300,
  failedObjects: 1,
  lag: lagStats([1.5, 2.5]),
  lagValues: [1.5, 2.5],
  measuredAt: '2026-11-26T14:00:00.000Z',
  ...extra,
});

const emitted = (m: AssetMeasurement) => emittedMetrics(() => publishMeasurement(m));

afterEach(() => vi.restoreAllMocks());

describe('publishMeasurement (embedded metric format)', () => {
  it('publishes RpoSeconds and the counts with dimensions service, asset and tier; lag as one value per version', () => {
    const [record] = emitted(measurement({}));
    expect(record!._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'AiDataDr',
      Dimensions: [['service', 'asset', 'tier']],
    });
    expect(record!._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name).sort()).toEqual([
      'FailedObjects',
      'PendingBytes',
      'PendingObjects',
      'ReplicationLagSeconds',
      'RpoSeconds',
    ]);
    expect(record).toMatchObject({
      service: 'ai-data-dr',
      asset: 'eval-sets',
      tier: 'critical',
      RpoSeconds: 1000,
      PendingObjects: 3,
      ReplicationLagSeconds: [1.5, 2.5],
    });
  });

  it('leaves RpoSeconds out when the RPO is unknown, so the alarm sees missing (breaching) data', () => {
    const [record] = emitted(measurement({ rpoSeconds: null, reason: 'no-verified-snapshot', lagValues: [] }));
    expect(record).not.toHaveProperty('RpoSeconds');
    expect(record).toMatchObject({ PendingObjects: 3 });
  });

  it('publishes nothing for an asset this release does not measure', () => {
    expect(emitted(measurement({ status: 'not-measured', rpoSeconds: null }))).toEqual([]);
  });
});
