import type { AlertState } from '../../functions/alerts/alert-state.js';
import { type TargetEvent, targetEvent } from '../../functions/alerts/target-events.js';
import type { DrillRun } from '../../functions/drills/drill-run.js';
import { loadPolicyFile } from '../../functions/policy/load.js';
import { type Asset, drillAssets, type Policy } from '../../functions/policy/schema.js';
import type { ReportSources } from '../../functions/report/build-report.js';
import type { RpoDatapoint } from '../../functions/report/rpo-share.js';
import type { RestoreTestResult } from '../../functions/restore/restore-test.js';
import { lagStats } from '../../functions/rpo/percentiles.js';
import { replicaObjectLock } from '../../infra/buckets.js';

/**
 * In-memory sources for the DR report, every record placed relative to `now` (never today's date
 * mixed with a fixed one): per asset a 5-minute and a 1-hour RPO history (every 24th period over
 * target, a gap of six hours two days ago), three restore tests (the second failed), an RPO
 * incident of eval-sets that recovered after 50 minutes, and one passed region-outage drill; each
 * model service of the policy failed over two hours ago, with a ten-minute incident.
 */
export function reportSources(now: Date, policy: Policy = loadPolicyFile('dr-policy.yml')): ReportSources & { policy: Policy } {
  const at = (msAgo: number) => new Date(now.getTime() - msAgo);
  const iso = (msAgo: number) => at(msAgo).toISOString();
  const H = 3_600_000;
  const D = 24 * H;

  const history = (asset: Asset, window: { start: Date; end: Date }, periodSeconds: number): RpoDatapoint[] => {
    const points: RpoDatapoint[] = [];
    const gapFrom = now.getTime() - 2 * D - 6 * H;
    const gapTo = now.getTime() - 2 * D;
    for (let t = window.start.getTime(), i = 0; t < window.end.getTime(); t += periodSeconds * 1000, i++) {
      if (t >= gapFrom && t < gapTo) continue;
      points.push({ at: new Date(t), maxSeconds: i % 24 === 5 ? asset.rpoTargetSeconds * 1.5 : asset.rpoTargetSeconds * 0.2 });
    }
    return points;
  };

  const test = (asset: Asset, daysAgo: number, ok: boolean, rtoSeconds: number): RestoreTestResult => ({
    asset: asset.name,
    kind: asset.kind === 'vector-index' ? 'vectors' : 'data',
    ok,
    ...(!ok && { reason: 'sha256 mismatch on <train/x.jsonl>' }),
    startedAt: iso(daysAgo * D + 60_000),
    finishedAt: iso(daysAgo * D),
    restoreMs: 1000,
    restored: 10,
    assetTotal: 100,
    rtoSeconds,
    // A vector asset with restoreParts is tested in parts: its checks keep the restore's fan-out.
    checks:
      asset.kind === 'vector-index' && asset.restoreParts > 1
        ? { fanOut: { writeParts: asset.restoreParts, verifyParts: asset.restoreParts } }
        : {},
  });

  const evals = policy.assets.find((a) => a.name === 'eval-sets');
  const incidentEvents: TargetEvent[] = [];
  if (evals) {
    const check = (status: 'missed' | 'ok', msAgo: number, actual: number) => ({
      asset: evals.name,
      kind: evals.kind,
      tier: evals.tier,
      target: 'rpo' as const,
      targetSeconds: evals.rpoTargetSeconds,
      actualSeconds: actual,
      status,
      pendingObjects: 1,
      failedObjects: 0,
      oldestChange: null,
      measuredAt: iso(msAgo),
    });
    const missedSince = iso(5 * D);
    incidentEvents.push(
      targetEvent('DR Target Missed', check('missed', 5 * D, 1200), missedSince),
      targetEvent('DR Target Recovered', check('ok', 5 * D - 50 * 60_000, 0), missedSince),
    );
  }

  const outage = policy.drills.find((d) => d.scenario === 'region-outage');
  const runs: DrillRun[] = [];
  if (outage) {
    const scope = drillAssets(policy, outage);
    const startedAt = iso(10 * D);
    const rto = (i: number) => 600 + i * 300;
    runs.push({
      drill: outage.name,
      drillId: `${startedAt}-r1`,
      scenario: outage.scenario,
      state: 'passed',
      phase: 'finished',
      startedAt,
      finishedAt: iso(10 * D - 2 * H),
      definition: outage,
      rpoAtStart: scope.map((a) => ({
        asset: a.name,
        rpoSeconds: 30,
        rpoTargetSeconds: a.rpoTargetSeconds,
        status: 'ok',
        pendingObjects: 0,
      })),
      assets: scope.map((a, i) => ({
        asset: a.name,
        kind: a.kind,
        tier: a.tier,
        step: 'done',
        restoreIds: [],
        checks: {},
        rtoSeconds: rto(i),
        rtoTargetSeconds: a.rtoTargetSeconds,
        ok: true,
        // A vector index restored in parts (restoreParts), as the drill records it from the restore's result.
        ...(a.kind === 'vector-index' && a.restoreParts > 1 && { fanOut: { writeParts: a.restoreParts, verifyParts: a.restoreParts } }),
      })),
      created: [],
      verdict: {
        ok: true,
        rtoSeconds: rto(scope.length - 1),
        targetSeconds: outage.targetMinutes * 60,
        targets: [],
        reasons: [],
      },
      invocations: 1,
    });
  }

  // Each model service failed over to its first fallback two hours ago (a primary outage of ten
  // minutes, recovered), its last fallback not ready now.
  for (const service of policy.serving?.services ?? []) {
    const check = (status: 'missed' | 'ok', msAgo: number) => ({
      asset: service.name,
      kind: 'model-service' as const,
      tier: service.tier,
      target: 'serving' as const,
      targetSeconds: service.rtoTargetMinutes * 60,
      actualSeconds: null,
      status,
      ...(status === 'missed' && { reason: 'serving-primary-down' as const, description: `primary ${service.primary.id} is down` }),
      pendingObjects: 0,
      failedObjects: 0,
      oldestChange: null,
      measuredAt: iso(msAgo),
    });
    incidentEvents.push(
      targetEvent('DR Target Missed', check('missed', 2 * H), iso(2 * H)),
      targetEvent('DR Target Recovered', check('ok', 2 * H - 10 * 60_000), iso(2 * H)),
    );
  }
  const servingState = async (name: string) => {
    const service = policy.serving?.services.find((s) => s.name === name);
    if (!service) return undefined;
    const [first, ...rest] = service.fallbacks;
    const last = rest.at(-1);
    return {
      state: {
        service: name,
        active: first!.id,
        primaryFailures: 0,
        primaryHealthy: 3,
        flaps: 0,
        switched: { from: service.primary.id, to: first!.id, at: iso(2 * H), reason: 'primary failed 2 probes in a row (overloaded)' },
      },
      lastRound: {
        checkedAt: iso(60_000),
        results: Object.fromEntries(
          [service.primary, ...service.fallbacks].map((e) => [e.id, { class: 'healthy' as const, latencyMs: 120 }]),
        ),
        readiness: {
          primaryUp: true,
          readyFallbacks: [first!.id],
          notReady: last ? [{ endpoint: last.id, class: 'auth-failure', detail: 'authentication_error: invalid x-api-key' }] : [],
        },
      },
    };
  };

  return {
    policy,
    servingState,
    // A lineage check that found a lifecycle rule at risk and a passed training-set restore test.
    lineageCheck: async () => ({
      checkedAt: new Date(now.getTime() - 3_600_000).toISOString(),
      referenced: [{ asset: 'training-data', datasetVersions: 2 }],
      risks: [
        {
          asset: 'training-data',
          bucket: 'acme-ml-prod-data',
          where: 'source' as const,
          rule: 'expire-old-shards',
          rulePrefix: 'training/',
          does: ['deletes noncurrent versions' as const],
          datasetVersions: ['20261126T120000Z-3f9a1c2e'],
          held: false,
          narrower: false,
        },
      ],
      unread: [],
    }),
    // Every replica bucket as the stack creates it (infra/buckets.ts): Object Lock on, with the policy's default retention.
    bucketLock: async (bucket) => {
      const rule = replicaObjectLock(policy, bucket)?.Rule?.DefaultRetention;
      return { enabled: true, ...(rule && { defaultRetention: { mode: rule.Mode, days: rule.Days } }) };
    },
    rpoHistory: { maxPerPeriod: async (asset, window, period) => history(asset, window, period) },
    measure: async (asset, when) => ({
      asset: asset.name,
      kind: asset.kind,
      tier: asset.tier,
      rpoTargetSeconds: asset.rpoTargetSeconds,
      rpoSeconds: asset.rpoTargetSeconds * 0.1,
      status: 'ok',
      pendingObjects: 0,
      pendingBytes: 0,
      failedObjects: 0,
      lag: lagStats([]),
      lagValues: [],
      ...(asset.kind === 'vector-index' ? { newestSnapshotAt: iso(H) } : { lastReplicatedAt: iso(120_000) }),
      measuredAt: when.toISOString(),
    }),
    restoreTests: {
      since: async (name) => {
        const asset = policy.assets.find((a) => a.name === name)!;
        return [test(asset, 3, true, 1200), test(asset, 2, false, 4000), test(asset, 1, true, 900)];
      },
    },
    incidents: { since: async (name) => incidentEvents.filter((e) => e.detail.asset === name) },
    alertStates: { get: async (): Promise<AlertState | undefined> => undefined },
    drills: { runs: async (name) => runs.filter((r) => r.drill === name) },
  };
}
