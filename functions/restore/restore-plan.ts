import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { type Continuation, DeferredContinuation } from '../shared/continuation.js';
import { PayloadError } from '../shared/payload.js';
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

/**
 * restore-model: restore-data by model (lineage), planned and run like the others; retire-model: retiring
 * a model (lineage), which releases what only it held, takes the same dry run and token.
 */
export type RestoreKind = 'restore-data' | 'restore-vectors' | 'restore-model' | 'retire-model' | 'serving-pin';
/** planning: a dry run still walking (it continues by itself); planned: ready to run with its token. */
export type PlanState = 'planning' | 'planned' | 'running' | 'done' | 'failed';

/** What one kind of restore keeps on its plans: its request, plan summary, progress and result. */
export interface PlanContents {
  request: object;
  summary: object;
  progress: object;
  result: object;
}

export interface StoredPlan<C extends PlanContents = PlanContents> {
  token: string;
  kind: RestoreKind;
  /** The request as normalised by the dry run (defaults filled in, times absolute). */
  request: C['request'];
  requestDigest: string;
  summary: C['summary'];
  createdAt: string;
  expiresAt: string;
  state: PlanState;
  startedAt?: string;
  finishedAt?: string;
  progress?: C['progress'];
  /** null when a run failed before it had a result. */
  result?: C['result'] | null;
  reason?: string;
  /** The invocation running the plan now, and until when. */
  lease?: { owner: string; until: string };
}

/** The plans of one kind of restore; a plan of another kind is not found here. */
export interface PlanStore<C extends PlanContents> {
  readonly kind: RestoreKind;
  create(plan: StoredPlan<C>): Promise<void>;
  /** Replaces a plan that is still `planning` (a dry run that continued), e.g. to mark it `planned`. */
  replacePlanning(plan: StoredPlan<C>): Promise<void>;
  /** The plan, if there is one of this store's kind under `token`. */
  get(token: string): Promise<StoredPlan<C> | undefined>;
  /** planned → running, once: false if the plan is not `planned` any more (already run or running). */
  claim(token: string, now: Date): Promise<boolean>;
  saveProgress(token: string, progress: C['progress']): Promise<void>;
  finish(token: string, state: 'done' | 'failed', now: Date, result: C['result'] | null, reason?: string): Promise<void>;
  /** Takes the run's lease for `owner` until `until`, if it is free, expired or already its own. */
  lease(token: string, owner: string, until: Date, now: Date): Promise<boolean>;
  release(token: string, owner: string): Promise<void>;
}

/** One part of a run that fans out (restore-vectors with "parts"): what it does, and whether it is done. */
export interface PlanPart<P> {
  /** `<stage>-NNNN`, e.g. "write-0003": the stage it belongs to, then its number. */
  name: string;
  state: P;
  done: boolean;
  /** The invocation working on the part, and until when. */
  lease?: { owner: string; until: string };
}

/**
 * The parts of fanned-out runs, beside their plans: each part is checkpointed under its own lease,
 * so that invocations working on different parts at once never write the same item.
 */
export interface PlanPartStore<P> {
  /** Creates the parts that do not exist yet (a repeated dispatch keeps what the others did). */
  create(token: string, parts: { name: string; state: P }[], expiresAt: string): Promise<void>;
  /** The plan's parts whose names start with `stage-`, in name order. */
  list(token: string, stage: string): Promise<PlanPart<P>[]>;
  get(token: string, name: string): Promise<PlanPart<P> | undefined>;
  /** Takes the part's lease for `owner` until `until`, if it is free, expired or already its own. */
  lease(token: string, name: string, owner: string, until: Date, now: Date): Promise<boolean>;
  release(token: string, name: string, owner: string): Promise<void>;
  /**
   * Saves the part's state (and whether it is done) while `owner` holds its lease and the plan is
   * running, in one transaction: false when either is not so (the plan failed, the lease was lost).
   */
  save(token: string, name: string, owner: string, state: P, done: boolean): Promise<boolean>;
}

