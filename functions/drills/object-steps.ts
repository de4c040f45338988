import { Readable } from 'node:stream';
import type { ObjectAsset } from '../policy/schema.js';
import { RESTORED_FROM, verifyAgainstLedger, type DataRestoreStatus } from '../restore/restore-data.js';
import { describeError } from '../shared/errors.js';
import type { JsonValue } from '../shared/json.js';
import type { DrillDeps } from './drill-deps.js';
import type { DrillAssetRun, DrillRun } from './drill-run.js';
import { RUNBOOK_STEPS, type RunbookStep, type StepContext } from './runbook-steps.js';

/**
 * An object asset's part of a drill, one step at a time. A step either moves the asset on (to its
 * next step, or to "done" with a verdict) or pauses it (a restore that continues in the next
 * invocation); the caller saves the run after every step.
 *
 * - region-outage: the runbook's dry run and run restore the asset as of the drill's start into the
 *   workspace; then every object there is compared, byte for byte, with the ledger's SHA-256.
 * - data-corruption and model-regression: a scratch copy of the asset as of the drill's start is
 *   restored into the workspace first (the stand-in for production, verified like a restore), then
 *   damaged: `corruptObjects` objects overwritten with garbage (data-corruption), or the model's
 *   artifacts replaced by a bad release (model-regression). The runbook's steps then restore the
 *   copy as of the last good point, overwriting what is newer, and every object is compared again.
 *   The last good point is the point the scratch copy was verified against: the drill's start.
 */
export type StepOutcome = 'moved' | 'paused';

/** Steps the drill adds around the runbook's: the scratch copy and its damage first, the comparison last. */
const SEED_STEPS = ['seed-dry-run', 'seed-run', 'damage'] as const;
export const VERIFY_STEP = 'verify';

/** The steps an object asset goes through in a drill of this scenario, in order. */
export function objectSteps(scenario: DrillRun['scenario']): string[] {
  const runbook = RUNBOOK_STEPS[scenario].filter((s) => s.assets === 'objects' && s.function !== 'status').map((s) => s.name);
  return [...(scenario === 'region-outage' ? [] : SEED_STEPS), ...runbook, VERIFY_STEP];
}

/** Where the drill's copy of an asset goes: <workspace prefix><drill id>/<asset>/. */
export const workspacePrefixOf = (run: DrillRun, asset: string) => `${run.definition.workspace.prefix}${run.drillId}/${asset}/`;
export const drillPrefixOf = (run: Pick<DrillRun, 'definition' | 'drillId'>) => `${run.definition.workspace.prefix}${run.drillId}/`;

function workspaceOf(deps: DrillDeps, run: DrillRun) {
  const bucket = run.definition.workspace.bucket;
  const region = deps.policy.restore.targetBuckets.find((t) => t.bucket === bucket)?.region;
  if (!region) throw new Error(`workspace bucket ${bucket} is no longer one of restore.targetBuckets`);
  return { bucket, region, store: deps.workspaceStore(region) };
}

/** Runs one step of an object asset; returns whether it moved on or has to continue later. */
export async function advanceObjectAsset(deps: DrillDeps, run: DrillRun, entry: DrillAssetRun, asset: ObjectAsset): Promise<StepOutcome> {
  const steps = objectSteps(run.scenario);
  const ctx: StepContext = {
    asset: asset.name,
    target: { bucket: run.definition.workspace.bucket, prefix: workspacePrefixOf(run, asset.name) },
    asOf: run.startedAt,
    planToken: entry.restoreIds.at(-1),
  };
  const next = () => {
    entry.step = steps[steps.indexOf(entry.step) + 1] ?? 'done';
    return 'moved' as const;
  };
  const fail = (reason: string) => {
    entry.ok = false;
    entry.reason = reason;
    entry.step = 'done';
    return 'moved' as const;
  };

  switch (entry.step) {
    case 'seed-dry-run':
    case 'seed-run': {
      // The scratch copy is made exactly as the region-outage runbook restores (its dry run and run).
      const seedStep = RUNBOOK_STEPS['region-outage'].find((s) => s.name === (entry.step === 'seed-dry-run' ? 'dry-run' : 'run'))!;
      return restoreStep(deps, entry, seedStep, ctx, next, fail, 'seed');
    }
    case 'damage':
      await damage(deps, run, entry, asset);
      return next();
    case VERIFY_STEP:
      return verifyWorkspace(deps, run, entry, asset, next, fail);
    default: {
      const step = RUNBOOK_STEPS[run.scenario].find((s) => s.name === entry.step);
      if (!step) return fail(`unknown step "${entry.step}" for a ${run.scenario} drill`);
      return restoreStep(deps, entry, step, ctx, next, fail, step.name);
    }
  }
}

