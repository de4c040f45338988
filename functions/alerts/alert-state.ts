import type { TargetEvent, TargetName } from './target-events.js';

/**
 * Per-asset alert state, so on-call gets one page per incident: the state changes only by a
 * conditional write on its revision, and the event of a transition is kept with it until it is
 * sent (a crash between the two re-sends it on the next run instead of losing the page).
 */
export interface AlertState {
  asset: string;
  /** Which target this state tracks; states stored before restore tests existed are the RPO's. */
  target?: TargetName;
  state: 'ok' | 'missed';
  revision: number;
  /** When the current incident started (state missed), or the last one started. */
  missedSince?: string;
  lastEvent?: { type: TargetEvent['detailType']; at: string; incidentId: string };
  /** While missed: since when the asset has been back under target (recovery is declared later). */
  okSince?: string;
  unsent?: TargetEvent;
}

export interface AlertStateStore {
  get(asset: string, target?: TargetName): Promise<AlertState | undefined>;
  /** Moves to `next` if the stored revision is still `expectedRevision`; false when another run won. */
  transition(next: AlertState, expectedRevision: number): Promise<boolean>;
  /** Records that the transition's event was published. */
  markSent(asset: string, revision: number, sentAt: string, target?: TargetName): Promise<void>;
}
