import { describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../functions/policy/load.js';
import { parseDataRestore } from '../../functions/restore/data-request.js';
import { parseVectorRestore } from '../../functions/restore/restore-vectors-request.js';
import { PayloadError } from '../../functions/shared/payload.js';
import { loadEvent } from '../support/fixtures.js';

/**
 * The time fields of the two restore payloads follow one rule (shared/payload.ts pastTime): restore-data's
 * "asOf" and restore-vectors' "before" may be at most a minute (clock skew) after the function's clock;
 * later is one error naming the field, in the same words.
 */
const policy = loadPolicyFile('dr-policy.yml');
const NOW = new Date('2026-11-26T12:00:00Z');
const data = (asOf: string) => parseDataRestore({ asset: 'training-data', asOf, dryRun: true }, policy, NOW);
const vectors = (before: string) => parseVectorRestore({ asset: 'product-search-index', before, dryRun: true }, policy, NOW);

describe('a restore as of a time in the future', () => {
  it('restore-vectors refuses a "before" after now, naming the field, as restore-data refuses "asOf"', () => {
    expect(() => vectors('2026-11-26T12:01:01Z')).toThrow(
      new PayloadError('before: 2026-11-26T12:01:01Z is in the future (it is 2026-11-26T12:00:00.000Z)'),
    );
    expect(() => data('2026-11-26T12:01:01Z')).toThrow(
      new PayloadError('asOf: 2026-11-26T12:01:01Z is in the future (it is 2026-11-26T12:00:00.000Z)'),
    );
    expect(() => vectors('2026-11-26T13:00:00+01:00')).not.toThrow(); // 12:00 UTC: now
  });

  it('both allow a minute of clock skew, and any time before now', () => {
    expect(vectors('2026-11-26T12:01:00Z')).toMatchObject({ kind: 'restore', request: { before: '2026-11-26T12:01:00.000Z' } });
    expect(data('2026-11-26T12:01:00Z')).toMatchObject({ kind: 'restore', request: { asOf: '2026-11-26T12:01:00.000Z' } });
    expect(vectors('2020-01-01T00:00:00Z')).toMatchObject({ request: { before: '2020-01-01T00:00:00.000Z' } });
  });

  it('the samples in events/*/invalid/ with a time in the future are refused by both', () => {
    expect(() => parseVectorRestore(loadEvent('restore-vectors/invalid/before-in-future.json'), policy, NOW)).toThrow(
      /^before: 2099-01-01T00:00:00Z is in the future/,
    );
    expect(() => parseDataRestore(loadEvent('restore-data/invalid/as-of-in-future.json'), policy, NOW)).toThrow(
      /^asOf: 2099-01-01T00:00:00Z is in the future/,
    );
  });
});

describe('a batch restore (method batch-operations)', () => {
  it('is refused where its job files (restore-jobs/) would overlap a replica in the same bucket, naming the asset', () => {
    const batch = (p: typeof policy) =>
      parseDataRestore({ ...loadEvent<Record<string, unknown>>('restore-data/valid/dry-run-batch.json'), asset: 'training-data' }, p, NOW);
    expect(batch(policy)).toMatchObject({ kind: 'restore', request: { method: 'batch-operations' } });
    const whole = structuredClone(policy);
    whole.assets[1]!.replica.prefix = '';
    expect(() => batch(whole)).toThrow(
      new PayloadError(
        'method: "batch-operations" keeps its job files under restore-jobs/ in acme-ml-dr-replica, which overlaps the replica of asset eval-sets; restore with "method": "function"',
      ),
    );
  });
});