/**
 * A restore-data step of a runbook. A dry run stores its plan's token; a run first asks for the
 * plan's state (a crash may have left it claimed or running), then runs it, continues it, or takes its
 * result; a status step records the restore's state as the runbook shows it.
 */
async function restoreStep(
  deps: DrillDeps,
  entry: DrillAssetRun,
  step: RunbookStep,
  ctx: StepContext,
  next: () => StepOutcome,
  fail: (reason: string) => StepOutcome,
  label: string,
): Promise<StepOutcome> {
  const record = (status: DataRestoreStatus) => {
    entry.checks[label] = {
      restoreId: status.restoreId,
      state: status.state,
      ...(status.result && { result: status.result as unknown as JsonValue }),
      ...(status.reason && { reason: status.reason }),
      ...(step.name.endsWith('dry-run') && { plan: status.plan as unknown as JsonValue }),
    };
  };
  const isDryRun = 'dryRun' in step.payload({ ...ctx, planToken: 'x' });
  if (isDryRun) {
    const pending = entry.checks[label] as { state?: string; restoreId?: string } | undefined;
    const status =
      pending?.state === 'planning'
        ? await deps.restoreData({ restoreId: pending.restoreId!, continuation: true })
        : await deps.restoreData(step.payload(ctx));
    if (!entry.restoreIds.includes(status.restoreId)) entry.restoreIds.push(status.restoreId);
    record(status);
    return status.state === 'planning' ? 'paused' : next();
  }
  if (!ctx.planToken) return fail(`${label}: no plan from the dry run`);
  let status = await deps.restoreData({ restoreId: ctx.planToken });
  if (step.payload(ctx).planToken !== undefined) {
    if (status.state === 'planned') status = await deps.restoreData(step.payload(ctx));
    else if (status.state === 'running') status = await deps.restoreData({ restoreId: ctx.planToken, continuation: true });
  }
  record(status);
  if (status.state === 'running') return 'paused';
  if (status.state === 'failed') return fail(`${label}: restore ${status.restoreId} failed: ${status.reason ?? 'no reason given'}`);
  return next();
}

/** Damages the scratch copy as the scenario says, and records which keys (each tagged with the drill id). */
async function damage(deps: DrillDeps, run: DrillRun, entry: DrillAssetRun, asset: ObjectAsset): Promise<void> {
  const { bucket, store } = workspaceOf(deps, run);
  const prefix = workspacePrefixOf(run, asset.name);
  const keys: string[] = [];
  for await (const history of store.keysUnder(bucket, prefix)) {
    if (history.versions.some((v) => v.isLatest && v.kind === 'object')) keys.push(history.key);
  }
  const wanted = run.definition.corruptObjects;
  // data-corruption: objects spread over the copy; model-regression: the release replaces the model's files.
  const chosen =
    run.scenario === 'model-regression'
      ? keys.slice(0, wanted)
      : Array.from(new Set(Array.from({ length: Math.min(wanted, keys.length) }, (_, i) => keys[Math.floor((i * keys.length) / wanted)]!)));
  const what = run.scenario === 'model-regression' ? 'a bad model release' : 'corrupted data';
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
  entry.checks.damage = { scenario: run.scenario, objects: chosen.length, keys: chosen.slice(0, 20), at: deps.now().toISOString() };
}

