import type { Asset, DrillScenario } from '../policy/schema.js';
import type { TargetName } from '../alerts/target-events.js';
import type { LineageCheck } from '../lineage/lineage-check.js';
import type { LastRound } from '../serving/probe-round.js';
import type { SmokeEvalResult } from '../serving/smoke-eval.js';
import type { ServiceState } from '../serving/failover.js';
import type { ReplicaBucketProtection } from '../storage/object-lock.js';
import type { RpoShare } from './rpo-share.js';
import type { RestoreFanOut } from '../restore/restore-vectors.js';

/**
 * The DR report's data: what `report.json` holds and `index.html` shows (schema:
 * docs/schemas/dr-report.schema.json; how each number is computed: docs/report.md). Durations are
 * in seconds, times ISO 8601 UTC, shares fractions of 1.
 */
export interface DrReport {
  schemaVersion: '1';
  service: string;
  /** The DR region (the policy's deployment.region). */
  region: string;
  generatedAt: string;
  trigger: ReportTrigger;
  headline: Headline;
  windows: { shortDays: number; longDays: number; shortPeriodSeconds: number; longPeriodSeconds: number; chartDays: number };
  assets: AssetReport[];
  drills: DrillReport[];
  /** Each replica bucket's Object Lock, and the assets it leaves unprotected (docs/object-lock.md). */
  replicaBuckets: ReplicaBucketProtection[];
  /** The latest lineage check (docs/lineage.md#lineage-check); null before the first. */
  lineage: LineageCheck | null;
  /** Each model service of the policy as probe-serving's last round left it (docs/serving.md), and its incidents. */
  serving: ServingReport[];
}

export interface ServingReport {
  service: string;
  tier: Asset['tier'];
  rtoTargetMinutes: number;
  /** The failover state (active endpoint, pin, last switch); null before the first round. */
  state: ServiceState | null;
  /** Each endpoint's last probe and the service's readiness; null before the first round. */
  lastRound: LastRound | null;
  /** The service's last smoke eval (docs/serving.md#smoke-eval); null when it has none. */
  smokeEval: SmokeEvalResult | null;
  incidents: Incident[];
}

export interface ReportTrigger {
  kind: 'schedule' | 'drill' | 'on-demand';
  drill?: string;
  drillId?: string;
}

/** Could we recover from a region outage now, and in how long, against the target. */
export interface Headline {
  verdict: 'yes' | 'at-risk' | 'no' | 'unknown';
  text: string;
  /** The newest finished region-outage drill the verdict rests on. */
  drill?: { name: string; drillId: string; finishedAt: string; passed: boolean; rtoSeconds: number | null; targetSeconds: number };
  /** Assets (of that drill's scope, or all) over their RPO target or without a recovery point now. */
  assetsOverRpo: string[];
  worstRpo?: { asset: string; rpoSeconds: number | null; targetSeconds: number };
}

export interface RtoPoint {
  at: string;
  seconds: number | null;
  ok: boolean;
  source: 'restore-test' | 'drill';
  /** The drill's name and run, for a drill's measurement. */
  drill?: string;
  drillId?: string;
  reason?: string;
  /** The restore ran in parts: how many wrote and how many scanned the check. */
  fanOut?: RestoreFanOut;
}

export interface Incident {
  incidentId: string;
  target: TargetName;
  missedAt: string;
  recoveredAt: string | null;
  ongoing: boolean;
  /** recoveredAt (or now, while ongoing) − missedAt. */
  durationSeconds: number;
  reason: string;
  description?: string;
}

export interface AssetReport {
  name: string;
  kind: Asset['kind'];
  tier: Asset['tier'];
  description?: string;
  rpo: { nowSeconds: number | null; targetSeconds: number; status: 'ok' | 'missed' | 'not-measured'; reason?: string };
  withinRpoTarget: { short: RpoShare; long: RpoShare };
  /** The chart's data: the Maximum of RpoSeconds per long period over the chart window. */
  rpoHistory: { periodSeconds: number; points: { at: string; maxSeconds: number }[] };
  rto: { targetSeconds: number; latestSeconds: number | null; latestAt: string | null; history: RtoPoint[] };
  lastVerified: {
    replicatedAt: string | null;
    snapshotAt: string | null;
    restoreTestPassedAt: string | null;
    drillVerifiedAt: string | null;
  };
  restoreTests: { count: number; passed: number; passRate: number | null; last: { at: string; ok: boolean; reason?: string } | null };
  incidents: Incident[];
}

export interface DrillRunReport {
  drillId: string;
  state: 'running' | 'passed' | 'failed';
  startedAt: string;
  finishedAt: string | null;
  rtoSeconds: number | null;
  targetSeconds: number;
  reasons: string[];
  assets: {
    asset: string;
    ok: boolean | null;
    rtoSeconds: number | null;
    rtoTargetSeconds: number;
    reason?: string;
    /** The asset's restore ran in parts. */
    fanOut?: RestoreFanOut;
  }[];
  rpoAtStart: { asset: string; rpoSeconds: number | null; rpoTargetSeconds: number; status: 'ok' | 'missed' | 'not-measured' }[];
}

export interface DrillReport {
  name: string;
  scenario: DrillScenario;
  schedule: string;
  targetSeconds: number;
  scope: string[];
  runs: DrillRunReport[];
  incidents: Incident[];
}
