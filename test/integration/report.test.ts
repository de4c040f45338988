import { GetObjectCommand } from '@aws-sdk/client-s3';
import { PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoAlertStateStore } from '../../functions/alerts/dynamo-alert-state.js';
import { DynamoIncidentLog } from '../../functions/alerts/dynamo-incident-log.js';
import { targetEvent } from '../../functions/alerts/target-events.js';
import type { DrillRun } from '../../functions/drills/drill-run.js';
import { DynamoDrillStore } from '../../functions/drills/dynamo-drill-store.js';
import type { DrReport } from '../../functions/report/report-data.js';
import { createReportDeps } from '../../functions/report/runtime.js';
import { writeReport } from '../../functions/report/write-report.js';
import { DynamoRestoreTestLog } from '../../functions/restore/dynamo-restore-test-log.js';
import type { RestoreTestResult } from '../../functions/restore/restore-test.js';
import { dynamoDocumentClient } from '../../functions/shared/aws-clients.js';
import { parseConfig } from '../../functions/shared/config.js';
import { localContext } from '../../scripts/local-aws/event-source-mapping.js';
import { reportErrors } from '../support/event-schema.js';
import { type StackUnderTest, TEST_POLICY, startStack } from '../support/local-stack.js';

/** The test policy with a region-outage drill (its workspace a restore bucket in the DR region). */
function policyWithDrill(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dr-report-policy-'));
  const text = readFileSync(TEST_POLICY, 'utf8').replace(
    '    - { bucket: it-restore, region: us-east-1 }\n',
    '    - { bucket: it-restore, region: us-east-1 }\n    - { bucket: it-dr-workspace, region: us-west-2 }\n',
  );
  const file = join(dir, 'policy.yml');
  writeFileSync(
    file,
    `${text}drills:\n  - name: it-region-outage\n    scenario: region-outage\n    schedule: cron(0 6 1 1,4,7,10 ? *)\n    scope: { assets: [training, evals] }\n    targetMinutes: 60\n    workspace: { bucket: it-dr-workspace }\n`,
  );
  return file;
}

let t: StackUnderTest;
beforeAll(async () => {
  t = await startStack(policyWithDrill());
});
afterAll(async () => t?.stop());

const H = 3_600_000;
const text = async (key: string) => {
  const object = await t.s3.send(new GetObjectCommand({ Bucket: 'it-replica', Key: key }));
  return { body: await object.Body!.transformToString(), type: object.ContentType };
};

