import { describe, expect, it } from 'vitest';
import type { StatusReport } from '../../functions/rpo/monitor.js';
import { renderStatusTable } from '../../functions/rpo/status-request.js';

const report = (replicaBuckets: StatusReport['replicaBuckets']): StatusReport => ({
  generatedAt: '2026-11-26T14:20:00.000Z',
  deadLetterDepth: 0,
  assets: [],
  replicaBuckets,
});

describe('the status table’s replica buckets', () => {
  it('names a bucket without Object Lock and the assets the policy wanted locked there', () => {
    const table = renderStatusTable(
      report([
        {
          bucket: 'old-replica',
          objectLock: { enabled: false },
          lockedAssets: ['training-data', 'eval-sets'],
          unprotected: ['training-data', 'eval-sets'],
        },
        {
          bucket: 'new-replica',
          objectLock: { enabled: true, defaultRetention: { mode: 'COMPLIANCE', days: 90 } },
          lockedAssets: ['model-artifacts'],
          unprotected: [],
        },
        {
          bucket: 'scratch-replica',
          objectLock: { enabled: true, defaultRetention: { mode: 'GOVERNANCE', years: 1 } },
          lockedAssets: [],
          unprotected: [],
        },
      ]),
    );
    expect(table.split('\n').slice(2)).toEqual([
      'replica bucket old-replica: OBJECT LOCK OFF, so training-data, eval-sets can be deleted by anyone allowed to (docs/object-lock.md#a-bucket-without-object-lock)',
      'replica bucket new-replica: Object Lock on, default COMPLIANCE 90 days; locked: model-artifacts',
      'replica bucket scratch-replica: Object Lock on, default GOVERNANCE 1 year; locked: none',
    ]);
  });
});
