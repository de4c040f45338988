import type { AlertStateStore } from './alert-state.js';
import type { IncidentLog } from './incident-log.js';
import { type TargetCheck, type TargetEvent, type TargetEventPublisher, targetEvent } from './target-events.js';

export interface AlertDeps {
  store: AlertStateStore;
  publisher: TargetEventPublisher;
  /** Time back under target before Recovered is sent, so an RPO hovering at its target pages once. */
  recoverySeconds?: number;
  /** Where published events are kept for the DR report's incident history (none: not kept). */
  incidents?: IncidentLog;
}

/**
 * Compares one check of a target (the RPO, or a restore test's RTO) with its alert state (one per
 * asset and target) and publishes at most one event per transition: Missed when it goes over
 * target, Recovered when it has been back under target for `recoverySeconds`. Nothing while the
 * state holds. Every published event is also recorded in `incidents`, when given. Returns the
 * events published by this call.
 */
export async function evaluateCheck(deps: AlertDeps, m: TargetCheck): Promise<TargetEvent[]> {
  if (m.status === 'not-measured') return [];
  const published: TargetEvent[] = [];
  let current = await deps.store.get(m.asset, m.target);

  if (current?.unsent) {
    // A previous run changed the state but died before publishing: publish it now.
    await deps.incidents?.record(current.unsent);
    await deps.publisher.publish(current.unsent);
    await deps.store.markSent(m.asset, current.revision, m.measuredAt, m.target);
    published.push(current.unsent);
    current = { ...current, unsent: undefined };
  }

  const state = current?.state ?? 'ok';
  if (state === m.status) {
    // Missed and over target again: the recovery clock restarts.
    if (current?.state === 'missed' && current.okSince) {
      await deps.store.transition({ ...current, okSince: undefined, revision: current.revision + 1 }, current.revision);
    }
    return published;
  }
  if (current?.state === 'missed' && m.status === 'ok') {
    const okSince = current.okSince ?? m.measuredAt;
    if (Date.parse(m.measuredAt) - Date.parse(okSince) < (deps.recoverySeconds ?? 0) * 1000) {
      if (!current.okSince) await deps.store.transition({ ...current, okSince, revision: current.revision + 1 }, current.revision);
      return published;
    }
    current = { ...current, okSince: undefined };
  }

  const missedSince = m.status === 'missed' ? m.measuredAt : (current?.missedSince ?? m.measuredAt);
  const event = targetEvent(m.status === 'missed' ? 'DR Target Missed' : 'DR Target Recovered', m, missedSince);
  const revision = (current?.revision ?? 0) + 1;
  const won = await deps.store.transition(
    {
      asset: m.asset,
      target: m.target,
      state: m.status,
      revision,
      missedSince,
      lastEvent: { type: event.detailType, at: m.measuredAt, incidentId: event.detail.incidentId },
      unsent: event,
    },
    current?.revision ?? 0,
  );
  if (!won) return published;
  // Recorded before the page (a record is idempotent): if recording fails, nothing was sent and the
  // next run sends the event (still unsent) once; a failed page after it is recorded again, harmlessly.
  await deps.incidents?.record(event);
  await deps.publisher.publish(event);
  await deps.store.markSent(m.asset, revision, m.measuredAt, m.target);
  published.push(event);
  return published;
}
