import type { AssetDrill, VectorAsset } from '../policy/schema.js';
import { derivedIndexName } from '../restore/restore-vectors-copy.js';
import { K } from '../restore/verify-vectors.js';
import { describeError } from '../shared/errors.js';
import { readManifest, SnapshotCorruptError } from '../vectors/read-snapshot.js';
import type { VectorStore } from '../vectors/vector-store.js';
import { followRestoreInParts, partsProgress } from '../restore/follow-parts.js';
import type { VectorRestoreStatus } from '../restore/restore-vectors.js';
import type { JsonValue } from '../shared/json.js';
import type { DrillDeps } from './drill-deps.js';
import { assetDefinition, type DrillAssetRun, type DrillRun } from './drill-run.js';
import { continueReferenceScan, type ReferenceScan } from './reference-neighbours.js';
import { DRILL_RESERVE_MS, restoreRecord, runOrContinue, stepper, type StepOutcome, VERIFY_STEP } from './steps.js';
import { RUNBOOK_STEPS, type StepContext } from './runbook-steps.js';

/**
 * A vector asset's part of a region-outage drill: the runbook's vector dry run and run restore its
 * newest verified snapshot into a scratch index (named with the drill id) on the engine of the
 * drill's `workspace.vectorTarget`, which lives in the DR region; the restore checks count and
 * content fingerprint against the snapshot's manifest. The drill then measures recall@10 of golden
 * queries (records spread over the snapshot) against neighbours computed exactly from the snapshot
 * itself: the primary's index is not there to ask.
 */
export function vectorSteps(scenario: AssetDrill['scenario']): string[] {
  return [...RUNBOOK_STEPS[scenario].filter((s) => s.assets === 'vectors').map((s) => s.name), VERIFY_STEP];
}

export const scratchIndexOf = (run: DrillRun, engineAsset: VectorAsset, asset: VectorAsset) =>
  derivedIndexName(engineAsset.source.engine, asset.source.index, `-drill-${run.drillId}`);

export async function advanceVectorAsset(deps: DrillDeps, run: DrillRun, entry: DrillAssetRun, asset: VectorAsset): Promise<StepOutcome> {
  const move = stepper(entry, vectorSteps(assetDefinition(run).scenario));
  const engineAsset = deps.policy.assets.find((a) => a.name === assetDefinition(run).workspace.vectorTarget);
  if (engineAsset?.kind !== 'vector-index') return move.fail(`workspace.vectorTarget names no vector-index asset of the policy`);
  const index = scratchIndexOf(run, engineAsset, asset);
  const ctx: StepContext = {
    asset: asset.name,
    vectorTarget: { asset: engineAsset.name, index },
    parts: asset.restoreParts,
    planToken: entry.restoreIds.at(-1),
  };

  if (entry.step === VERIFY_STEP) return verifyRecall(deps, entry, asset, engineAsset, index, move);
  const step = RUNBOOK_STEPS[assetDefinition(run).scenario].find((s) => s.name === entry.step);
  if (!step) return move.fail(`unknown step "${entry.step}" for a ${run.scenario} drill`);
  const payload = step.payload({ ...ctx, planToken: ctx.planToken ?? '-' });
  if ('dryRun' in payload) {
    // The index is recorded before anything can create it: cleanup finds it even after a crash.
    if (!run.created.some((r) => r.kind === 'index' && r.index === index))
      run.created.push({ kind: 'index', asset: engineAsset.name, index });
    const status = await deps.restoreVectors(step.payload(ctx));
    entry.restoreIds.push(status.restoreId);
    entry.checks[entry.step] = restoreRecord(status, true);
    return move.next();
  }
  if (!ctx.planToken) return move.fail(`${entry.step}: no plan from the dry run`);
  const inParts = dryRunPlan(entry)?.fanOut !== undefined;
  let status: VectorRestoreStatus;
  if (inParts) status = await followParts(deps, entry, ctx.planToken, payload);
  else {
    status = await runOrContinue(deps.restoreVectors, ctx.planToken, payload);
    entry.checks[entry.step] = restoreRecord(status, false);
  }
  if (status.state === 'running') return inParts ? 'waiting' : 'paused';
  if (status.state === 'failed' || !status.result?.ok)
    return move.fail(
      `${entry.step}: restore ${status.restoreId} ${status.state}: ${status.reason ?? status.result?.reason ?? 'the restored index does not match'}`,
    );
  if (status.result.fanOut) entry.fanOut = status.result.fanOut;
  return move.next();
}

/** The plan the vector dry run recorded. */
const dryRunPlan = (entry: DrillAssetRun) =>
  (entry.checks['vectors-dry-run'] as { plan?: { prefix?: string; snapshotId?: string; fanOut?: object } } | undefined)?.plan;

/**
 * The run step of a restore in parts (the asset's restoreParts): the drill starts it, its parts run
 * in restore-vectors' invocations, and the drill watches its status (followRestoreInParts),
 * recording each look with the parts' progress. The restore's own restoreMs and fanOut come with
 * its result.
 */
async function followParts(
  deps: DrillDeps,
  entry: DrillAssetRun,
  planToken: string,
  payload: Record<string, unknown>,
): Promise<VectorRestoreStatus> {
  const previous = entry.checks[entry.step] as { continuedAt?: string } | undefined;
  const { status, continuedAt } = await followRestoreInParts(
    (body) => deps.restoreVectors(body, { inParts: true }),
    planToken,
    payload,
    previous?.continuedAt,
    deps.now(),
  );
  const parts = partsProgress(status);
  entry.checks[entry.step] = {
    ...(restoreRecord(status, false) as Record<string, JsonValue>),
    ...(status.state === 'running' && continuedAt && { continuedAt }),
    ...(parts && { parts }),
  };
  return status;
}

