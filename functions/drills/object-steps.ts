import { Readable } from 'node:stream';
import { replicaKeyFor, sourceKeyFor } from '../policy/assets.js';
import type { AssetDrill, ObjectAsset } from '../policy/schema.js';
import type { DataRestoreRequest } from '../restore/data-request.js';
import { decideKey, RESTORED_FROM, verifyAgainstLedger } from '../restore/restore-data.js';
import { describeError } from '../shared/errors.js';
import type { VersionedStore } from '../storage/versioned-store.js';
import type { DrillDeps } from './drill-deps.js';
import { assetDefinition, type DrillAssetRun, type DrillRun } from './drill-run.js';
import { RUNBOOK_STEPS, type RunbookStep, type StepContext } from './runbook-steps.js';
import { DRILL_RESERVE_MS, restoreRecord, runOrContinue, stepper, type StepOutcome, VERIFY_STEP } from './steps.js';

/**
 * An object asset's part of a drill, one step at a time.
 *
 * - region-outage: the runbook's dry run and run restore the asset as of the drill's start into the
 *   workspace; then verify.
 * - data-corruption and model-regression: a scratch copy of the asset as of the drill's start is
 *   restored into the workspace first (the stand-in for production, restored as the outage runbook
 *   restores), then damaged: `corruptObjects` objects overwritten with garbage (data-corruption), or
 *   the model's files replaced by a bad release (model-regression). The last good point is found in
 *   the ledger: the newest write time of the versions the copy held before the damage. The
 *   runbook's steps then restore the copy as of it, overwriting what is newer; then verify. The
 *   asset's RTO is timed from the damage.
 *
 * Verify, in two walks that continue across invocations: every key of the replica must be in the
 * copy as it was as of the restore's time (restore-data's own decision finds nothing left to
 * restore), and every object of the copy is read back and its bytes compared with the ledger's
 * SHA-256 for the version it says it was restored from. The copy holds exactly the keys the first
 * walk expects.
 */
const SEED_STEPS = ['seed-dry-run', 'seed-run', 'damage'] as const;

/** The steps an object asset goes through in a drill of this scenario, in order. */
export function objectSteps(scenario: AssetDrill['scenario']): string[] {
  const runbook = RUNBOOK_STEPS[scenario].filter((s) => s.assets === 'objects' && s.function !== 'status').map((s) => s.name);
  return [...(scenario === 'region-outage' ? [] : SEED_STEPS), ...runbook, VERIFY_STEP];
}

/** Where the drill's copy of an asset goes: <workspace prefix><drill id>/<asset>/. */
export const workspacePrefixOf = (run: DrillRun, asset: string) => `${assetDefinition(run).workspace.prefix}${run.drillId}/${asset}/`;
export const drillPrefixOf = (run: Pick<DrillRun, 'definition' | 'drillId'>) => `${assetDefinition(run).workspace.prefix}${run.drillId}/`;

function workspaceOf(deps: DrillDeps, run: DrillRun) {
  const bucket = assetDefinition(run).workspace.bucket;
  const region = deps.policy.restore.targetBuckets.find((t) => t.bucket === bucket)?.region;
  if (!region) throw new Error(`workspace bucket ${bucket} is no longer one of restore.targetBuckets`);
  return { bucket, region, store: deps.workspaceStore(region) };
}

interface Damage {
  objects: number;
  keys: string[];
  at: string;
  lastGoodPoint: string;
}
const damageOf = (entry: DrillAssetRun) => entry.checks.damage as unknown as Damage | undefined;

/** The time the asset's copy is restored to: the drill's start, or (after the damage) the last good point. */
const asOfFor = (run: DrillRun, entry: DrillAssetRun, step: string) =>
  step.startsWith('seed-') ? run.startedAt : (damageOf(entry)?.lastGoodPoint ?? run.startedAt);

/** Runs one step of an object asset; returns whether it moved on or has to continue later. */
export async function advanceObjectAsset(deps: DrillDeps, run: DrillRun, entry: DrillAssetRun, asset: ObjectAsset): Promise<StepOutcome> {
  const move = stepper(entry, objectSteps(assetDefinition(run).scenario));
  const ctx: StepContext = {
    asset: asset.name,
    target: { bucket: assetDefinition(run).workspace.bucket, prefix: workspacePrefixOf(run, asset.name) },
    asOf: asOfFor(run, entry, entry.step),
    planToken: entry.restoreIds.at(-1),
  };
  switch (entry.step) {
    case 'seed-dry-run':
    case 'seed-run': {
      // The scratch copy is made exactly as the region-outage runbook restores (its dry run and run).
      const seed = RUNBOOK_STEPS['region-outage'].find((s) => s.name === (entry.step === 'seed-dry-run' ? 'dry-run' : 'run'))!;
      return restoreStep(deps, entry, seed, ctx, move, 'seed');
    }
    case 'damage': {
      const problem = await damage(deps, run, entry, asset);
      return problem ? move.fail(problem) : move.next();
    }
    case VERIFY_STEP:
      return verifyCopy(deps, run, entry, asset, move);
    default: {
      const step = RUNBOOK_STEPS[assetDefinition(run).scenario].find((s) => s.name === entry.step);
      if (!step) return move.fail(`unknown step "${entry.step}" for a ${run.scenario} drill`);
      return restoreStep(deps, entry, step, ctx, move, step.name);
    }
  }
}