describe('the DR report on the local AWS (CloudWatch history, ledger records, S3)', () => {
  it('reads RPO metrics, restore tests, incidents and a drill run, and writes index.html and report.json', async () => {
    // Prepare: one clock for everything (the local AWS's own time is not used).
    const now = new Date();
    const hour = Math.floor(now.getTime() / H) * H;
    const evals = t.policy.assets.find((a) => a.name === 'evals')!;
    // 24 hourly RpoSeconds values of evals in the last day, one of them over its 900 s target.
    await t.cloudwatch.send(
      new PutMetricDataCommand({
        Namespace: 'AiDataDr',
        MetricData: Array.from({ length: 24 }, (_, k) => ({
          MetricName: 'RpoSeconds',
          Dimensions: [
            { Name: 'service', Value: 'ai-data-dr' },
            { Name: 'asset', Value: 'evals' },
            { Name: 'tier', Value: 'critical' },
          ],
          Timestamp: new Date(hour - (k + 1) * H),
          Value: k === 5 ? 1800 : 60,
          Unit: 'Seconds',
        })),
      }),
    );
    const db = dynamoDocumentClient();
    const table = t.stack.ledgerTable;
    const result = (hoursAgo: number, ok: boolean, rtoSeconds: number): RestoreTestResult => ({
      asset: 'evals',
      kind: 'data',
      ok,
      ...(!ok && { reason: 'sha256 mismatch' }),
      startedAt: new Date(now.getTime() - hoursAgo * H - 60_000).toISOString(),
      finishedAt: new Date(now.getTime() - hoursAgo * H).toISOString(),
      restoreMs: 2000,
      restored: 10,
      assetTotal: 10,
      rtoSeconds,
      checks: {},
    });
    const log = new DynamoRestoreTestLog(db, table);
    expect(await log.record(result(30, false, 2))).toBe(true);
    expect(await log.record(result(6, true, 3))).toBe(true);
    // One test (asset and start) is recorded once: a second invocation finishing it does not replace the first's result.
    expect(await log.record({ ...result(6, true, 3), ok: false, reason: 'late duplicate' })).toBe(false);

    const missedSince = new Date(now.getTime() - 20 * H).toISOString();
    const check = (status: 'missed' | 'ok', at: string) => ({
      asset: 'evals',
      kind: evals.kind,
      tier: evals.tier,
      target: 'rpo' as const,
      targetSeconds: 900,
      actualSeconds: status === 'missed' ? 1800 : 60,
      status,
      pendingObjects: 0,
      failedObjects: 0,
      oldestChange: null,
      measuredAt: at,
    });
    const incidents = new DynamoIncidentLog(db, table);
    await incidents.record(targetEvent('DR Target Missed', check('missed', missedSince), missedSince));
    await incidents.record(targetEvent('DR Target Recovered', check('ok', new Date(now.getTime() - 19 * H).toISOString()), missedSince));
    // An RTO incident still open in the alert state (from before the incident log).
    const rtoMissedSince = new Date(now.getTime() - 2 * H).toISOString();
    await new DynamoAlertStateStore(db, table).transition(
      { asset: 'evals', target: 'rto', state: 'missed', revision: 1, missedSince: rtoMissedSince },
      0,
    );

    const drills = new DynamoDrillStore(db, table);
    const definition = t.policy.drills[0]!;
    const startedAt = new Date(now.getTime() - 48 * H).toISOString();
    const run: DrillRun = {
      drill: definition.name,
      drillId: `${startedAt}-it`,
      scenario: 'region-outage',
      state: 'running',
      phase: 'measure',
      startedAt,
      definition,
      rpoAtStart: [],
      assets: [],
      created: [],
      invocations: 1,
    };
    expect(await drills.start(run)).toBe(true);
    expect(await drills.lease(run.drill, run.drillId, 'it', new Date(Date.now() + 60_000), new Date())).toBe(true);
    await drills.finish(
      {
        ...run,
        state: 'passed',
        phase: 'finished',
        finishedAt: new Date(Date.parse(startedAt) + 1800_000).toISOString(),
        assets: ['training', 'evals'].map((asset, i) => ({
          asset,
          kind: asset === 'evals' ? 'eval-set' : 'training-data',
          tier: asset === 'evals' ? 'critical' : 'high',
          step: 'done',
          restoreIds: [],
          checks: {},
          rtoSeconds: 600 + i * 600,
          rtoTargetSeconds: asset === 'evals' ? 14400 : 86400,
          ok: true,
        })),
        verdict: { ok: true, rtoSeconds: 1200, targetSeconds: 3600, targets: [], reasons: [] },
      },
      'it',
    );

    // Act
    const written = await writeReport(
      createReportDeps(parseConfig(process.env), () => now),
      { kind: 'on-demand' },
    );

    // Assess: both files, latest and dated, in the first asset's replica bucket under _dr-report/.
    const day = now.toISOString().slice(0, 10);
    expect(written.keys).toEqual([
      `_dr-report/history/${day}/report.json`,
      `_dr-report/history/${day}/index.html`,
      '_dr-report/report.json',
      '_dr-report/index.html',
    ]);
    const json = await text('_dr-report/report.json');
    expect(json.type).toMatch(/^application\/json/);
    const report = JSON.parse(json.body) as DrReport;
    expect(reportErrors(report)).toEqual([]);
    expect(report.headline).toMatchObject({ verdict: 'yes', drill: { name: 'it-region-outage', rtoSeconds: 1200, targetSeconds: 3600 } });
    const e = report.assets.find((a) => a.name === 'evals')!;
    expect(e.rpo).toEqual({ nowSeconds: 0, targetSeconds: 900, status: 'ok' });
    // 24 measured 5-minute periods of 8640 (30 days), one over the target.
    expect(e.withinRpoTarget.short).toMatchObject({ periods: 8640, within: 23, over: 1, missing: 8616, withinTarget: 23 / 8640 });
    expect(e.withinRpoTarget.long).toMatchObject({ periods: 2160, within: 23, over: 1, withinTarget: 23 / 2160 });
    expect(e.rpoHistory.points).toHaveLength(24);
    expect(e.restoreTests).toMatchObject({ count: 2, passed: 1, passRate: 0.5, last: { ok: true } });
    expect(e.rto.history.map((p) => [p.source, p.seconds, p.ok])).toEqual([
      ['drill', 1200, true],
      ['restore-test', 2, false],
      ['restore-test', 3, true],
    ]);
    expect(e.incidents.map((i) => [i.target, i.ongoing, i.durationSeconds])).toEqual([
      ['rto', true, 7200],
      ['rpo', false, 3600],
    ]);
    expect(report.drills[0]!.runs[0]).toMatchObject({
      state: 'passed',
      rtoSeconds: 1200,
      assets: [{ asset: 'training' }, { asset: 'evals' }],
    });

    const html = await text('_dr-report/index.html');
    expect(html.type).toMatch(/^text\/html/);
    expect(html.body).toContain('<tr data-asset="evals">');
    expect(html.body).toContain(report.headline.text.replace(/'/g, '&#39;'));
    expect((await text(`_dr-report/history/${day}/report.json`)).body).toBe(json.body);
  });

  it('the handler takes {} and answers where it wrote and the headline', async () => {
    const { handler } = await import('../../functions/report.js');
    const answer = (await handler({}, localContext('report'))) as { bucket: string; keys: string[]; headline: { verdict: string } };
    expect(answer.bucket).toBe('it-replica');
    expect(answer.keys).toContain('_dr-report/index.html');
    expect(['yes', 'at-risk', 'no', 'unknown']).toContain(answer.headline.verdict);
  });
});
