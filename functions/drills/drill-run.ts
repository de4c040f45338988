import { type Asset, type AssetDrill, type Drill, type DrillScenario, isServingDrill, type ServingDrill } from '../policy/schema.js';
import type { JsonValue } from '../shared/json.js';
import type { RestoreFanOut } from '../restore/restore-vectors.js';

/**
 * One run of a DR drill (dr-drill), as kept in the ledger table and returned by
 * `{"drill": "<name>", "drillId": "<id>"}`: what it found at the start (each asset's RPO), what it
 * did to each asset (the runbook's steps, the restores behind them, the checks), how long each asset
 * took to be verified (its RTO in this drill), what it created and removed, and the verdict.
 *
 * A run moves through phases, saved after every step so that a crashed or timed-out invocation is
 * continued from where it stood: measure → recover → cleanup → finished.
 */
export type DrillPhase = 'measure' | 'recover' | 'cleanup' | 'finished';

/** Something the drill created, recorded before it is created, so that cleanup finds it even after a crash. */
export type DrillResource =
  | { kind: 's3-prefix'; bucket: string; prefix: string }
  | { kind: 'index'; asset: string; index: string }
  /** A model-provider-outage drill's pin of its service: cleanup lifts it if the drill left it. */
  | { kind: 'serving-pin'; service: string; by: string };

/** One asset's part of a drill. */
export interface DrillAssetRun {
  /** An asset's name, or a model-provider-outage drill's model service. */
  asset: string;
  kind: Asset['kind'] | 'model-service';
  tier: Asset['tier'];
  /** The step the asset is at (a runbook step name, then "verify"), or "done". */
  step: string;
  /** The restores the steps made (restore-data or restore-vectors plans in the ledger table: their records). */
  restoreIds: string[];
  /** What the steps found, by step (a restore's result, the comparison of bytes, recall). */
  checks: Record<string, JsonValue>;
  /** When the recovery being timed began: the drill's start (region outage), or the damage (the other scenarios). */
  rtoFrom?: string;
  /** When the asset was verified: its RTO in this drill is verifiedAt − rtoFrom − excludedSeconds. */
  verifiedAt?: string;
  /**
   * Seconds between rtoFrom and verifiedAt that were the drill's own work, not the recovery's: the
   * exact neighbours of a vector asset's golden queries, computed from the snapshot (checks.reference).
   */
  excludedSeconds?: number;
  /** The asset's restore ran in parts (restoreParts): how many wrote and how many scanned the check, from its result. */
  fanOut?: RestoreFanOut;
  /** Consecutive errors of the current step (it is tried again, up to three times, then the asset fails). */
  attempts?: number;
  rtoSeconds?: number;
  rtoTargetSeconds: number;
  ok?: boolean;
  /** The first check that failed, in words. */
  reason?: string;
}

export interface DrillRpo {
  asset: string;
  /** What a region outage at the drill's start would have lost, in time; null when unknown (no verified recovery point). */
  rpoSeconds: number | null;
  rpoTargetSeconds: number;
  status: 'ok' | 'missed' | 'not-measured';
  pendingObjects: number;
  /** Why it could not be measured. */
  error?: string;
}

/** How a finished drill measured up: per asset and for the whole drill. */
export interface DrillVerdict {
  ok: boolean;
  /** From the drill's start to its last asset verified (null when an asset never was). */
  rtoSeconds: number | null;
  targetSeconds: number;
  /** Every target the drill checked, each passed or not. */
  targets: { target: string; asset?: string; targetSeconds: number; actualSeconds: number | null; ok: boolean; reason?: string }[];
  reasons: string[];
}

/** The definition of a run that recovers assets (every scenario but model-provider-outage). */
export function assetDefinition(run: Pick<DrillRun, 'definition'>): AssetDrill {
  if (isServingDrill(run.definition)) throw new Error(`drill ${run.definition.name} fails a model service over; it recovers no asset`);
  return run.definition;
}

/** The definition of a model-provider-outage run. */
export function servingDefinition(run: Pick<DrillRun, 'definition'>): ServingDrill {
  if (!isServingDrill(run.definition)) throw new Error(`drill ${run.definition.name} recovers assets; it fails no model service over`);
  return run.definition;
}

export interface DrillRun {
  drill: string;
  drillId: string;
  scenario: DrillScenario;
  state: 'running' | 'passed' | 'failed';
  phase: DrillPhase;
  startedAt: string;
  finishedAt?: string;
  /** The drill as declared when the run started (a policy change does not change a running drill). */
  definition: Drill;
  rpoAtStart: DrillRpo[];
  assets: DrillAssetRun[];
  created: DrillResource[];
  /**
   * What cleanup removed and found left. `next`: while cleanup continues in another invocation (a
   * workspace prefix too large for one), how many of `created` are done; absent once it has finished.
   */
  cleanup?: { removedObjects: number; droppedIndexes: number; leftBehind: string[]; next?: number };
  verdict?: DrillVerdict;
  /** Invocations that worked on the run (the first, continuations, and ones that resumed after a crash). */
  invocations: number;
  /** The last error that stopped an invocation; the next one continues from the saved step. */
  lastError?: string;
  /** The invocation working on the run now, and until when. */
  lease?: { owner: string; until: string };
}

/** Another invocation took the run's lease (this one's had expired): it must stop without writing. */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
}

/** The drills' records: runs, and which run of a drill is active (at most one at a time). */
export interface DrillStore {
  /** The drill's unfinished run, if any. */
  active(drill: string): Promise<DrillRun | undefined>;
  /** Creates a run and makes it the drill's active one; false when the drill already has an active run. */
  start(run: DrillRun): Promise<boolean>;
  get(drill: string, drillId: string): Promise<DrillRun | undefined>;
  /** Saves a run's progress; refused (LeaseLostError) unless `owner` still holds its lease. */
  save(run: DrillRun, owner: string): Promise<void>;
  /** Saves the finished run and clears the drill's active run; refused unless `owner` holds its lease. */
  finish(run: DrillRun, owner: string): Promise<void>;
  /** Takes the run's lease for `owner` until `until`, if it is free, expired or already its own. */
  lease(drill: string, drillId: string, owner: string, until: Date, now: Date): Promise<boolean>;
  release(drill: string, drillId: string, owner: string): Promise<void>;
  /** The drill's runs, newest first. */
  runs(drill: string, limit: number): Promise<DrillRun[]>;
}