/**
 * A restore-data step of a runbook. A dry run keeps its plan's token (continuing a dry run that is
 * still planning); a run first asks for the plan's state (a crash may have left it claimed or
 * running), then runs it, continues it, or takes its result; a status step records the restore's
 * state as the runbook shows it.
 */
async function restoreStep(
  deps: DrillDeps,
  entry: DrillAssetRun,
  step: RunbookStep,
  ctx: StepContext,
  move: ReturnType<typeof stepper>,
  label: string,
): Promise<StepOutcome> {
  const payload = step.payload({ ...ctx, planToken: ctx.planToken ?? '-' });
  if ('dryRun' in payload) {
    const pending = entry.checks[label] as { state?: string; restoreId?: string } | undefined;
    const status =
      pending?.state === 'planning'
        ? await deps.restoreData({ restoreId: pending.restoreId!, continuation: true })
        : await deps.restoreData(step.payload(ctx));
    if (!entry.restoreIds.includes(status.restoreId)) entry.restoreIds.push(status.restoreId);
    entry.checks[label] = restoreRecord(status, true);
    return status.state === 'planning' ? 'paused' : move.next();
  }
  if (!ctx.planToken) return move.fail(`${label}: no plan from the dry run`);
  // A run step runs (or continues) the plan; a status step only reads it, as the runbook does.
  const status =
    'planToken' in payload
      ? await runOrContinue(deps.restoreData, ctx.planToken, payload)
      : await deps.restoreData({ restoreId: ctx.planToken });
  entry.checks[label] = restoreRecord(status, false);
  if (status.state === 'running') return 'paused';
  if (status.state === 'failed') return move.fail(`${label}: restore ${status.restoreId} failed: ${status.reason ?? 'no reason given'}`);
  return move.next();
}

/**
 * Finds the last good point (from the ledger: the newest write time among the versions the copy
 * holds), then damages the copy as the scenario says; each damaged version is tagged with the drill
 * id. Returns why it could not, if so.
 */
async function damage(deps: DrillDeps, run: DrillRun, entry: DrillAssetRun, asset: ObjectAsset): Promise<string | undefined> {
  const { bucket, store } = workspaceOf(deps, run);
  const prefix = workspacePrefixOf(run, asset.name);
  const keys: string[] = [];
  let lastGood = 0;
  for await (const history of store.keysUnder(bucket, prefix)) {
    const current = await store.current(bucket, history.key);
    if (!current) continue;
    keys.push(history.key);
    const version = await restoredVersion(deps, asset, prefix, history.key, current.metadata[RESTORED_FROM]);
    if (version) lastGood = Math.max(lastGood, Date.parse(version.sourceLastModified));
  }
  if (keys.length === 0) return `damage: the copy of ${asset.name} holds no objects (the asset had none as of ${run.startedAt})`;
  const wanted = Math.min(assetDefinition(run).corruptObjects, keys.length);
  // data-corruption: objects spread over the copy; model-regression: the release replaces the model's files.
  const chosen =
    run.scenario === 'model-regression'
      ? keys.slice(0, wanted)
      : Array.from({ length: wanted }, (_, i) => keys[Math.floor((i * keys.length) / wanted)]!);
  const what = run.scenario === 'model-regression' ? 'a bad model release' : 'corrupted data';
  const at = deps.now().toISOString();
  for (const key of chosen) {
    const body = Buffer.from(`${what} written by DR drill ${run.drillId} over ${key}\n`);
    await store.put(
      {
        source: { bucket, key, versionId: 'none' },
        target: { bucket, key },
        details: { size: body.length, metadata: {} },
        metadata: { 'dr-drill': run.drillId },
        storageClass: 'STANDARD',
        tagging: `dr-drill=${encodeURIComponent(run.drillId)}`,
      },
      Readable.from(body),
      body.length,
    );
  }
  const record: Damage = { objects: chosen.length, keys: chosen.slice(0, 20), at, lastGoodPoint: new Date(lastGood).toISOString() };
  entry.checks.damage = { scenario: run.scenario, ...record };
  entry.rtoFrom = at;
  return undefined;
}

