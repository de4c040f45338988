import type { LedgerEntry } from '../ledger/ledger.js';
import type { Asset } from '../policy/schema.js';
import { SERVICE_NAME } from '../shared/service.js';

/** Why a target is missed: the RPO (measure-rpo), the RTO (verify-restore's restore tests) or a DR drill (dr-drill). */
export type TargetMissReason =
  | 'rpo-over-target'
  | 'no-verified-snapshot'
  | 'rto-over-target'
  | 'restore-test-failed'
  | 'drill-failed'
  | 'drill-over-target'
  | 'lineage-at-risk'
  | 'serving-primary-down'
  | 'no-ready-fallback'
  | 'dr-endpoint-stale';

/**
 * Which target a check is of: an asset's RPO or RTO, a drill's whole-recovery target (its "asset" is
 * the drill's name), or lineage (the lineage check: an asset whose versions registered models need
 * a lifecycle rule would expire, or a model whose training set failed to restore; its "asset" is
 * then `<name>@<version>`), or serving (probe-serving: a model service whose primary is down or
 * that has no ready fallback, or a SageMaker endpoint that serves a stale artifact; its "asset" is the service's name, its kind "model-service").
 */
export type TargetName = 'rpo' | 'rto' | 'drill' | 'lineage' | 'serving';

/** What a drill's check carries besides the numbers: which run, and what failed (docs/drills.md). */
export interface DrillEvidence {
  drillId: string;
  scenario: string;
  /** The assets that failed or missed their RTO, with why (at most 20). */
  failures: { asset: string; reason: string }[];
}

/** The oldest change not yet verified in the replica, as an event and the status report show it. */
export interface OldestChange {
  key: string;
  sourceVersionId: string;
  sourceLastModified: string;
  state: LedgerEntry['state'];
  attempts: number;
  lastError?: string;
}

/**
 * One check of one target of one asset, the input of alerting: a live RPO measurement (the rpo
 * module's rpoCheck) or a restore test (the restore module's rtoCheck).
 */
export interface TargetCheck extends TargetFacts {
  status: 'ok' | 'missed' | 'not-measured';
  reason?: TargetMissReason;
}

/** What a check found, as the check and its event both carry it. */
interface TargetFacts {
  asset: string;
  /** "drill" for a drill's check (its asset is the drill's name, its tier the highest in its scope). */
  kind: Asset['kind'] | 'drill' | 'model-service';
  tier: Asset['tier'];
  target: TargetName;
  targetSeconds: number;
  actualSeconds: number | null;
  /** What a failed restore test or drill found, in words. */
  description?: string;
  evidence?: DrillEvidence;
  pendingObjects: number;
  failedObjects: number;
  oldestChange: OldestChange | null;
  measuredAt: string;
}

/**
 * The events on-call receives, on the stack's EventBridge bus (schema: docs/events.md,
 * docs/schemas/dr-target-event.schema.json). One "DR Target Missed" when an asset goes over its
 * target, one "DR Target Recovered" when it comes back; both carry the same incidentId.
 */
export const EVENT_SOURCE = SERVICE_NAME;
export type TargetEventType = 'DR Target Missed' | 'DR Target Recovered';

export interface TargetEventDetail extends TargetFacts {
  schemaVersion: '1';
  incidentId: string;
  reason: TargetMissReason | 'back-under-target';
  missedSince: string;
}

export interface TargetEvent {
  detailType: TargetEventType;
  detail: TargetEventDetail;
}

const defaultReason: Record<TargetName, TargetMissReason> = {
  rpo: 'rpo-over-target',
  rto: 'rto-over-target',
  drill: 'drill-failed',
  lineage: 'lineage-at-risk',
  serving: 'no-ready-fallback',
};

export function targetEvent(type: TargetEventType, m: TargetCheck, missedSince: string): TargetEvent {
  return {
    detailType: type,
    detail: {
      schemaVersion: '1',
      incidentId: `${m.asset}:${m.target}:${missedSince}`,
      asset: m.asset,
      kind: m.kind,
      tier: m.tier,
      target: m.target,
      targetSeconds: m.targetSeconds,
      actualSeconds: m.actualSeconds === null ? null : Math.round(m.actualSeconds * 1000) / 1000,
      reason: type === 'DR Target Missed' ? (m.reason ?? defaultReason[m.target]) : 'back-under-target',
      ...(type === 'DR Target Missed' && m.description && { description: m.description.slice(0, 1000) }),
      ...(m.evidence && { evidence: { ...m.evidence, failures: m.evidence.failures.slice(0, 20) } }),
      pendingObjects: m.pendingObjects,
      failedObjects: m.failedObjects,
      oldestChange: m.oldestChange,
      measuredAt: m.measuredAt,
      missedSince,
    },
  };
}

/** Where target events go: the stack's event bus in production. */
export interface TargetEventPublisher {
  publish(event: TargetEvent): Promise<void>;
}
