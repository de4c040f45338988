import { describe, expect, it } from 'vitest';
import type { LedgerEntry, ReplicationLedger } from '../../../functions/ledger/ledger.js';
import { unitAsset } from '../../support/unit-asset.js';
import { decideKey } from '../../../functions/restore/restore-data.js';
import type { VersionEntry, VersionedStore } from '../../../functions/storage/versioned-store.js';

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

/** A ledger holding `entries`; a replica whose versions carry `metadata` (by replica version id). */
function deps(entries: LedgerEntry[], metadata: Record<string, Record<string, string>> = {}) {
  const described: string[] = [];
  return {
    ledger: { entriesFor: async () => entries } as unknown as ReplicationLedger,
    target: { current: async () => undefined } as unknown as VersionedStore,
    replica: {
      describe: async (ref: { versionId: string }) => (
        described.push(ref.versionId),
        { size: 10, metadata: metadata[ref.versionId] ?? {} }
      ),
    } as unknown as VersionedStore,
    described,
  };
}

/** The key's versions in the replica, oldest first, an hour apart from 09:00 (object versions unless named d*). */
const inReplica = (...ids: string[]): VersionEntry[] =>
  ids.map((versionId, i) => ({
    kind: versionId.startsWith('d') ? 'delete-marker' : 'object',
    versionId,
    lastModified: new Date(Date.parse('2026-11-26T09:00:00.000Z') + i * 3_600_000),
    size: versionId.startsWith('d') ? 0 : 10,
    isLatest: i === ids.length - 1,
  }));

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
    const d = await decideKey(deps(tied), asset, request, 'train/a.bin', inReplica('rA', 'rB'));
    expect(d.version?.sourceVersionId).toBe('vB');
    const reversed = await decideKey(deps(tied), asset, request, 'train/a.bin', inReplica('rB', 'rA'));
    expect(reversed.version?.sourceVersionId).toBe('vA');
  });

  it('never resolves a tie in favour of an older replicated version when the other was not replicated', async () => {
    const tied = [entry('vPending', '2026-11-26T11:00:00.000Z', undefined), entry('vOld', '2026-11-26T11:00:00.000Z', 'rOld')];
    const d = await decideKey(deps(tied), asset, request, 'train/a.bin', inReplica('rOld'));
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

describe('with the ledger lost: the replica’s own metadata', () => {
  const ours = (sourceVersionId: string, sha256?: string) => ({
    'dr-asset': 'training',
    'dr-source-version-id': sourceVersionId,
    ...(sha256 && { 'dr-source-sha256': sha256 }),
  });

  it('restores the newest replica version written by the time, with the source version and SHA-256 it records', async () => {
    const d = deps([], { r1: ours('v1', 'a'.repeat(64)), r2: ours('v2', 'b'.repeat(64)), r3: ours('v3', 'c'.repeat(64)) });
    // Replicated at 09:00, 10:00 and 11:00 (asOf is 12:00, as the request says).
    const decision = await decideKey(d, asset, request, 'train/a.bin', inReplica('r1', 'r2', 'r3'));
    expect(decision).toMatchObject({
      action: 'restore',
      reason: 'absent',
      fromReplica: true,
      version: { sourceVersionId: 'v3', replicaVersionId: 'r3', replicaKey: 'train/a.bin', sha256: 'c'.repeat(64), state: 'replicated' },
    });
    expect(d.described.sort()).toEqual(['r1', 'r2', 'r3']);
  });

  it('never restores a version the replicator did not write (no metadata of this asset), and honours a delete marker', async () => {
    const stray = await decideKey(
      deps([], { r1: ours('v1', 'a'.repeat(64)), r2: { 'dr-asset': 'evals' } }),
      asset,
      request,
      'train/a.bin',
      inReplica('r1', 'r2'),
    );
    expect(stray.version).toMatchObject({ replicaVersionId: 'r1' });
    const deleted = await decideKey(deps([], { r1: ours('v1', 'a'.repeat(64)) }), asset, request, 'train/a.bin', inReplica('r1', 'd1'));
    expect(deleted).toMatchObject({ action: 'skip', reason: 'deleted-at-time', fromReplica: true });
  });

  it('reads no metadata when the ledger names every replica version of the key', async () => {
    const d = deps([entry('v1', '2026-11-26T10:00:00.000Z', 'r1')], { r1: ours('v1') });
    expect((await decideKey(d, asset, request, 'train/a.bin', inReplica('r1'))).fromReplica).toBeUndefined();
    expect(d.described).toEqual([]);
  });

  it('a ledger that knows only what came after (emptied, then the damage replicated) does not hide the versions before it', async () => {
    // r1 and r2 (09:00, 10:00) were replicated before the ledger was emptied; the damage (v3, 13:00) after it.
    const damage = entry('v3', '2026-11-26T13:00:00.000Z', 'r3');
    const d = deps([damage], { r1: ours('v1', 'a'.repeat(64)), r2: ours('v2', 'b'.repeat(64)) });
    const versions = inReplica('r1', 'r2');
    versions.push({ kind: 'object', versionId: 'r3', lastModified: new Date('2026-11-26T13:00:05.000Z'), size: 10, isLatest: true });
    const decision = await decideKey(d, asset, request, 'train/a.bin', versions);
    expect(decision).toMatchObject({ action: 'restore', fromReplica: true, version: { sourceVersionId: 'v2', replicaVersionId: 'r2' } });
    // Only the versions the ledger does not name, and written by asOf, are read.
    expect(d.described.sort()).toEqual(['r1', 'r2']);
  });

  it('a source version the ledger holds as pending, whose copy is in the replica, is restored from the replica’s record', async () => {
    const d = deps([entry('v1', '2026-11-26T08:30:00.000Z', undefined)], { r1: ours('v1', 'a'.repeat(64)) });
    const decision = await decideKey(d, asset, request, 'train/a.bin', inReplica('r1'));
    expect(decision).toMatchObject({ action: 'restore', fromReplica: true, version: { sourceVersionId: 'v1', replicaVersionId: 'r1' } });
  });
});
