import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReplicationLedger } from '../../functions/ledger/ledger.js';
import { replicaKeyFor } from '../../functions/policy/assets.js';
import { KeyBusyError } from '../../functions/replication/errors.js';
import { replicateKey, type ReplicationDeps } from '../../functions/replication/replicate-key.js';
import { Replicator } from '../../functions/replication/replicator.js';
import { S3VersionedStore } from '../../functions/storage/s3-versioned-store.js';
import { type StackUnderTest, startStack } from '../support/local-stack.js';

let t: StackUnderTest;
beforeAll(async () => {
  t = await startStack();
});
afterAll(async () => t?.stop());

const deps = (ledger: ReplicationLedger = t.ledger, claimOwner = 'container-a'): ReplicationDeps => {
  const store = new S3VersionedStore(t.s3);
  return { source: store, replica: store, ledger, now: () => new Date(), claimOwner, claimSeconds: 60 };
};

/** A ledger whose next "replicated" write fails, as when a Lambda dies between its copy and its ledger write. */
function crashingOnce(ledger: ReplicationLedger): ReplicationLedger {
  let crashed = false;
  return new Proxy(ledger, {
    get(target, property, receiver) {
      if (property === 'markReplicated' && !crashed) {
        return async () => {
          crashed = true;
          throw new Error('Lambda timed out after the copy');
        };
      }
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describe('crashes and concurrent invocations (real S3 and DynamoDB adapters on the local AWS)', () => {
  it('a copy whose ledger write was lost is adopted on retry, not copied again', async () => {
    const asset = t.asset('training');
    const key = 'train/crash/shard.bin';
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: 'crash-test' }));
    await t.takeMessages();

    await expect(replicateKey(deps(crashingOnce(t.ledger)), asset, key)).rejects.toThrow(/timed out/);
    const replicaKey = replicaKeyFor(asset, key);
    expect(await new S3VersionedStore(t.s3).listVersions('it-replica', replicaKey)).toHaveLength(1);
    expect((await t.ledger.entriesFor('training', key))[0]).toMatchObject({ state: 'failed' });

    const outcome = await replicateKey(deps(), asset, key);
    expect(outcome.replicated).toEqual([expect.objectContaining({ adopted: true })]);
    expect(await new S3VersionedStore(t.s3).listVersions('it-replica', replicaKey)).toHaveLength(1);
    expect((await t.ledger.entriesFor('training', key))[0]).toMatchObject({ state: 'replicated' });
  });

  it('two invocations on one version: one copies, the other acknowledges after one claim request', async () => {
    const asset = t.asset('training');
    const key = 'train/concurrent/shard.bin';
    const { VersionId } = await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: 'concurrent' }));
    await t.takeMessages();
    const version = { versionId: VersionId!, kind: 'object' as const, size: 10 };

    const outcomes = await Promise.all([
      replicateKey(deps(t.ledger, 'container-a'), asset, key, { version }),
      replicateKey(deps(t.ledger, 'container-b'), asset, key, { version }),
    ]);
    expect(outcomes.map((o) => [o.replicated.length, o.claimedElsewhere]).sort()).toEqual([
      [0, 1],
      [1, 0],
    ]);
    expect(await new S3VersionedStore(t.s3).listVersions('it-replica', replicaKeyFor(asset, key))).toHaveLength(1);

    // The claim ended with the ledger write: a later event finds the version done.
    const again = await replicateKey(deps(t.ledger, 'container-b'), asset, key, { version });
    expect(again).toMatchObject({ replicated: [], alreadyReplicated: 1 });
    // A message that names no version (reconcile's) lists the key and finds it done too.
    expect(await replicateKey(deps(t.ledger, 'container-b'), asset, key)).toMatchObject({ replicated: [], alreadyReplicated: 1 });
  });

  it('a version written while another invocation copies an earlier one waits for it (deferred), then lands after it', async () => {
    const asset = t.asset('training');
    const key = 'train/neighbours/shard.bin';
    const first = await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: 'v1' }));
    await t.takeMessages();
    // The holder of v1 is slow on its listing: meanwhile v2 lands and its event is processed.
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const store = new S3VersionedStore(t.s3);
    let listed: () => void = () => undefined;
    const holderListed = new Promise<void>((resolve) => (listed = resolve));
    const slowSource = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'listVersions') {
          return async (bucket: string, k: string) => {
            const versions = await target.listVersions(bucket, k);
            listed();
            await gate;
            return versions;
          };
        }
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const v1 = { versionId: first.VersionId!, kind: 'object' as const, size: 2 };
    const holder = replicateKey({ ...deps(), source: slowSource }, asset, key, { version: v1 });
    await holderListed;
    const second = await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: 'v2' }));
    const v2 = { versionId: second.VersionId!, kind: 'object' as const, size: 2 };
    await expect(replicateKey(deps(t.ledger, 'container-b'), asset, key, { version: v2 })).rejects.toBeInstanceOf(KeyBusyError);
    open();
    const outcome = await holder;
    expect(outcome.replicated.map((r) => r.sourceVersionId)).toEqual([v1.versionId]); // its listing predates v2
    // The deferred message comes back: v2 is copied, after v1.
    const later = await replicateKey(deps(t.ledger, 'container-b'), asset, key, { version: v2 });
    expect(later.replicated.map((r) => r.sourceVersionId)).toEqual([v2.versionId]);
    const replica = await new S3VersionedStore(t.s3).listVersions('it-replica', replicaKeyFor(asset, key));
    expect(replica).toHaveLength(2);
    const current = await t.s3.send(new GetObjectCommand({ Bucket: 'it-replica', Key: replicaKeyFor(asset, key) }));
    expect(await current.Body!.transformToString()).toBe('v2');
    await t.takeMessages();
  });

  it('an undelete in the source (its delete marker removed) makes the replica current again, keeping the marker', async () => {
    const asset = t.asset('training');
    const key = 'train/undelete/model-card.md';
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: 'card' }));
    const marker = (await t.s3.send(new DeleteObjectCommand({ Bucket: 'it-source', Key: key }))).VersionId!;
    await t.drain();
    const replicaKey = replicaKeyFor(asset, key);
    expect((await new S3VersionedStore(t.s3).listVersions('it-replica', replicaKey)).map((v) => v.kind)).toEqual([
      'object',
      'delete-marker',
    ]);

    await t.s3.send(new DeleteObjectCommand({ Bucket: 'it-source', Key: key, VersionId: marker }));
    // S3 sends "Object Deleted" with deletion-type "Permanently Deleted" for this.
    await t.send(JSON.stringify({ Records: [{ eventSource: 'aws:s3', s3: { bucket: { name: 'it-source' }, object: { key } } }] }));
    await t.drain();
    const replica = await new S3VersionedStore(t.s3).listVersions('it-replica', replicaKey);
    expect(replica.map((v) => v.kind)).toEqual(['object', 'delete-marker', 'object']);
    const body = await t.s3.send(new GetObjectCommand({ Bucket: 'it-replica', Key: replicaKey }));
    expect(await body.Body!.transformToString()).toBe('card');
  });

  /** A key replicated as an object then a delete marker, whose marker is then removed from the source (an undelete). */
  async function undeleted(key: string, body: string) {
    const { VersionId } = await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: body }));
    const marker = (await t.s3.send(new DeleteObjectCommand({ Bucket: 'it-source', Key: key }))).VersionId!;
    await t.drain();
    await t.s3.send(new DeleteObjectCommand({ Bucket: 'it-source', Key: key, VersionId: marker }));
    return VersionId!;
  }
  const replicaState = async (key: string) => {
    const replicaKey = replicaKeyFor(t.asset('training'), key);
    const versions = await new S3VersionedStore(t.s3).listVersions('it-replica', replicaKey);
    const body = await t.s3.send(new GetObjectCommand({ Bucket: 'it-replica', Key: replicaKey }));
    return { kinds: versions.map((v) => v.kind), current: await body.Body!.transformToString() };
  };

  it('a key restated by another invocation is left to it: nothing written, until its claim is let go', async () => {
    const asset = t.asset('training');
    const key = 'train/undelete/held.md';
    const versionId = await undeleted(key, 'held');
    const entry = (await t.ledger.entriesFor('training', key)).find((e) => e.sourceVersionId === versionId)!;
    expect(await t.ledger.claimRestate(entry, 'container-b', new Date(), 60)).toBeDefined();

    const waiting = await replicateKey(deps(), asset, key);
    expect(waiting.replicated).toEqual([]);
    expect((await new S3VersionedStore(t.s3).listVersions('it-replica', replicaKeyFor(asset, key))).map((v) => v.kind)).toEqual([
      'object',
      'delete-marker',
    ]);

    await t.ledger.releaseClaim({ ...entry, entryType: 'object' }, 'container-b'); // its holder gave up
    const restated = await replicateKey(deps(), asset, key);
    expect(restated.replicated).toEqual([expect.objectContaining({ sourceVersionId: versionId })]);
    expect(await replicaState(key)).toEqual({ kinds: ['object', 'delete-marker', 'object'], current: 'held' });
    // Restated once: a second sync finds the replica current and writes nothing.
    expect((await replicateKey(deps(), asset, key)).replicated).toEqual([]);
    expect((await replicaState(key)).kinds).toHaveLength(3);
    expect((await t.ledger.entriesFor('training', key)).every((e) => e.claimExpiresAt === undefined)).toBe(true);
  });

  it('a version written and copied while a restate runs: the restate’s message comes back, and its next sync restates the newest', async () => {
    const asset = t.asset('training');
    const key = 'train/undelete/raced.md';
    await undeleted(key, 'old');
    // The restate's copy lands after another invocation copied a newer version (written meanwhile).
    const store = new S3VersionedStore(t.s3);
    let raced = false;
    const racing = new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (property !== 'copy' || raced) return typeof value === 'function' ? value.bind(target) : value;
        return async (...args: Parameters<S3VersionedStore['copy']>) => {
          raced = true;
          await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: 'new' }));
          await replicateKey(deps(t.ledger, 'container-b'), asset, key);
          return target.copy(...args);
        };
      },
    });
    const restater: ReplicationDeps = { ...deps(), replica: racing };
    await expect(replicateKey(restater, asset, key)).rejects.toBeInstanceOf(KeyBusyError);
    expect(await replicaState(key)).toEqual({ kinds: ['object', 'delete-marker', 'object', 'object'], current: 'old' });

    // The message again: the newest version is written on top.
    const next = await replicateKey(deps(), asset, key);
    expect(next.replicated).toEqual([expect.objectContaining({ sourceVersionId: expect.any(String) })]);
    expect(await replicaState(key)).toEqual({ kinds: ['object', 'delete-marker', 'object', 'object', 'object'], current: 'new' });
    expect((await replicateKey(deps(), asset, key)).replicated).toEqual([]);
    await t.takeMessages();
  });

  it('the oldest unreplicated change of an asset comes from the sparse index, oldest first', async () => {
    const version = (id: string, at: string) => ({
      asset: 'rpo-probe',
      key: `k-${id}`,
      sourceVersionId: id,
      entryType: 'object' as const,
      sourceLastModified: at,
      size: 1,
    });
    const [a, b, c] = [
      version('a', '2026-11-26T10:00:02.000Z'),
      version('b', '2026-11-26T10:00:01.000Z'),
      version('c', '2026-11-26T10:00:03.000Z'),
    ];
    await t.ledger.markPending([a, b, c], new Date());
    await t.ledger.markFailed(c, 'boom', new Date());
    expect((await t.ledger.unreplicated('rpo-probe', 1)).map((e) => e.sourceVersionId)).toEqual(['b']);
    await t.ledger.markReplicated([
      {
        version: b,
        result: {
          replicaKey: 'k-b',
          replicaVersionId: 'r',
          replicatedAt: new Date().toISOString(),
          lagSeconds: 1,
          attempts: 1,
          firstSeenAt: new Date().toISOString(),
        },
      },
    ]);
    expect((await t.ledger.unreplicated('rpo-probe', 10)).map((e) => [e.sourceVersionId, e.state])).toEqual([
      ['a', 'pending'],
      ['c', 'failed'],
    ]);
    // A replicated entry is never put back to pending by a late duplicate.
    await t.ledger.markPending([b], new Date());
    expect((await t.ledger.entriesFor('rpo-probe', 'k-b'))[0]).toMatchObject({ state: 'replicated', attempts: 1 });
    // Seen again (a retry, or reconcile), a failed entry keeps its attempts, error and first-seen time.
    const [failed] = await t.ledger.entriesFor('rpo-probe', 'k-c');
    await t.ledger.markPending([c], new Date(Date.now() + 60_000));
    expect((await t.ledger.entriesFor('rpo-probe', 'k-c'))[0]).toMatchObject({
      state: 'failed',
      attempts: 1,
      lastError: 'boom',
      firstSeenAt: failed!.firstSeenAt,
    });
  });

  it("a batch's keys are listed in one request; a listing older than the ledger is not trusted", async () => {
    const asset = t.asset('training');
    const keys = ['train/batch/a.bin', 'train/batch/b.bin', 'train/batch/c.bin'];
    for (const Key of keys) await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key, Body: Key }));
    await t.takeMessages();
    const listings: string[] = [];
    const counted = new S3VersionedStore(t.s3);
    const s3 = new S3Client({ region: 'us-east-1', forcePathStyle: true });
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'ListObjectVersionsCommand') listings.push(String((args.input as { Prefix?: string }).Prefix));
        return next(args);
      },
      { step: 'initialize' },
    );
    const listingStore = new S3VersionedStore(s3);
    const message = (key: string) => JSON.stringify({ reconcile: { bucket: 'it-source', keys: [key] } });
    const replicator = new Replicator(t.policy, () => ({ ...deps(), source: listingStore, replica: counted }));
    const batch = replicator.batch();
    await batch.prefetch(keys.map(message));
    expect(listings).toEqual(['train/batch/']);

    // Meanwhile another invocation replicates a newer version of a.bin: the prefetched listing lacks it.
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: keys[0], Body: 'newer' }));
    await t.takeMessages();
    await replicateKey(deps(t.ledger, 'container-b'), asset, keys[0]!);

    for (const key of keys) await batch.replicateMessage(message(key));
    // b and c used the batch's listing; a was listed again, so its newer version is not misread as
    // deleted from the source (which would write the older one on top again).
    expect(listings).toEqual(['train/batch/', 'train/batch/a.bin']);
    const replicaA = await counted.listVersions('it-replica', replicaKeyFor(asset, keys[0]!));
    expect(replicaA).toHaveLength(2);
    const current = await t.s3.send(new GetObjectCommand({ Bucket: 'it-replica', Key: replicaKeyFor(asset, keys[0]!) }));
    expect(await current.Body!.transformToString()).toBe('newer');
    for (const key of keys.slice(1)) {
      expect((await t.ledger.entriesFor('training', key)).map((e) => e.state)).toEqual(['replicated']);
    }
  });
});
