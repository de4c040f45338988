import { createHash, randomBytes } from 'node:crypto';
import { canonicalJson } from '../shared/json.js';
import type { JsonValue } from '../shared/json.js';

/**
 * Restores run in two steps. A dry run writes nothing to the target: it works out what the restore
 * would do (the plan: what, how much, where, what it would overwrite, how long) and stores the plan
 * under a random token. The real run must present that token with the same request; it claims the
 * plan (once), and records its progress on the plan so that a large restore continues across
 * invocations. A plan expires after `PLAN_TTL_HOURS`.
 */
export const PLAN_TTL_HOURS = 24;

export type RestoreKind = 'restore-data' | 'restore-vectors';
/** planning: a dry run still walking (it continues by itself); planned: ready to run with its token. */
export type PlanState = 'planning' | 'planned' | 'running' | 'done' | 'failed';

export interface StoredPlan<Request = JsonValue, Summary = JsonValue, Progress = JsonValue, Result = JsonValue> {
  token: string;
  kind: RestoreKind;
  /** The request as normalised by the dry run (defaults filled in, times absolute). */
  request: Request;
  requestDigest: string;
  summary: Summary;
  createdAt: string;
  expiresAt: string;
  state: PlanState;
  startedAt?: string;
  finishedAt?: string;
  progress?: Progress;
  result?: Result;
  reason?: string;
  /** The invocation running the plan now, and until when. */
  lease?: { owner: string; until: string };
}

export interface PlanStore {
  create(plan: StoredPlan): Promise<void>;
  /** Replaces a plan that is still `planning` (a dry run that continued), e.g. to mark it `planned`. */
  replacePlanning(plan: StoredPlan): Promise<void>;
  get(token: string): Promise<StoredPlan | undefined>;
  /** planned → running, once: false if the plan is not `planned` any more (already run or running). */
  claim(token: string, now: Date): Promise<boolean>;
  saveProgress(token: string, progress: JsonValue): Promise<void>;
  finish(token: string, state: 'done' | 'failed', now: Date, result: JsonValue, reason?: string): Promise<void>;
  /** Takes the run's lease for `owner` until `until`, if it is free, expired or already its own. */
  lease(token: string, owner: string, until: Date, now: Date): Promise<boolean>;
  release(token: string, owner: string): Promise<void>;
}

/**
 * Runs `work` holding the plan's lease for this invocation, so that a continuation, a Lambda retry
 * and an operator's {"restoreId", "continuation": true} never run one plan twice at once. Without the
 * lease (another invocation holds it) `busy` is returned instead and nothing is done.
 */
export async function withRunLease<T>(
  plans: PlanStore,
  token: string,
  now: Date,
  remainingMs: number,
  work: () => Promise<T>,
  busy: () => Promise<T>,
): Promise<T> {
  const owner = randomBytes(8).toString('hex');
  const until = new Date(now.getTime() + Math.min(remainingMs, 900_000) + 60_000);
  if (!(await plans.lease(token, owner, until, now))) return busy();
  try {
    return await work();
  } finally {
    await plans.release(token, owner);
  }
}

export const newPlanToken = () => randomBytes(16).toString('hex');
export const requestDigest = (request: JsonValue) => createHash('sha256').update(canonicalJson(request)).digest('hex');

export class PlanTokenError extends Error {
  override readonly name = 'PlanTokenError';
}

/**
 * The stored plan a real run may execute: it exists, is of this kind, was made for exactly this
 * request, has not expired, and has not been run. Anything else is one clear error and nothing is done.
 */
export async function planForRun(store: PlanStore, kind: RestoreKind, token: string, request: JsonValue, now: Date): Promise<StoredPlan> {
  const plan = await store.get(token);
  if (!plan || plan.kind !== kind) throw new PlanTokenError(`planToken: no ${kind} plan "${token}"; run with "dryRun": true first`);
  if (plan.requestDigest !== requestDigest(request)) {
    throw new PlanTokenError(`planToken: plan "${token}" was made for another request; run the same payload with "dryRun": true again`);
  }
  if (plan.state !== 'planned') throw new PlanTokenError(`planToken: plan "${token}" is ${plan.state}; a plan runs once (continue it with {"restoreId": "${token}"})`);
  if (new Date(plan.expiresAt) <= now) throw new PlanTokenError(`planToken: plan "${token}" expired at ${plan.expiresAt}; run with "dryRun": true again`);
  if (!(await store.claim(token, now))) throw new PlanTokenError(`planToken: plan "${token}" is already running`);
  return { ...plan, state: 'running', startedAt: now.toISOString() };
}

export function expiryFrom(now: Date): string {
  return new Date(now.getTime() + PLAN_TTL_HOURS * 3_600_000).toISOString();
}