/**
 * Compares every object of the asset's workspace copy with the ledger, byte for byte: the object
 * names the source version it was restored from (x-amz-meta-dr-restored-from), and its bytes must
 * hash to that version's SHA-256 (or composite) in the ledger. The copy must hold exactly the
 * objects the restore said it holds. Continues from the last key compared when time runs out.
 */
async function verifyWorkspace(
  deps: DrillDeps,
  run: DrillRun,
  entry: DrillAssetRun,
  asset: ObjectAsset,
  next: () => StepOutcome,
  fail: (reason: string) => StepOutcome,
): Promise<StepOutcome> {
  const { bucket, store } = workspaceOf(deps, run);
  const prefix = workspacePrefixOf(run, asset.name);
  const counts = (entry.checks.verify as { compared: number; matched: number; problems: string[] } | undefined) ?? {
    compared: 0,
    matched: 0,
    problems: [],
  };
  const reserveMs = deps.reserveMs ?? 60_000;
  for await (const history of store.keysUnder(bucket, prefix, entry.verifyAfterKey)) {
    if (deps.remainingMs() < reserveMs) {
      entry.checks.verify = counts;
      return 'paused';
    }
    const problem = await compareObject(deps, store, bucket, asset, prefix, history.key);
    counts.compared++;
    if (problem) {
      if (counts.problems.length < 20) counts.problems.push(`${history.key}: ${problem}`);
    } else counts.matched++;
    entry.verifyAfterKey = history.key;
  }
  entry.checks.verify = counts;
  const restored = restoredCount(entry);
  if (counts.problems.length > 0 || counts.matched < counts.compared)
    return fail(`${counts.compared - counts.matched} of ${counts.compared} objects do not match the ledger; first ${counts.problems[0]}`);
  if (counts.compared !== restored.expected)
    return fail(`the workspace holds ${counts.compared} objects; the restores account for ${restored.expected} (${restored.how})`);
  entry.ok = true;
  entry.verifiedAt = deps.now().toISOString();
  return next();
}

/** How many objects the workspace copy must hold: what the (first) restore put there. */
function restoredCount(entry: DrillAssetRun): { expected: number; how: string } {
  const first = (entry.checks.seed ?? entry.checks.run) as {
    result?: { restored?: { objects?: number }; skipped?: Record<string, number> };
  };
  const repair = entry.checks.seed ? (entry.checks.run as typeof first) : undefined;
  const restored = first?.result?.restored?.objects ?? 0;
  const unchanged = first?.result?.skipped?.unchanged ?? 0;
  const how = `${restored} restored${unchanged ? `, ${unchanged} unchanged` : ''}${
    repair ? `; the repair restored ${repair.result?.restored?.objects ?? 0} over the damage` : ''
  }`;
  return { expected: restored + unchanged, how };
}

async function compareObject(
  deps: DrillDeps,
  store: ReturnType<DrillDeps['workspaceStore']>,
  bucket: string,
  asset: ObjectAsset,
  prefix: string,
  key: string,
): Promise<string | undefined> {
  try {
    const current = await store.current(bucket, key);
    if (!current) return 'deleted in the workspace';
    const from = current.metadata[RESTORED_FROM];
    if (!from?.startsWith(`${asset.name}/`)) return `not a restore of ${asset.name} (${RESTORED_FROM}: ${from ?? 'none'})`;
    const sourceVersionId = from.slice(asset.name.length + 1);
    const sourceKey = asset.source.prefix + key.slice(prefix.length);
    const version = (await deps.ledger.entriesFor(asset.name, sourceKey)).find((e) => e.sourceVersionId === sourceVersionId);
    if (!version) return `the ledger has no version ${sourceVersionId} of ${sourceKey}`;
    await verifyAgainstLedger(store, { bucket, key, versionId: current.versionId }, version, {});
    return undefined;
  } catch (error) {
    return describeError(error);
  }
}
