import { CreateBucketCommand, DeleteBucketCommand, PutBucketVersioningCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runMonitor } from '../../functions/rpo/monitor.js';
import { createMonitorDeps } from '../../functions/rpo/runtime.js';
import { parseMonitorConfig } from '../../functions/shared/config.js';
import { localContext } from '../../scripts/local-aws/event-source-mapping.js';
import { eventText } from '../support/fixtures.js';
import { type StackUnderTest, startStack } from '../support/local-stack.js';
import { onCallPages } from '../support/on-call.js';

let t: StackUnderTest;
let now: Date;
beforeAll(async () => {
  t = await startStack();
});
afterAll(async () => t?.stop());

/** The monitor with an injected clock: time moves by setting `now`, never by sleeping. */
const monitor = () => createMonitorDeps(parseMonitorConfig(process.env), () => now);
const minutesLater = (minutes: number) => new Date(Date.now() + minutes * 60_000);

const pages = () => onCallPages(t);

describe('live RPO, alerts and status (local AWS, injected clock)', () => {
  it('a stalled replica: RPO rises past the target, one Missed; redriven and drained, one Recovered', async () => {
    // Prepare: everything replicated, then the replica bucket of "orphaned" becomes unreachable.
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'evals/baseline.jsonl', Body: 'ok' }));
    await t.drain();
    now = new Date();
    const first = await runMonitor(monitor());
    expect(first.measurements.map((m) => [m.asset, m.status, m.rpoSeconds])).toEqual([
      ['training', 'ok', 0],
      ['evals', 'ok', 0],
      ['orphaned', 'ok', 0],
    ]);
    expect(first.measurements[1]!.lastReplicatedAt).toBeDefined();
    expect(await pages()).toEqual([]);

    await t.s3.send(new DeleteBucketCommand({ Bucket: 'it-replica-missing' }));
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'orphaned/a.bin', Body: 'a' }));
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'orphaned/b.bin', Body: 'bb' }));
    await t.drain(); // every attempt fails; after maxReceiveCount both messages are dead-lettered

    // Act + Assess: under target after 5 minutes, over it after 16 (target 900 s).
    now = minutesLater(5);
    const early = await runMonitor(monitor());
    const orphanedEarly = early.measurements.find((m) => m.asset === 'orphaned')!;
    expect(orphanedEarly).toMatchObject({ status: 'ok', pendingObjects: 2, pendingBytes: 3, failedObjects: 2 });
    expect(orphanedEarly.rpoSeconds).toBeGreaterThan(290);
    expect(early.deadLetterDepth).toBe(2);
    expect(await pages()).toEqual([]);

    now = minutesLater(16);
    const published: number[] = [];
    const late = await runMonitor(monitor(), (m) => m.asset === 'orphaned' && published.push(m.rpoSeconds!));
    expect(published[0]).toBeGreaterThan(900); // the metric that breaches the alarm
    expect(late.events.map((e) => [e.detailType, e.detail.asset])).toEqual([['DR Target Missed', 'orphaned']]);
    let received = await pages();
    expect(received).toHaveLength(1);
    expect(received[0]!.detail).toMatchObject({
      asset: 'orphaned',
      reason: 'rpo-over-target',
      targetSeconds: 900,
      pendingObjects: 2,
      failedObjects: 2,
      oldestChange: expect.objectContaining({ key: 'orphaned/a.bin', state: 'failed', attempts: 3 }),
    });

    // While the state holds, no repeat.
    now = minutesLater(17);
    await runMonitor(monitor());
    now = minutesLater(18);
    await runMonitor(monitor());
    expect(await pages()).toEqual([]);

    // The dead-lettered changes keep the RPO up until they are redriven.
    await t.s3.send(
      new CreateBucketCommand({ Bucket: 'it-replica-missing', CreateBucketConfiguration: { LocationConstraint: 'us-west-2' } }),
    );
    await t.s3.send(new PutBucketVersioningCommand({ Bucket: 'it-replica-missing', VersioningConfiguration: { Status: 'Enabled' } }));
    now = minutesLater(19);
    expect((await runMonitor(monitor())).measurements.find((m) => m.asset === 'orphaned')).toMatchObject({ status: 'missed' });
    for (const body of await t.takeMessages(t.stack.deadLetterQueueUrl)) await t.send(body);
    await t.drain();

    now = minutesLater(20);
    const recovered = await runMonitor(monitor());
    expect(recovered.measurements.find((m) => m.asset === 'orphaned')).toMatchObject({ status: 'ok', rpoSeconds: 0, pendingObjects: 0 });
    expect(recovered.deadLetterDepth).toBe(0);
    // Recovered only after monitoring.recoverySeconds (300) back under target: no flapping pages.
    expect(await pages()).toEqual([]);
    now = minutesLater(26);
    await runMonitor(monitor());
    received = await pages();
    expect(received.map((e) => e['detail-type'])).toEqual(['DR Target Recovered']);
    expect(received[0]!.detail.incidentId).toMatch(/^orphaned:rpo:/);
    now = minutesLater(27);
    await runMonitor(monitor());
    expect(await pages()).toEqual([]);
  });

  it("a paused consumer: the queue's oldest message raises the RPO though the ledger knows nothing yet", async () => {
    // The replicate function is not consuming: the event waits in the queue, no ledger entry exists.
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'evals/paused.jsonl', Body: 'waiting' }));
    expect(await t.ledger.entriesFor('evals', 'evals/paused.jsonl')).toEqual([]);
    // moto publishes no SQS metrics: the harness publishes ApproximateAgeOfOldestMessage as SQS would.
    const queueAge = async (at: Date, seconds: number) =>
      t.cloudwatch.send(
        new PutMetricDataCommand({
          Namespace: 'AWS/SQS',
          MetricData: [
            {
              MetricName: 'ApproximateAgeOfOldestMessage',
              Dimensions: [{ Name: 'QueueName', Value: t.stack.queueName }],
              Value: seconds,
              Unit: 'Seconds',
              Timestamp: at,
            },
          ],
        }),
      );
    now = minutesLater(40);
    await queueAge(now, 960);
    const paused = await runMonitor(monitor());
    expect(paused.measurements.find((m) => m.asset === 'evals')).toMatchObject({
      status: 'missed',
      rpoSeconds: 960,
      queueAgeSeconds: 960,
      pendingObjects: 0,
    });
    expect((await pages()).filter((e) => e.detail.asset === 'evals').map((e) => e['detail-type'])).toEqual(['DR Target Missed']);

    await t.drain(); // the consumer resumes
    for (const minutes of [41, 47]) {
      now = minutesLater(minutes);
      await queueAge(now, 0);
      await runMonitor(monitor());
    }
    expect((await pages()).filter((e) => e.detail.asset === 'evals').map((e) => e['detail-type'])).toEqual(['DR Target Recovered']);
  });

  it('status returns, per asset, what the ledger says (JSON and a table); bad payloads get one clear error', async () => {
    // Someone suspends versioning on the replica: the replicator refuses to write there.
    await t.s3.send(new PutBucketVersioningCommand({ Bucket: 'it-replica-missing', VersioningConfiguration: { Status: 'Suspended' } }));
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'orphaned/c.bin', Body: 'ccc' }));
    await t.drain();
    expect((await t.ledger.entriesFor('orphaned', 'orphaned/c.bin'))[0]!.lastError).toMatch(
      /^BucketNotVersionedError: replica bucket it-replica-missing has versioning Suspended/,
    );
    vi.resetModules();
    const { handler } = await import('../../functions/status.js');

    const json = (await handler({}, localContext('status'))) as { assets: Record<string, any>[]; deadLetterDepth: number };
    const orphaned = json.assets.find((a) => a.asset === 'orphaned')!;
    const unreplicated = await t.ledger.unreplicated('orphaned');
    expect(orphaned).toMatchObject({
      pendingObjects: unreplicated.length,
      failedObjects: unreplicated.filter((e) => e.state === 'failed').length,
      rpoTargetSeconds: 900,
      oldestChange: expect.objectContaining({ key: unreplicated[0]!.key, sourceVersionId: unreplicated[0]!.sourceVersionId }),
      lastReplicatedAt: (await t.ledger.lastReplicated('orphaned'))!.replicatedAt,
      lastAlert: expect.objectContaining({ type: 'DR Target Recovered' }),
    });
    expect(json.deadLetterDepth).toBe(1);
    const evals = json.assets.find((a) => a.asset === 'evals')!;
    expect(evals).toMatchObject({
      status: 'ok',
      rpoSeconds: 0,
      pendingObjects: 0,
      lastAlert: expect.objectContaining({ type: 'DR Target Recovered' }),
    });
    expect(evals.lag.count).toBeGreaterThan(0);

    const table = (await handler(JSON.parse(eventText('status/valid/table.json')), localContext('status'))) as { table: string };
    expect(table.table.split('\n')[1]).toMatch(/^ASSET\s+TIER\s+STATUS\s+RPO\s+TARGET\s+PENDING\s+FAILED/);
    expect(table.table).toMatch(/\norphaned\s+standard\s+ok\s+\d+s\s+15m00s\s+1\s+1\s+orphaned\/c\.bin/);
    // The test policy locks nothing, and its replica buckets (read from the local AWS) have no Object Lock.
    expect((json as unknown as { replicaBuckets: unknown[] }).replicaBuckets).toEqual(
      ['it-replica', 'it-replica-missing'].map((bucket) => ({ bucket, objectLock: { enabled: false }, lockedAssets: [], unprotected: [] })),
    );
    expect(table.table).toContain('\nreplica bucket it-replica: Object Lock off (the policy asks for none)');

    const one = (await handler(
      JSON.parse(eventText('status/valid/one-asset.json').replace('eval-sets', 'evals')),
      localContext('status'),
    )) as { assets: unknown[] };
    expect(one.assets).toHaveLength(1);

    await expect(handler(JSON.parse(eventText('status/invalid/unknown-field.json')), localContext('status'))).rejects.toThrow(
      'payload: unknown field "formt"; expected {"format": "json" | "table", "assets": ["<asset name>", ...]}',
    );
    await expect(handler(JSON.parse(eventText('status/invalid/bad-format.json')), localContext('status'))).rejects.toThrow(
      /^format: Invalid option/,
    );
    await expect(handler(JSON.parse(eventText('status/invalid/unknown-asset.json')), localContext('status'))).rejects.toThrow(
      'assets: unknown asset "no-such-asset"; the policy has training, evals, orphaned',
    );
  });

  it('the measure-rpo handler measures every asset of the policy (scheduled invocation)', async () => {
    vi.resetModules();
    const { handler } = await import('../../functions/measure-rpo.js');
    const result = (await handler({ 'detail-type': 'Scheduled Event', source: 'aws.events' }, localContext('measure-rpo'))) as {
      assets: number;
    };
    expect(result.assets).toBe(3);
  });
});