/** The lease a run's invocation takes (of the plan or of a part): its remaining time, at most 15 min, and a minute more. */
export const leaseUntil = (now: Date, remainingMs: number) => new Date(now.getTime() + Math.min(remainingMs, 900_000) + 60_000);

/**
 * Runs `work` holding the plan's lease for this invocation, so that a continuation, a Lambda retry
 * and an operator's {"restoreId", "continuation": true} never run one plan twice at once. Without the
 * lease (another invocation holds it) `busy` is returned instead and nothing is done. `work` asks for
 * its continuations through the Continuation it is given: they are sent once the lease is let go, so
 * that the next invocation never finds it still held.
 */
export async function withRunLease<T>(
  deps: { plans: PlanStore<PlanContents>; continuation: Continuation; now: () => Date; remainingMs: () => number },
  token: string,
  work: (continuation: Continuation) => Promise<T>,
  busy: () => Promise<T>,
): Promise<T> {
  const owner = randomBytes(8).toString('hex');
  const now = deps.now();
  if (!(await deps.plans.lease(token, owner, leaseUntil(now, deps.remainingMs()), now))) return busy();
  const later = new DeferredContinuation(deps.continuation);
  try {
    return await work(later);
  } finally {
    try {
      await deps.plans.release(token, owner);
    } finally {
      await later.flush();
    }
  }
}

export const newPlanToken = () => randomBytes(16).toString('hex');

/** The token a dry run returned, which the real run presents (a payload field of every restore). */
export const planTokenField = z.string().regex(/^[0-9a-f]{32}$/, 'must be the 32-hex-digit planToken a dry run returned');

/** A dry run takes no token; a run takes the token of its dry run. */
export function checkPlanToken(input: { dryRun: boolean; planToken?: string | undefined }): void {
  if (input.dryRun && input.planToken) throw new PayloadError('planToken: a dry run takes no planToken');
  if (!input.dryRun && !input.planToken) {
    throw new PayloadError(
      'planToken: a restore runs only with the planToken of its dry run; run the same payload with "dryRun": true first',
    );
  }
}
/** A request is plain JSON data (it came from a payload), so its canonical JSON identifies it. */
export const requestDigest = (request: object) =>
  createHash('sha256')
    .update(canonicalJson(request as JsonValue))
    .digest('hex');

export class PlanTokenError extends Error {
  override readonly name = 'PlanTokenError';
}

/**
 * The stored plan a real run may execute: it exists, is of this kind, was made for exactly this
 * request, has not expired, and has not been run. Anything else is one clear error and nothing is done.
 */
export async function planForRun<C extends PlanContents>(
  store: PlanStore<C>,
  token: string,
  request: C['request'],
  now: Date,
): Promise<StoredPlan<C>> {
  const plan = await store.get(token);
  if (!plan) throw new PlanTokenError(`planToken: no ${store.kind} plan "${token}"; run with "dryRun": true first`);
  if (plan.requestDigest !== requestDigest(request)) {
    throw new PlanTokenError(`planToken: plan "${token}" was made for another request; run the same payload with "dryRun": true again`);
  }
  if (plan.state !== 'planned')
    throw new PlanTokenError(`planToken: plan "${token}" is ${plan.state}; a plan runs once (continue it with {"restoreId": "${token}"})`);
  if (new Date(plan.expiresAt) <= now)
    throw new PlanTokenError(`planToken: plan "${token}" expired at ${plan.expiresAt}; run with "dryRun": true again`);
  if (!(await store.claim(token, now))) throw new PlanTokenError(`planToken: plan "${token}" is already running`);
  return { ...plan, state: 'running', startedAt: now.toISOString() };
}

/**
 * Stores a dry run's plan after one invocation's walk: `planning` with its `progress` (and a
 * continuation queued) while the walk goes on, `planned` (ready to run with its token) once
 * `progress` is undefined. `resume`: the plan a continuation carries on.
 */
