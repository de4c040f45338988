import type { LineageCheck } from '../lineage/lineage-check.js';
import type { AlertState } from '../alerts/alert-state.js';
import type { TargetEvent, TargetName } from '../alerts/target-events.js';
import type { DrillRun } from '../drills/drill-run.js';
import { type Asset, type Drill, type Policy, drillAssets, isServingDrill } from '../policy/schema.js';
import type { RestoreTestResult } from '../restore/restore-test.js';
import type { AssetMeasurement } from '../rpo/measure.js';
import { scheduleIntervalSeconds } from '../policy/schedule.js';
import { SERVICE_NAME } from '../shared/service.js';
import { formatDuration, formatTime } from './format.js';
import type { StoredService } from '../serving/probe-round.js';
import type {
  AssetReport,
  DrillReport,
  DrillRunReport,
  DrReport,
  Headline,
  Incident,
  ReportTrigger,
  RtoPoint,
  ServingReport,
} from './report-data.js';
import { alignedWindow, type RpoDatapoint, rpoShare } from './rpo-share.js';
import { replicaProtection, type BucketLock } from '../storage/object-lock.js';

/** The CloudWatch history of an asset's RpoSeconds: the Maximum per period, oldest first. */
export interface RpoHistory {
  maxPerPeriod(asset: Asset, window: { start: Date; end: Date }, periodSeconds: number): Promise<RpoDatapoint[]>;
}

/** What the report reads: CloudWatch metrics and the ledger table's records, nothing else. */
export interface ReportSources {
  policy: Policy;
  rpoHistory: RpoHistory;
  /** The asset's live RPO, measured now as measure-rpo does. */
  measure(asset: Asset, at: Date): Promise<AssetMeasurement>;
  restoreTests: { since(asset: string, since: Date): Promise<RestoreTestResult[]> };
  incidents: { since(asset: string, since: Date): Promise<TargetEvent[]> };
  alertStates: { get(asset: string, target?: TargetName): Promise<AlertState | undefined> };
  drills: { runs(drill: string, limit: number): Promise<DrillRun[]> };
  /** A replica bucket's Object Lock configuration (GetObjectLockConfiguration). */
  bucketLock(bucket: string): Promise<BucketLock>;
  /** The latest lineage check. */
  lineageCheck(): Promise<LineageCheck | undefined>;
  /** A model service's failover state and last round (probe-serving's). */
  servingState(service: string): Promise<StoredService | undefined>;
}

/**
 * 30 days of 5-minute periods; 90 days of 1-hour periods (CloudWatch keeps 5-minute data 63 days).
 * A period is never shorter than measure-rpo's schedule (a 15-minute schedule gives 15-minute
 * periods), or two of three periods would have no datapoint and count against the share.
 */
export const WINDOWS = { shortDays: 30, longDays: 90, shortPeriodSeconds: 300, longPeriodSeconds: 3600, chartDays: 30 } as const;
export type Windows = DrReport['windows'];

export function windowsFor(policy: Policy): Windows {
  const measuredEvery = Math.ceil(scheduleIntervalSeconds(policy.monitoring.schedule) / 60) * 60;
  return {
    ...WINDOWS,
    shortPeriodSeconds: Math.max(WINDOWS.shortPeriodSeconds, measuredEvery),
    longPeriodSeconds: Math.max(WINDOWS.longPeriodSeconds, Math.ceil(measuredEvery / 3600) * 3600),
  };
}
/** Drill runs shown per drill. */
export const DRILL_RUNS = 20;

const round = (seconds: number | null | undefined) => (seconds === null || seconds === undefined ? null : Math.round(seconds * 10) / 10);
const secondsBetween = (from: string, to: string | Date) => Math.max(0, (new Date(to).getTime() - Date.parse(from)) / 1000);

export async function buildReport(sources: ReportSources, now: Date, trigger: ReportTrigger): Promise<DrReport> {
  const { policy } = sources;
  const windows = windowsFor(policy);
  const since = new Date(now.getTime() - windows.longDays * 86_400_000);
  const drills = await Promise.all(policy.drills.map((drill) => drillReport(sources, drill, since, now)));
  const assets = await Promise.all(policy.assets.map((asset) => assetReport(sources, asset, since, now, drills, windows)));
  return {
    schemaVersion: '1',
    service: SERVICE_NAME,
    region: policy.deployment.region,
    generatedAt: now.toISOString(),
    trigger,
    headline: headline(policy, assets, drills, now),
    windows,
    assets,
    drills,
    replicaBuckets: await replicaProtection(policy, (bucket) => sources.bucketLock(bucket)),
    lineage: (await sources.lineageCheck()) ?? null,
    serving: await Promise.all((policy.serving?.services ?? []).map((service) => servingReport(sources, service, since, now))),
  };
}