/**
 * At most this much of the run record (one DynamoDB item of 400 KB, shared by every asset of the
 * drill) holds a reference scan's checkpoint: about 20 bytes of JSON plus the id per neighbour, so
 * 250 golden queries with 40-character ids. It is checked when the scan first pauses, after one
 * invocation's work.
 */
export const REFERENCE_CHECKPOINT_BYTES = 150 * 1024;

/**
 * The reference scan's share of this invocation (continueReferenceScan): its checkpoint saved in
 * checks.reference and "paused" while it goes on; once done, the golden queries and their exact
 * neighbours, with the scan's time recorded as the drill's own (excludedSeconds).
 */
async function referenceNeighbours(
  deps: DrillDeps,
  entry: DrillAssetRun,
  asset: VectorAsset,
  prefix: string,
  move: ReturnType<typeof stepper>,
): Promise<StepOutcome | { queries: Float32Array[]; nearest: Set<string>[]; count: number; summary: Omit<ReferenceScan, 'nearest'> }> {
  const objects = deps.snapshotObjects(asset);
  const manifest = await readManifest(objects, prefix);
  if (!manifest) throw new SnapshotCorruptError(`${prefix}manifest.json is missing`);
  const reserveMs = deps.reserveMs ?? DRILL_RESERVE_MS;
  const { scan, queries } = await continueReferenceScan(
    objects,
    prefix,
    manifest,
    asset.restoreTest.goldenQueries,
    entry.checks.reference as unknown as ReferenceScan | undefined,
    { now: deps.now, more: () => deps.remainingMs() >= reserveMs },
  );
  const { nearest, ...summary } = scan;
  const before = (entry.checks.reference as { scanned?: number } | undefined)?.scanned;
  if (scan.scanned !== before) entry.attempts = 0; // the scan moved on: an earlier error is not a consecutive one
  // Saved with the run: the next invocation goes on from the chunk this one stopped before (or, the
  // scan done, a retried step measures recall without scanning again); the neighbours go once used.
  const bytes = Buffer.byteLength(JSON.stringify(scan));
  entry.checks.reference = (bytes <= REFERENCE_CHECKPOINT_BYTES ? scan : summary) as unknown as JsonValue;
  if (!scan.finishedAt) {
    if (bytes <= REFERENCE_CHECKPOINT_BYTES) return 'paused';
    return move.fail(
      `verify: the reference neighbours of ${queries.length} golden queries take ${Math.ceil(bytes / 1024)} KiB, more than the ` +
        `${REFERENCE_CHECKPOINT_BYTES / 1024} KiB the drill's run record keeps for them between invocations; lower ` +
        `restoreTest.goldenQueries of asset ${asset.name}`,
    );
  }
  // The reference is the drill's own work, not the recovery's: its time is left out of the RTO.
  entry.excludedSeconds = (Date.parse(scan.finishedAt) - Date.parse(scan.startedAt)) / 1000;
  return { queries, nearest: nearest.map((list) => new Set(list.map((n) => n.id))), count: manifest.count, summary };
}

async function verifyRecall(
  deps: DrillDeps,
  entry: DrillAssetRun,
  asset: VectorAsset,
  engineAsset: VectorAsset,
  index: string,
  move: ReturnType<typeof stepper>,
): Promise<StepOutcome> {
  const plan = dryRunPlan(entry);
  if (!plan?.prefix) return move.fail('verify: the dry run recorded no snapshot');
  let store: VectorStore | undefined;
  try {
    const truth = await referenceNeighbours(deps, entry, asset, plan.prefix, move);
    if (typeof truth === 'string') return truth;
    store = await deps.openStore(engineAsset);
    const recalls: number[] = [];
    for (const [i, query] of truth.queries.entries()) {
      const expected = truth.nearest[i]!;
      const found = await store.query(index, query, K);
      const wanted = Math.min(K, truth.count);
      recalls.push(wanted === 0 ? 1 : Math.min(wanted, found.filter((n) => expected.has(n.id)).length) / wanted);
    }
    // The neighbours stayed in the run for a retry of this step; measured, only a summary stays.
    entry.checks.reference = { ...truth.summary, seconds: entry.excludedSeconds! };
    if (truth.count > 0 && recalls.length === 0) return move.fail('verify: no golden queries (restoreTest.goldenQueries is 0)');
    const mean = recalls.length ? recalls.reduce((a, b) => a + b, 0) / recalls.length : 1;
    const required = store.exactSearch ? 1 : asset.restoreTest.minRecall;
    entry.checks.recall = {
      k: K,
      queries: recalls.length,
      mean,
      min: recalls.length ? Math.min(...recalls) : 1,
      required,
      exactSearch: store.exactSearch,
    };
    if (mean < required)
      return move.fail(
        `recall@${K} ${mean.toFixed(3)} over ${recalls.length} golden queries of snapshot ${plan.snapshotId} is below the required ${required}`,
      );
  } catch (error) {
    // A snapshot that does not read fails the asset at once; anything else (a throttled read, an
    // engine that did not answer) is tried again from the checkpoint, as any step is (run-drill).
    if (error instanceof SnapshotCorruptError) return move.fail(`verify: ${describeError(error)}`);
    throw error;
  } finally {
    await store?.close();
  }
  return move.verified(deps.now());
}