export async function savePlanStep<C extends PlanContents>(
  deps: { plans: PlanStore<C>; continuation: Continuation; now: () => Date },
  contents: { request: C['request']; summary: C['summary'] },
  resume: StoredPlan<C> | undefined,
  progress: C['progress'] | undefined,
): Promise<StoredPlan<C>> {
  const now = deps.now();
  const plan: StoredPlan<C> = {
    token: resume?.token ?? newPlanToken(),
    kind: deps.plans.kind,
    request: contents.request,
    requestDigest: requestDigest(contents.request),
    summary: contents.summary,
    createdAt: resume?.createdAt ?? now.toISOString(),
    expiresAt: expiryFrom(now),
    state: progress ? 'planning' : 'planned',
    ...(progress && { progress }),
  };
  if (resume) await deps.plans.replacePlanning(plan);
  else await deps.plans.create(plan);
  if (progress) await deps.continuation.continueLater({ restoreId: plan.token, continuation: true });
  return plan;
}

/**
 * Ends one invocation of a run: saves its progress and queues its continuation while `done` is
 * false; otherwise finishes the plan, `failed` (naming the first failure) when any object failed.
 */
export async function saveRunStep<C extends PlanContents & { result: RunProgress }>(
  deps: { plans: PlanStore<C>; continuation: Continuation; now: () => Date },
  plan: StoredPlan<C>,
  /** The run's progress: also its result once done (a run's progress is one of C['progress']'s kinds). */
  progress: C['result'],
  done: boolean,
): Promise<StoredPlan<C>> {
  if (!done) {
    await deps.plans.saveProgress(plan.token, progress as C['progress']);
    await deps.continuation.continueLater({ restoreId: plan.token, continuation: true });
    return { ...plan, progress: progress as C['progress'] };
  }
  const now = deps.now();
  const state = progress.failed > 0 ? 'failed' : 'done';
  const reason =
    progress.failed > 0
      ? `${progress.failed} objects failed to restore; first: ${progress.failures[0]?.key}: ${progress.failures[0]?.error}`
      : undefined;
  await deps.plans.finish(plan.token, state, now, progress, reason);
  return { ...plan, state, finishedAt: now.toISOString(), result: progress, ...(reason && { reason }) };
}

/** What every run's progress counts of its failures (saveRunStep names the first). */
export interface RunProgress {
  failures: { key: string; error: string }[];
  failed: number;
}

/** A dry run done in one step (nothing to walk): the plan stored `planned`, ready to run with its token. */
export async function storePlanned<C extends PlanContents>(
  plans: PlanStore<C>,
  request: C['request'],
  summary: C['summary'],
  now: Date,
): Promise<RestoreStatus<C>> {
  const plan: StoredPlan<C> = {
    token: newPlanToken(),
    kind: plans.kind,
    request,
    requestDigest: requestDigest(request),
    summary,
    createdAt: now.toISOString(),
    expiresAt: expiryFrom(now),
    state: 'planned',
  };
  await plans.create(plan);
  return restoreStatus(plan);
}

export function expiryFrom(now: Date): string {
  return new Date(now.getTime() + PLAN_TTL_HOURS * 3_600_000).toISOString();
}

/** What the operator sees of a restore of any kind: the plan, its token while it can run, then progress and result. */
export interface RestoreStatus<C extends PlanContents> {
  restoreId: string;
  state: PlanState;
  /** Only while the plan is `planned`: pass it with the same payload (without dryRun) to run the plan. */
  planToken?: string;
  expiresAt?: string;
  request: C['request'];
  plan: C['summary'];
  startedAt?: string;
  finishedAt?: string;
  progress?: C['progress'];
  result?: C['result'];
  reason?: string;
}

export function restoreStatus<C extends PlanContents>(plan: StoredPlan<C>): RestoreStatus<C> {
  return {
    restoreId: plan.token,
    state: plan.state,
    ...(plan.state === 'planned' && { planToken: plan.token, expiresAt: plan.expiresAt }),
    request: plan.request,
    plan: plan.summary,
    ...(plan.startedAt && { startedAt: plan.startedAt }),
    ...(plan.finishedAt && { finishedAt: plan.finishedAt }),
    ...(plan.progress && plan.state !== 'planned' && { progress: plan.progress }),
    ...(plan.result && { result: plan.result }),
    ...(plan.reason && { reason: plan.reason }),
  };
}
