import { GetItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutBucketNotificationConfigurationCommand, PutObjectCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StackUnderTest, startStack } from '../support/local-stack.js';

let t: StackUnderTest;
let reconcile: (event: unknown) => Promise<{ results: { finished: boolean; counts: any; afterKey?: string }[] }>;
beforeAll(async () => {
  t = await startStack();
  reconcile = (event) => t.reconcile(event) as never;
});
afterAll(async () => t?.stop());

const put = (key: string, body: string) => t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: key, Body: body }));

describe('reconcile (local AWS)', () => {
  it('finds lost events, objects from before the stack and partly replicated keys, over several invocations, and the replica ends identical', async () => {
    // Objects written before notifications were on (before the stack was deployed).
    await t.s3.send(new PutBucketNotificationConfigurationCommand({ Bucket: 'it-source', NotificationConfiguration: {} }));
    await put('train/before/a.txt', 'a');
    await put('train/before/b c+d é.txt', 'b');
    await put('train/before/b c+d é.txt', 'b2');
    await t.s3.send(
      new PutBucketNotificationConfigurationCommand({ Bucket: 'it-source', NotificationConfiguration: { EventBridgeConfiguration: {} } }),
    );
    // A key replicated once, whose later overwrite and delete events were lost; a key that is fine.
    await put('train/partial/x.bin', 'x1');
    await put('train/ok/fine.txt', 'fine');
    await t.drain();
    await put('train/partial/x.bin', 'x2');
    await t.s3.send(new DeleteObjectCommand({ Bucket: 'it-source', Key: 'train/partial/x.bin' }));
    // New keys whose events were lost.
    for (let i = 0; i < 4; i++) await put(`train/lost/${i}.txt`, `lost ${i}`);
    await put('train/lost/late.txt', 'late');
    const dropped = await t.takeMessages();
    expect(dropped).toHaveLength(7);

    // Act: three keys per invocation, as if each invocation ran out of time.
    const runs = [];
    for (let i = 0; i < 10; i++) {
      const { results } = await reconcile({ asset: 'training', maxKeys: 3 });
      runs.push(results[0]!);
      if (results[0]!.finished) break;
    }
    expect(runs.length).toBeGreaterThan(2);
    expect(runs.slice(0, -1).every((r) => !r.finished && r.afterKey)).toBe(true);
    const last = runs.at(-1)!;
    expect(last.finished).toBe(true);
    expect(last.counts).toMatchObject({
      keysQueued: 8,
      byCause: { 'missing-key': 7, 'missing-versions': 1, 'stale-latest': 0 },
    });
    expect(last.counts.keysScanned).toBe(9);

    // The gaps are pending in the ledger before they are copied: the live RPO already counts them.
    const pending = await t.ledger.unreplicated('training');
    expect(pending.map((e) => e.key)).toEqual(expect.arrayContaining(['train/lost/0.txt', 'train/before/a.txt', 'train/partial/x.bin']));

    // The run is recorded, and the checkpoint is gone.
    const db = new DynamoDBClient({ region: 'us-west-2' });
    const checkpoint = await db.send(
      new GetItemCommand({ TableName: t.stack.ledgerTable, Key: { pk: { S: 'RECONCILE#training' }, sk: { S: 'checkpoint' } } }),
    );
    expect(checkpoint.Item).toBeUndefined();

    // Assess: the queued keys replicate, and the replica equals the source version by version.
    const drained = await t.drain();
    expect(drained.failed).toBe(0);
    const rows = await t.report('training');
    expect(rows.filter((r) => !r.verified)).toEqual([]);
    expect(rows.filter((r) => r.key.startsWith('train/partial/')).map((r) => r.kind)).toEqual(['object', 'object', 'delete-marker']);

    // A second run finds nothing to do.
    const again = await reconcile({ asset: 'training' });
    expect(again.results[0]).toMatchObject({ finished: true, counts: { keysQueued: 0 } });
  });

  it('bounds the whole invocation by maxKeys: the assets after the first share what it left', async () => {
    for (const name of ['one', 'two', 'three']) await put(`evals/bounded/${name}.jsonl`, name);
    await t.drain();
    const { results: alone } = await reconcile({ asset: 'training' });
    const trainingKeys = alone[0]!.counts.keysScanned as number;
    expect(alone[0]!.finished).toBe(true);

    // Every asset, in policy order (training, evals, ...), within trainingKeys + 2 keys in all.
    const { results } = await reconcile({ maxKeys: trainingKeys + 2 });
    expect(results.map((r) => [r.finished, r.counts.keysScanned])).toEqual([
      [true, trainingKeys],
      [false, 2],
    ]);
    const { results: rest } = await reconcile({ asset: 'evals' });
    expect(rest[0]).toMatchObject({ finished: true, counts: { keysScanned: 3 } });
  });

  it('names a bad input', async () => {
    await expect(reconcile({ asset: 'no-such-asset' })).rejects.toThrow('asset: "no-such-asset" is not a replicated asset of the policy');
  });
});