async function servingReport(
  sources: ReportSources,
  service: NonNullable<Policy['serving']>['services'][number],
  since: Date,
  now: Date,
): Promise<ServingReport> {
  const [stored, incidents] = await Promise.all([
    sources.servingState(service.name),
    incidentsOf(sources, service.name, 'serving', since, now),
  ]);
  return {
    service: service.name,
    tier: service.tier,
    rtoTargetMinutes: service.rtoTargetMinutes,
    state: stored?.state ?? null,
    lastRound: stored?.lastRound ?? null,
    smokeEval: stored?.smokeEval ?? null,
    incidents,
  };
}

async function assetReport(
  sources: ReportSources,
  asset: Asset,
  since: Date,
  now: Date,
  drills: DrillReport[],
  windows: Windows,
): Promise<AssetReport> {
  const short = alignedWindow(now, windows.shortDays, windows.shortPeriodSeconds);
  const long = alignedWindow(now, windows.longDays, windows.longPeriodSeconds);
  const [measurement, shortPoints, longPoints, tests, events, ...states] = await Promise.all([
    sources.measure(asset, now),
    sources.rpoHistory.maxPerPeriod(asset, short, windows.shortPeriodSeconds),
    sources.rpoHistory.maxPerPeriod(asset, long, windows.longPeriodSeconds),
    sources.restoreTests.since(asset.name, since),
    sources.incidents.since(asset.name, since),
    sources.alertStates.get(asset.name, 'rpo'),
    sources.alertStates.get(asset.name, 'rto'),
  ]);
  const chartFrom = now.getTime() - windows.chartDays * 86_400_000;

  const testPoints: RtoPoint[] = tests.map((t) => ({
    at: t.finishedAt,
    seconds: round(t.rtoSeconds),
    ok: t.ok,
    source: 'restore-test',
    ...(t.reason && { reason: t.reason }),
    // A restore test in parts (restoreParts) keeps the fan-out of its restore.
    ...(t.checks.fanOut && { fanOut: t.checks.fanOut as unknown as RtoPoint['fanOut'] }),
  }));
  const drillPoints: RtoPoint[] = drills.flatMap((d) =>
    d.runs.flatMap((run) =>
      run.assets
        .filter((a) => a.asset === asset.name && a.ok !== null)
        .map((a) => ({
          at: run.finishedAt ?? run.startedAt,
          seconds: a.rtoSeconds,
          ok: a.ok === true,
          source: 'drill' as const,
          drill: d.name,
          drillId: run.drillId,
          ...(a.reason && { reason: a.reason }),
          ...(a.fanOut && { fanOut: a.fanOut }),
        })),
    ),
  );
  const history = [...testPoints, ...drillPoints]
    .filter((p) => Date.parse(p.at) >= since.getTime())
    .sort((a, b) => a.at.localeCompare(b.at));
  // The measured RTO is that of the newest restore that worked (a failed one has no RTO to speak of).
  const latest = history.filter((p) => p.ok && p.seconds !== null).at(-1);
  const passedTests = tests.filter((t) => t.ok);
  const lastTest = tests.at(-1);
  const lastDrillVerified = drillPoints
    .filter((p) => p.ok)
    .sort((a, b) => a.at.localeCompare(b.at))
    .at(-1);

  return {
    name: asset.name,
    kind: asset.kind,
    tier: asset.tier,
    ...(asset.description && { description: asset.description }),
    rpo: {
      nowSeconds: round(measurement.rpoSeconds),
      targetSeconds: asset.rpoTargetSeconds,
      status: measurement.status,
      ...(measurement.reason && { reason: measurement.reason }),
    },
    withinRpoTarget: {
      short: rpoShare(shortPoints, short, windows.shortPeriodSeconds, asset.rpoTargetSeconds),
      long: rpoShare(longPoints, long, windows.longPeriodSeconds, asset.rpoTargetSeconds),
    },
    rpoHistory: {
      periodSeconds: windows.longPeriodSeconds,
      points: longPoints
        .filter((p) => p.at.getTime() >= chartFrom)
        .map((p) => ({ at: p.at.toISOString(), maxSeconds: round(p.maxSeconds)! })),
    },
    rto: { targetSeconds: asset.rtoTargetSeconds, latestSeconds: latest?.seconds ?? null, latestAt: latest?.at ?? null, history },
    lastVerified: {
      replicatedAt: measurement.lastReplicatedAt ?? null,
      snapshotAt: measurement.newestSnapshotAt ?? null,
      restoreTestPassedAt: passedTests.at(-1)?.finishedAt ?? null,
      drillVerifiedAt: lastDrillVerified?.at ?? null,
    },
    restoreTests: {
      count: tests.length,
      passed: passedTests.length,
      passRate: tests.length === 0 ? null : passedTests.length / tests.length,
      last: lastTest ? { at: lastTest.finishedAt, ok: lastTest.ok, ...(lastTest.reason && { reason: lastTest.reason }) } : null,
    },
    incidents: incidentsFrom(asset.name, events, states, now),
  };
}

