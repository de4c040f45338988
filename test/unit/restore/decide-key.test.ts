import { describe, expect, it } from 'vitest';
import type { LedgerEntry, ReplicationLedger } from '../../../functions/ledger/ledger.js';
import { unitAsset } from '../../support/unit-asset.js';
import { decideKey } from '../../../functions/restore/restore-data.js';
import type { VersionedStore } from '../../../functions/storage/versioned-store.js';

const asset = unitAsset();
const request = {
  asset: 'training',
  prefix: 'train/',
  asOf: '2026-11-26T12:00:00.000Z',
  target: { bucket: 'restored', prefix: 'train/', region: 'us-east-1' },
  overwriteNewer: false,
};

const entry = (
  sourceVersionId: string,
  at: string,
  replicaVersionId: string | undefined,
  extra: Partial<LedgerEntry> = {},
): LedgerEntry => ({
  asset: 'training',
  key: 'train/a.bin',
  sourceVersionId,
  entryType: 'object',
  state: replicaVersionId ? 'replicated' : 'pending',
  sourceLastModified: at,
  size: 10,
  sha256: sourceVersionId.padEnd(64, '0'),
  ...(replicaVersionId && { replicaVersionId }),
  attempts: 1,
  ...extra,
});

function deps(entries: LedgerEntry[]) {
  return {
    ledger: { entriesFor: async () => entries } as unknown as ReplicationLedger,
    target: { current: async () => undefined } as unknown as VersionedStore,
  };
}

describe('which version is "as of" a time', () => {
  it('takes the newest version written at or before the time', async () => {
    const d = await decideKey(
      deps([entry('v1', '2026-11-26T10:00:00.000Z', 'r1'), entry('v2', '2026-11-26T13:00:00.000Z', 'r2')]),
      asset,
      request,
      'train/a.bin',
    );
    expect(d).toMatchObject({ action: 'restore', reason: 'absent', version: { sourceVersionId: 'v1' } });
  });

  it('breaks a tie of write times (whole seconds) by the order of the versions in the replica', async () => {
    const tied = [entry('vB', '2026-11-26T11:00:00.000Z', 'rB'), entry('vA', '2026-11-26T11:00:00.000Z', 'rA')];
    const d = await decideKey(
      deps(tied),
      asset,
      request,
      'train/a.bin',
      new Map([
        ['rA', 0],
        ['rB', 1],
      ]),
    );
    expect(d.version?.sourceVersionId).toBe('vB');
    const reversed = await decideKey(
      deps(tied),
      asset,
      request,
      'train/a.bin',
      new Map([
        ['rB', 0],
        ['rA', 1],
      ]),
    );
    expect(reversed.version?.sourceVersionId).toBe('vA');
  });

  it('never resolves a tie in favour of an older replicated version when the other was not replicated', async () => {
    const tied = [entry('vPending', '2026-11-26T11:00:00.000Z', undefined), entry('vOld', '2026-11-26T11:00:00.000Z', 'rOld')];
    const d = await decideKey(deps(tied), asset, request, 'train/a.bin', new Map([['rOld', 0]]));
    expect(d).toMatchObject({ action: 'skip', reason: 'not-in-replica' });
  });

  it('a delete at the time means nothing to restore; nothing at the time means absent', async () => {
    const deleted = await decideKey(
      deps([entry('v1', '2026-11-26T10:00:00.000Z', 'r1'), entry('d1', '2026-11-26T11:00:00.000Z', 'rd', { entryType: 'delete-marker' })]),
      asset,
      request,
      'train/a.bin',
    );
    expect(deleted).toMatchObject({ action: 'skip', reason: 'deleted-at-time' });
    const later = await decideKey(deps([entry('v9', '2026-11-26T13:00:00.000Z', 'r9')]), asset, request, 'train/a.bin');
    expect(later).toMatchObject({ action: 'skip', reason: 'absent-at-time' });
  });
});
