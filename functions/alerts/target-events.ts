import type { AssetMeasurement, MissReason } from '../rpo/measure.js';

/**
 * The events on-call receives, on the stack's EventBridge bus (schema: docs/events.md,
 * docs/schemas/dr-target-event.schema.json). One "DR Target Missed" when an asset goes over its
 * target, one "DR Target Recovered" when it comes back; both carry the same incidentId.
 */
export const EVENT_SOURCE = 'ai-data-dr';
export type TargetEventType = 'DR Target Missed' | 'DR Target Recovered';

export interface TargetEventDetail {
  schemaVersion: '1';
  incidentId: string;
  asset: string;
  kind: AssetMeasurement['kind'];
  tier: AssetMeasurement['tier'];
  target: 'rpo';
  targetSeconds: number;
  actualSeconds: number | null;
  reason: MissReason | 'back-under-target';
  pendingObjects: number;
  failedObjects: number;
  oldestChange: AssetMeasurement['oldestChange'] | null;
  measuredAt: string;
  missedSince: string;
}

export interface TargetEvent {
  detailType: TargetEventType;
  detail: TargetEventDetail;
}

export function targetEvent(type: TargetEventType, m: AssetMeasurement, missedSince: string): TargetEvent {
  return {
    detailType: type,
    detail: {
      schemaVersion: '1',
      incidentId: `${m.asset}:rpo:${missedSince}`,
      asset: m.asset,
      kind: m.kind,
      tier: m.tier,
      target: 'rpo',
      targetSeconds: m.rpoTargetSeconds,
      actualSeconds: m.rpoSeconds === null ? null : Math.round(m.rpoSeconds * 1000) / 1000,
      reason: type === 'DR Target Missed' ? (m.reason ?? 'rpo-over-target') : 'back-under-target',
      pendingObjects: m.pendingObjects,
      failedObjects: m.failedObjects,
      oldestChange: m.oldestChange ?? null,
      measuredAt: m.measuredAt,
      missedSince,
    },
  };
}

/** Where target events go: the stack's event bus in production. */
export interface TargetEventPublisher {
  publish(event: TargetEvent): Promise<void>;
}
