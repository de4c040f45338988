import { describe, expect, it } from 'vitest';
import type { Ledger, PendingVersion, ReplicatedVersion, UploadProgress } from '../../functions/ledger/ledger.js';

/**
 * The one contract of the replication ledger, run over DynamoLedger (on the local AWS) and over
 * MemoryLedger, the double the unit tests use, so that the double cannot drift from the adapter.
 * Each test works in an asset of its own.
 */
export function ledgerContract(name: string, ledger: () => Ledger) {
  let serial = 0;
  const freshAsset = () => `contract-${process.pid}-${(serial++).toString(36)}`;
  const t0 = new Date('2026-11-26T10:00:00.000Z');
  const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
  const version = (asset: string, key: string, sourceVersionId: string, writtenAt = t0, size = 10): PendingVersion => ({
    asset,
    key,
    sourceVersionId,
    entryType: 'object',
    sourceLastModified: writtenAt.toISOString(),
    size,
  });
  const replicated = (overrides: Partial<ReplicatedVersion> = {}): ReplicatedVersion => ({
    replicaKey: 'replica/k',
    replicaVersionId: 'r1',
    sha256: 'a'.repeat(64),
    replicatedAt: at(5).toISOString(),
    lagSeconds: 5,
    attempts: 1,
    firstSeenAt: at(1).toISOString(),
    ...overrides,
  });
  /** What the entry of a version that failed holds: its attempts, its last error and when, and when it was first seen. */
  const failedEntry = (e: { attempts: number; lastError: string; lastAttemptAt: Date; firstSeenAt: Date }) => ({
    state: 'failed',
    attempts: e.attempts,
    lastError: e.lastError,
    lastAttemptAt: e.lastAttemptAt.toISOString(),
    firstSeenAt: e.firstSeenAt.toISOString(),
  });

  describe(`ledger contract: ${name}`, () => {
    it('records a new version as pending, seen now, with no attempts; listed as unreplicated', async () => {
      const asset = freshAsset();
      const v = version(asset, 'a/b.txt', 'v1');
      await ledger().markPending([v], at(1));
      expect(await ledger().entriesFor(asset, 'a/b.txt')).toEqual([
        expect.objectContaining({ ...v, state: 'pending', attempts: 0, firstSeenAt: at(1).toISOString() }),
      ]);
      expect((await ledger().unreplicated(asset)).map((e) => e.sourceVersionId)).toEqual(['v1']);
    });

    it('keeps attempts, last error and first-seen time when a version is marked pending again, whether or not the caller says it is recorded', async () => {
      const asset = freshAsset();
      const v = version(asset, 'k', 'v1');
      await ledger().markPending([v], at(1));
      await ledger().markFailed(v, 'Error: boom', at(2));
      await ledger().markPending([v], at(3));
      await ledger().markPending([v], at(4), new Set(['v1']));
      const [entry] = await ledger().entriesFor(asset, 'k');
      expect(entry).toMatchObject(failedEntry({ attempts: 1, lastError: 'Error: boom', lastAttemptAt: at(2), firstSeenAt: at(1) }));
    });

    it('creates the entry of a version said to be recorded that has none', async () => {
      const asset = freshAsset();
      await ledger().markPending([version(asset, 'k', 'v1')], at(1), new Set(['v1']));
      expect(await ledger().entriesFor(asset, 'k')).toEqual([
        expect.objectContaining({ state: 'pending', attempts: 0, firstSeenAt: at(1).toISOString() }),
      ]);
    });

    it('counts failed attempts and records the last error and time', async () => {
      const asset = freshAsset();
      const v = version(asset, 'k', 'v1');
      await ledger().markFailed(v, 'Error: first', at(1));
      await ledger().markFailed(v, 'Error: second', at(2));
      const [entry] = await ledger().entriesFor(asset, 'k');
      expect(entry).toMatchObject(failedEntry({ attempts: 2, lastError: 'Error: second', lastAttemptAt: at(2), firstSeenAt: at(1) }));
      expect(await ledger().unreplicated(asset)).toHaveLength(1);
    });

    it('replaces a replicated entry whole, takes it off the unreplicated list, and never turns it back into pending or failed', async () => {
      const asset = freshAsset();
      const v = version(asset, 'k', 'v1');
      await ledger().markPending([v], at(1));
      await ledger().markReplicated([{ version: v, result: replicated() }]);
      await ledger().markPending([v], at(6));
      await ledger().markPending([v], at(6), new Set(['v1']));
      await ledger().markFailed(v, 'Error: late duplicate', at(7));
      await ledger().markSourceDeleted((await ledger().entriesFor(asset, 'k'))[0]!, at(8));
      const [entry] = await ledger().entriesFor(asset, 'k');
      expect(entry).toMatchObject({ ...v, ...replicated(), state: 'replicated', lastAttemptAt: at(5).toISOString() });
      expect(entry!.lastError).toBeUndefined();
      expect(await ledger().unreplicated(asset)).toEqual([]);
    });

    it('marks a version permanently deleted from the source, with the reason, off the unreplicated list', async () => {
      const asset = freshAsset();
      const v = version(asset, 'k', 'v1');
      await ledger().markPending([v], at(1));
      await ledger().markSourceDeleted((await ledger().entriesFor(asset, 'k'))[0]!, at(2));
      const [entry] = await ledger().entriesFor(asset, 'k');
      expect(entry).toMatchObject({
        state: 'source-deleted',
        lastAttemptAt: at(2).toISOString(),
        lastError: expect.stringContaining('permanently deleted'),
      });
      expect(await ledger().unreplicated(asset)).toEqual([]);
    });

    it('lists unreplicated entries oldest write first, within a limit, and answers the RPO queries', async () => {
      const asset = freshAsset();
      const [a, b, c] = [version(asset, 'a', 'va', at(20)), version(asset, 'b', 'vb', at(10)), version(asset, 'c', 'vc', at(30))];
      await ledger().markPending([a, b, c], at(31));
      await ledger().markFailed(c, 'Error: boom', at(32));
      expect((await ledger().unreplicated(asset)).map((e) => e.key)).toEqual(['b', 'a', 'c']);
      expect((await ledger().unreplicated(asset, 1)).map((e) => e.key)).toEqual(['b']);

      expect(await ledger().lastReplicated(asset)).toBeUndefined();
      await ledger().markReplicated([
        { version: b, result: replicated({ replicatedAt: at(40).toISOString(), lagSeconds: 30 }) },
        { version: a, result: replicated({ replicatedAt: at(50).toISOString(), lagSeconds: 30 }) },
      ]);
      expect((await ledger().unreplicated(asset)).map((e) => e.key)).toEqual(['c']);
      expect(await ledger().lastReplicated(asset)).toMatchObject({
        key: 'a',
        sourceVersionId: 'va',
        replicatedAt: at(50).toISOString(),
        lagSeconds: 30,
      });
      expect((await ledger().replicatedSince(asset, at(40), 10)).map((r) => r.key)).toEqual(['a', 'b']);
      expect((await ledger().replicatedSince(asset, at(41), 10)).map((r) => r.key)).toEqual(['a']);
      expect((await ledger().replicatedSince(asset, at(0), 1)).map((r) => r.key)).toEqual(['a']);
      expect(await ledger().unreplicated(freshAsset())).toEqual([]);
    });

    it('records a failure of a whole key on the unreplicated list from its first failure, and clears it', async () => {
      const asset = freshAsset();
      await ledger().markKeyFailed(asset, 'k', 'AccessDenied: listing', at(1));
      await ledger().markKeyFailed(asset, 'k', 'AccessDenied: again', at(2));
      const [failure] = await ledger().unreplicated(asset);
      expect(failure).toMatchObject({
        key: 'k',
        entryType: 'key',
        state: 'failed',
        attempts: 2,
        lastError: 'AccessDenied: again',
        sourceLastModified: at(1).toISOString(),
      });
      expect(await ledger().entriesFor(asset, 'k')).toHaveLength(1);
      await ledger().clearKeyFailure(asset, 'k');
      expect(await ledger().entriesFor(asset, 'k')).toEqual([]);
      expect(await ledger().unreplicated(asset)).toEqual([]);
    });

    it('keeps one key apart from another, whatever its characters', async () => {
      const asset = freshAsset();
      const keys = ['a', 'a/', 'a b', 'ä', 'a\r\nb', 'x'.repeat(1024)];
      await ledger().markPending(
        keys.map((k, i) => version(asset, k, `v${i}`)),
        at(1),
      );
      for (const [i, k] of keys.entries())
        expect((await ledger().entriesFor(asset, k)).map((e) => [e.key, e.sourceVersionId])).toEqual([[k, `v${i}`]]);
    });

    it('saves, replaces and clears a multipart copy in progress, per source version', async () => {
      const asset = freshAsset();
      const progress: UploadProgress = {
        uploadId: 'up-1',
        partSizeBytes: 5 * 1024 * 1024,
        startedAt: at(1).toISOString(),
        sourceEtag: '"etag"',
        sourcePartSha256: { 1: 'a'.repeat(64), 3: 'c'.repeat(64) },
        replicaVersionId: 'r1',
        verifiedParts: [1, 3, 9],
        adopted: true,
      };
      expect(await ledger().upload(asset, 'k', 'v1')).toBeUndefined();
      await ledger().saveUpload(asset, 'k', 'v1', progress);
      await ledger().saveUpload(asset, 'k', 'v2', { uploadId: 'up-2', partSizeBytes: 1, startedAt: at(2).toISOString() });
      expect(await ledger().upload(asset, 'k', 'v1')).toEqual(progress);
      await ledger().saveUpload(asset, 'k', 'v1', { uploadId: 'up-1', partSizeBytes: 5 * 1024 * 1024, startedAt: at(1).toISOString() });
      expect(await ledger().upload(asset, 'k', 'v1')).toEqual({
        uploadId: 'up-1',
        partSizeBytes: 5 * 1024 * 1024,
        startedAt: at(1).toISOString(),
      });
      await ledger().clearUpload(asset, 'k', 'v1');
      expect(await ledger().upload(asset, 'k', 'v1')).toBeUndefined();
      expect(await ledger().upload(asset, 'k', 'v2')).toMatchObject({ uploadId: 'up-2' });
      expect(await ledger().entriesFor(asset, 'k')).toEqual([]); // progress is not an entry
    });

    it('flags the version entries whose multipart copy has progress saved (one read tells a sync what to resume or give up), never a key failure', async () => {
      const asset = freshAsset();
      await ledger().markPending([version(asset, 'k', 'v1'), version(asset, 'k', 'v2', at(2))], at(3));
      await ledger().markKeyFailed(asset, 'k', 'AccessDenied: listing', at(4));
      await ledger().saveUpload(asset, 'k', 'v2', { uploadId: 'up-2', partSizeBytes: 5, startedAt: at(5).toISOString() });
      await ledger().saveUpload(asset, 'k', '(unknown)', { uploadId: 'up-x', partSizeBytes: 5, startedAt: at(5).toISOString() });
      const flagged = (await ledger().entriesFor(asset, 'k')).map((e) => [e.entryType, e.sourceVersionId, e.uploadSaved ?? false]).sort();
      expect(flagged).toEqual([
        ['key', '(unknown)', false],
        ['object', 'v1', false],
        ['object', 'v2', true],
      ]);
      await ledger().clearUpload(asset, 'k', 'v2');
      expect((await ledger().entriesFor(asset, 'k')).some((e) => e.uploadSaved)).toBe(false);
    });

    it('gives a version to one claimant at a time, until its claim expires or is let go; the claim is the pending entry', async () => {
      const asset = freshAsset();
      const v = version(asset, 'k', 'v1');
      expect(await ledger().claimVersion(v, 'one', at(0), 60)).toEqual({ claimed: true });
      expect((await ledger().unreplicated(asset)).map((e) => [e.sourceVersionId, e.state])).toEqual([['v1', 'pending']]);
      const refused = await ledger().claimVersion(v, 'two', at(30), 60);
      expect(refused).toEqual({
        claimed: false,
        entry: expect.objectContaining({ state: 'pending', claimOwner: 'one', claimExpiresAt: at(60).getTime() }),
      });
      expect(await ledger().claimVersion(version(asset, 'k', 'v2'), 'two', at(30), 60)).toEqual({ claimed: true }); // a neighbour is free
      expect((await ledger().claimVersion(v, 'two', at(60), 60)).claimed).toBe(false); // held to the last millisecond
      const taken = await ledger().claimVersion(v, 'two', at(61), 60); // expired: its holder is dead
      expect(taken).toEqual({ claimed: true, previous: expect.objectContaining({ claimOwner: 'one', attempts: 0 }) });
      await ledger().releaseClaim(v, 'one'); // not its claim any more: nothing happens
      expect((await ledger().claimVersion(v, 'three', at(62), 60)).claimed).toBe(false);
      await ledger().releaseClaim(v, 'two');
      // Let go, the claim can be taken at once; its owner stays, the sign that an attempt was made.
      const released = await ledger().claimVersion(v, 'three', at(62), 60);
      expect(released).toEqual({ claimed: true, previous: expect.objectContaining({ claimOwner: 'two' }) });
      expect(released.claimed && released.previous).not.toHaveProperty('claimExpiresAt');
    });

    it('gives a replicated version to one restater at a time, until its claim expires, is let go, or the restated copy is recorded', async () => {
      const asset = freshAsset();
      const v = version(asset, 'k', 'v1');
      await ledger().markReplicated([{ version: v, result: replicated() }]);
      const entry = (await ledger().entriesFor(asset, 'k'))[0]!;
      expect(await ledger().claimRestate(entry, 'one', at(0), 60)).toMatchObject({
        state: 'replicated',
        replicaVersionId: entry.replicaVersionId,
        claimOwner: 'one',
        claimExpiresAt: at(60).getTime(),
      });
      expect(await ledger().claimRestate(entry, 'two', at(60), 60)).toBeUndefined(); // held to the last millisecond
      expect((await ledger().claimVersion(v, 'two', at(1), 60)).claimed).toBe(false); // still replicated
      expect(await ledger().claimRestate(entry, 'two', at(61), 60)).toMatchObject({ claimOwner: 'two' }); // expired: its holder is dead
      await ledger().releaseClaim(v, 'two');
      expect(await ledger().claimRestate(entry, 'three', at(62), 60)).toMatchObject({ claimOwner: 'three' });
      await ledger().markReplicated([{ version: v, result: replicated({ replicaVersionId: 'again', attempts: 2 }) }]);
      const [restated] = await ledger().entriesFor(asset, 'k');
      expect(restated).toMatchObject({ state: 'replicated', replicaVersionId: 'again' });
      expect(restated).not.toHaveProperty('claimExpiresAt');
      // Claimed with the entry read before the last restate: what comes back is the entry as it is now.
      expect(await ledger().claimRestate(entry, 'four', at(63), 60)).toMatchObject({ replicaVersionId: 'again', claimOwner: 'four' });
      // Only a replicated version is restated.
      await ledger().markPending([version(asset, 'k', 'v2')], at(0));
      expect(await ledger().claimRestate((await ledger().entriesFor(asset, 'k'))[1]!, 'one', at(64), 60)).toBeUndefined();
    });

    it('refuses a claim on a replicated or source-deleted version, returning the entry; a failure ends the claim and keeps the count', async () => {
      const asset = freshAsset();
      const done = version(asset, 'k', 'v1');
      await ledger().claimVersion(done, 'one', at(0), 60);
      await ledger().markReplicated([{ version: done, result: replicated() }]);
      expect(await ledger().claimVersion(done, 'two', at(100), 60)).toEqual({
        claimed: false,
        entry: expect.objectContaining({ state: 'replicated', replicaVersionId: 'r1' }),
      });
      const [entry] = await ledger().entriesFor(asset, 'k');
      expect(entry).not.toHaveProperty('claimOwner');

      const gone = version(asset, 'k', 'v2');
      await ledger().claimVersion(gone, 'one', at(0), 60);
      await ledger().markSourceDeleted(
        (await ledger().entriesFor(asset, 'k')).find((e) => e.sourceVersionId === 'v2')!,
        at(1),
        'one',
      );
      expect(await ledger().claimVersion(gone, 'two', at(2), 60)).toMatchObject({ claimed: false, entry: { state: 'source-deleted' } });

      const failing = version(asset, 'k', 'v3');
      await ledger().claimVersion(failing, 'one', at(0), 60);
      await ledger().markFailed(failing, 'Error: boom', at(1));
      const again = await ledger().claimVersion(failing, 'two', at(2), 60); // no wait for the expiry: the failure ended the claim
      expect(again).toEqual({
        claimed: true,
        previous: expect.objectContaining({ state: 'failed', attempts: 1, lastError: 'Error: boom' }),
      });
      const [claimedAgain] = (await ledger().entriesFor(asset, 'k')).filter((e) => e.sourceVersionId === 'v3');
      expect(claimedAgain).toMatchObject({
        ...failedEntry({ attempts: 1, lastError: 'Error: boom', lastAttemptAt: at(1), firstSeenAt: at(0) }),
        claimOwner: 'two',
      });
    });

    it('does not mark a version another owner holds a live claim on as deleted from the source; its own claim’s holder may', async () => {
      const asset = freshAsset();
      const v = version(asset, 'k', 'v1');
      await ledger().claimVersion(v, 'holder', at(0), 60);
      const [entry] = await ledger().entriesFor(asset, 'k');
      await ledger().markSourceDeleted(entry!, at(1), 'someone-else');
      await ledger().markSourceDeleted(entry!, at(1));
      expect((await ledger().entriesFor(asset, 'k'))[0]).toMatchObject({ state: 'pending', claimOwner: 'holder' });
      await ledger().markSourceDeleted(entry!, at(2), 'holder');
      expect((await ledger().entriesFor(asset, 'k'))[0]).toMatchObject({ state: 'source-deleted' });
    });

    it('writes replicated entries in groups larger than one request takes (25), every one of them', async () => {
      const asset = freshAsset();
      const versions = Array.from({ length: 60 }, (_, i) => version(asset, `k${i}`, 'v1'));
      await ledger().markReplicated(versions.map((v) => ({ version: v, result: replicated() })));
      for (const v of versions) expect((await ledger().entriesFor(asset, v.key)).map((e) => e.state)).toEqual(['replicated']);
    });
  });
}
