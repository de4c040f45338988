import type { TargetEvent } from './target-events.js';

/**
 * The history of incidents: every DR Target Missed / Recovered event alerting published, kept so
 * that the DR report can show incidents and their durations (the alert state holds only the
 * current one). Recording an event twice (a re-send after a crash) keeps one record.
 */
export interface IncidentLog {
  record(event: TargetEvent): Promise<void>;
  /** The events of an asset (or drill) measured at or after `since`, oldest first. */
  since(asset: string, since: Date): Promise<TargetEvent[]>;
}