async function drillReport(sources: ReportSources, drill: Drill, since: Date, now: Date): Promise<DrillReport> {
  const [runs, incidents] = await Promise.all([
    sources.drills.runs(drill.name, DRILL_RUNS),
    incidentsOf(sources, drill.name, 'drill', since, now),
  ]);
  return {
    name: drill.name,
    scenario: drill.scenario,
    schedule: drill.schedule,
    targetSeconds: drill.targetMinutes * 60,
    scope: isServingDrill(drill) ? [drill.service] : drillAssets(sources.policy, drill).map((a) => a.name),
    runs: runs.map(runReport),
    incidents,
  };
}

function runReport(run: DrillRun): DrillRunReport {
  return {
    drillId: run.drillId,
    state: run.state,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt ?? null,
    rtoSeconds: round(run.verdict?.rtoSeconds),
    targetSeconds: run.verdict?.targetSeconds ?? run.definition.targetMinutes * 60,
    reasons: run.verdict?.reasons ?? (run.lastError ? [run.lastError] : []),
    assets: run.assets.map((a) => ({
      asset: a.asset,
      ok: a.ok ?? null,
      rtoSeconds: round(a.rtoSeconds),
      rtoTargetSeconds: a.rtoTargetSeconds,
      ...(a.reason && { reason: a.reason }),
      ...(a.fanOut && { fanOut: a.fanOut }),
    })),
    rpoAtStart: run.rpoAtStart.map((r) => ({
      asset: r.asset,
      rpoSeconds: round(r.rpoSeconds),
      rpoTargetSeconds: r.rpoTargetSeconds,
      status: r.status,
    })),
  };
}

/** The incidents of a drill or a model service (one target each) in the window, an ongoing one from its alert state. */
async function incidentsOf(sources: ReportSources, name: string, target: TargetName, since: Date, now: Date): Promise<Incident[]> {
  const [events, state] = await Promise.all([sources.incidents.since(name, since), sources.alertStates.get(name, target)]);
  return incidentsFrom(
    name,
    events.filter((e) => e.detail.target === target),
    [state],
    now,
  );
}

/**
 * Incidents from the incident log (a Missed and its Recovered share an incidentId), and an
 * ongoing one from the alert state when the log does not have it (it started before the log existed).
 */
export function incidentsFrom(
  asset: string,
  events: readonly TargetEvent[],
  states: readonly (AlertState | undefined)[],
  now: Date,
): Incident[] {
  const byId = new Map<string, Incident>();
  for (const { detailType, detail } of events) {
    const existing = byId.get(detail.incidentId);
    const incident: Incident = existing ?? {
      incidentId: detail.incidentId,
      target: detail.target,
      missedAt: detail.missedSince,
      recoveredAt: null,
      ongoing: true,
      durationSeconds: 0,
      reason: detail.reason,
    };
    if (detailType === 'DR Target Missed') {
      incident.reason = detail.reason;
      if (detail.description) incident.description = detail.description;
    } else {
      incident.recoveredAt = detail.measuredAt;
      incident.ongoing = false;
    }
    byId.set(detail.incidentId, incident);
  }
  for (const state of states) {
    if (state?.state !== 'missed' || !state.missedSince) continue;
    const target = state.target ?? 'rpo';
    const id = `${asset}:${target}:${state.missedSince}`;
    if (!byId.has(id))
      byId.set(id, {
        incidentId: id,
        target,
        missedAt: state.missedSince,
        recoveredAt: null,
        ongoing: true,
        durationSeconds: 0,
        reason: 'missed',
      });
  }
  return [...byId.values()]
    .map((i) => ({ ...i, durationSeconds: round(secondsBetween(i.missedAt, i.recoveredAt ?? now))! }))
    .sort((a, b) => b.missedAt.localeCompare(a.missedAt));
}

