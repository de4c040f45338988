import { describe, expect, it } from 'vitest';
import type { ReplicatedRecord } from '../../functions/ledger/ledger.js';
import { GroupCommit } from '../../functions/replication/group-commit.js';

const record = (key: string): ReplicatedRecord => ({
  version: { asset: 'a', key, sourceVersionId: 'v1', entryType: 'object', sourceLastModified: '2026-11-26T12:00:00.000Z', size: 1 },
  result: {
    replicaKey: `dr/${key}`,
    replicaVersionId: 'r1',
    replicatedAt: '2026-11-26T12:00:01.000Z',
    lagSeconds: 1,
    attempts: 1,
    firstSeenAt: '2026-11-26T12:00:00.500Z',
  },
});
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  it('writes once every running sync waits on it: ten syncs, one write (a sync not yet begun is not waited for)', async () => {
    const writes: string[][] = [];
    const group = new GroupCommit(async (records) => void writes.push(records.map((r) => r.version.key)));
    const keys = Array.from({ length: 10 }, (_, i) => `k${i}`);
    await Promise.all(
      keys.map((key, i) =>
        group.run(async () => {
          for (let n = 0; n <= i; n++) await tick(); // the copies finish at different times, after every sync began
          await group.record(record(key));
        }),
      ),
    );
    expect(writes).toEqual([keys]);
  });

  it('does not hold a record for a sync that is still running once 25 are waiting', async () => {
    const writes: number[] = [];
    const group = new GroupCommit(async (records) => void writes.push(records.length));
    let release: () => void = () => undefined;
    const slow = group.run(() => new Promise<void>((resolve) => (release = resolve)));
    await Promise.all(Array.from({ length: 25 }, (_, i) => group.run(() => group.record(record(`k${i}`)))));
    expect(writes).toEqual([25]);
    release();
    await slow;
  });

  it('writes what is waiting when a sync ends without a record, and a sync continues after its write', async () => {
    const writes: string[][] = [];
    const group = new GroupCommit(async (records) => void writes.push(records.map((r) => r.version.key)));
    let fail: (error: Error) => void = () => undefined;
    const failing = group.run(() => new Promise<void>((_, reject) => (fail = reject)));
    const twoVersions = group.run(async () => {
      await group.record(record('k/v1'));
      await group.record(record('k/v2')); // the key's next version only after the first is written
    });
    await tick();
    expect(writes).toEqual([]); // the failing sync is still running
    fail(new Error('copy failed'));
    await expect(failing).rejects.toThrow('copy failed');
    await twoVersions;
    expect(writes).toEqual([['k/v1'], ['k/v2']]);
  });

  it('rejects every record of a group whose write failed', async () => {
    const group = new GroupCommit(async () => Promise.reject(new Error('throttled')));
    const results = await Promise.allSettled(['a', 'b'].map((key) => group.run(() => group.record(record(key)))));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