/** The ledger entry of the source version a workspace object says it was restored from. */
async function restoredVersion(deps: DrillDeps, asset: ObjectAsset, prefix: string, key: string, from: string | undefined) {
  if (!from?.startsWith(`${asset.name}/`)) return undefined;
  const sourceVersionId = from.slice(asset.name.length + 1);
  const sourceKey = asset.source.prefix + key.slice(prefix.length);
  return (await deps.ledger.entriesFor(asset.name, sourceKey)).find((e) => e.sourceVersionId === sourceVersionId);
}

interface VerifyProgress {
  walk: 'expect' | 'compare';
  afterKey?: string;
  /** Keys that must be in the copy (as of the restore's time, replicated). */
  expected: number;
  /** Keys whose version as of that time never reached the replica: what the outage loses. */
  notInReplica: number;
  compared: number;
  matched: number;
  problems: string[];
}

async function verifyCopy(
  deps: DrillDeps,
  run: DrillRun,
  entry: DrillAssetRun,
  asset: ObjectAsset,
  move: ReturnType<typeof stepper>,
): Promise<StepOutcome> {
  const { bucket, region, store } = workspaceOf(deps, run);
  const prefix = workspacePrefixOf(run, asset.name);
  const progress = (entry.checks.verify as unknown as VerifyProgress | undefined) ?? {
    walk: 'expect',
    expected: 0,
    notInReplica: 0,
    compared: 0,
    matched: 0,
    problems: [],
  };
  // Saved with the run after every step, so that a continued verify counts from where it stood.
  entry.checks.verify = progress as never;
  const problem = (text: string) => void (progress.problems.length < 20 && progress.problems.push(text));
  const reserveMs = deps.reserveMs ?? DRILL_RESERVE_MS;
  const request: DataRestoreRequest = {
    asset: asset.name,
    prefix: asset.source.prefix,
    asOf: asOfFor(run, entry, VERIFY_STEP),
    target: { bucket, prefix, region },
    // Newer content at the target must not pass as "left alone": anything but the version as of then is a miss.
    overwriteNewer: true,
  };

  if (progress.walk === 'expect') {
    for await (const history of deps
      .replicaStore(asset)
      .keysUnder(asset.replica.bucket, replicaKeyFor(asset, asset.source.prefix), progress.afterKey)) {
      if (deps.remainingMs() < reserveMs) return 'paused';
      const key = sourceKeyFor(asset, history.key);
      const decision = await decideKey(
        { ledger: deps.ledger, target: store, replica: deps.replicaStore(asset) },
        asset,
        request,
        key,
        history.versions,
      );
      if (decision.reason === 'unchanged') progress.expected++;
      else if (decision.reason === 'not-in-replica') progress.notInReplica++;
      else if (decision.reason !== 'absent-at-time' && decision.reason !== 'deleted-at-time')
        problem(
          `${decision.targetKey}: not the version of ${request.asOf} (${decision.reason === 'absent' ? 'missing' : decision.reason})`,
        );
      progress.afterKey = history.key;
    }
    progress.walk = 'compare';
    progress.afterKey = undefined;
  }
  for await (const history of store.keysUnder(bucket, prefix, progress.afterKey)) {
    if (deps.remainingMs() < reserveMs) return 'paused';
    const mismatch = await compareObject(deps, store, bucket, asset, prefix, history.key);
    progress.compared++;
    if (mismatch) problem(`${history.key}: ${mismatch}`);
    else progress.matched++;
    progress.afterKey = history.key;
  }
  if (progress.problems.length > 0) return move.fail(`verify: ${progress.problems.length} problems; first ${progress.problems[0]}`);
  if (progress.compared !== progress.expected)
    return move.fail(`verify: the copy holds ${progress.compared} objects; the replica as of ${request.asOf} has ${progress.expected}`);
  return move.verified(deps.now());
}

async function compareObject(
  deps: DrillDeps,
  store: VersionedStore,
  bucket: string,
  asset: ObjectAsset,
  prefix: string,
  key: string,
): Promise<string | undefined> {
  try {
    const current = await store.current(bucket, key);
    if (!current) return 'deleted in the workspace';
    const from = current.metadata[RESTORED_FROM];
    const version = await restoredVersion(deps, asset, prefix, key, from);
    if (!version) return `not a restore of a version of ${asset.name} in the ledger (${RESTORED_FROM}: ${from ?? 'none'})`;
    await verifyAgainstLedger(store, { bucket, key, versionId: current.versionId }, version, {});
    return undefined;
  } catch (error) {
    return describeError(error);
  }
}