/**
 * The one line at the top: the newest finished region-outage drill (how long a recovery takes, for
 * the assets it recovered), and every asset's RPO now (what an outage now would lose, whether or not
 * a drill covers the asset). Assets the drill did not recover are named: the drill says nothing of them.
 */
export function headline(policy: Policy, assets: AssetReport[], drills: DrillReport[], now: Date): Headline {
  const finished = drills
    .filter((d) => d.scenario === 'region-outage')
    .flatMap((d) => d.runs.filter((r) => r.state !== 'running' && r.finishedAt).map((run) => ({ drill: d, run })))
    .sort((a, b) => b.run.finishedAt!.localeCompare(a.run.finishedAt!))[0];
  const over = assets.filter((a) => a.rpo.status === 'missed');
  const worst = assets.filter((a) => a.rpo.status !== 'not-measured').sort((a, b) => rpoRatio(b) - rpoRatio(a))[0];
  const worstRpo = worst && { asset: worst.name, rpoSeconds: worst.rpo.nowSeconds, targetSeconds: worst.rpo.targetSeconds };
  const rpoText =
    over.length === 0
      ? `every asset is within its RPO target now${worst ? ` (closest: ${worst.name}, ${formatDuration(worst.rpo.nowSeconds)} of ${formatDuration(worst.rpo.targetSeconds)})` : ''}`
      : `${over.map((a) => `${a.name} (${a.rpo.nowSeconds === null ? 'no recovery point' : `${formatDuration(a.rpo.nowSeconds)} of ${formatDuration(a.rpo.targetSeconds)}`})`).join(', ')} ${over.length === 1 ? 'is' : 'are'} over the RPO target now: an outage now would lose more than the target allows`;
  const base = { assetsOverRpo: over.map((a) => a.name), ...(worstRpo && { worstRpo }) };

  if (!finished) {
    return {
      verdict: 'unknown',
      text: `Unknown: no region-outage drill has finished yet, so the time to recover is not measured; ${rpoText}.`,
      ...base,
    };
  }
  const { drill, run } = finished;
  const recovered = new Set(run.assets.map((a) => a.asset));
  const notDrilled = policy.assets.map((a) => a.name).filter((name) => !recovered.has(name));
  const notDrilledText = notDrilled.length > 0 ? ` Not recovered by that drill (outside its scope): ${notDrilled.join(', ')}.` : '';
  const passed = run.state === 'passed';
  const age = formatDuration(secondsBetween(run.finishedAt!, now));
  const drillFacts = {
    name: drill.name,
    drillId: run.drillId,
    finishedAt: run.finishedAt!,
    passed,
    rtoSeconds: run.rtoSeconds,
    targetSeconds: run.targetSeconds,
  };
  const measured = `drill ${drill.name} of ${formatTime(run.finishedAt)} (${age} ago)`;
  if (!passed) {
    return {
      verdict: 'no',
      text: `No: the last region-outage drill, ${measured}, failed${run.reasons[0] ? ` (${run.reasons[0]})` : ''}; ${rpoText}.${notDrilledText}`,
      drill: drillFacts,
      ...base,
    };
  }
  const recovery = `in about ${formatDuration(run.rtoSeconds)} against a target of ${formatDuration(run.targetSeconds)}, as measured by ${measured}`;
  return over.length === 0
    ? {
        verdict: 'yes',
        text: `Yes: we could recover from a region outage now ${recovery}; ${rpoText}.${notDrilledText}`,
        drill: drillFacts,
        ...base,
      }
    : {
        verdict: 'at-risk',
        text: `At risk: a region outage would be recovered ${recovery}, but ${rpoText}.${notDrilledText}`,
        drill: drillFacts,
        ...base,
      };
}

const rpoRatio = (a: AssetReport) => (a.rpo.nowSeconds === null ? Infinity : a.rpo.nowSeconds / a.rpo.targetSeconds);
