import type { AssetDrill, VectorAsset } from '../policy/schema.js';
import { derivedIndexName } from '../restore/restore-vectors-copy.js';
import { goldenPositions, K } from '../restore/verify-vectors.js';
import { describeError } from '../shared/errors.js';
import { readChunk, readManifest } from '../vectors/read-snapshot.js';
import type { Metric, VectorStore } from '../vectors/vector-store.js';
import { followRestoreInParts, partsProgress } from '../restore/follow-parts.js';
import type { VectorRestoreStatus } from '../restore/restore-vectors.js';
import type { JsonValue } from '../shared/json.js';
import type { DrillDeps } from './drill-deps.js';
import { assetDefinition, type DrillAssetRun, type DrillRun } from './drill-run.js';
import { restoreRecord, runOrContinue, stepper, type StepOutcome, VERIFY_STEP } from './steps.js';
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

/** Distance as the metric orders neighbours (smaller is nearer). */
function distance(metric: Metric, a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  let sq = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
    sq += (x - y) * (x - y);
  }
  if (metric === 'euclidean') return Math.sqrt(sq);
  if (metric === 'dot') return -dot;
  return 1 - dot / (Math.sqrt(na * nb) || 1);
}

/**
 * The exact K nearest neighbours of each query over the whole snapshot (two reads of the chunks: the
 * queries first, then the distances), with every record tied with the K-th kept.
 */
async function exactNeighbours(deps: DrillDeps, asset: VectorAsset, prefix: string) {
  const objects = deps.snapshotObjects(asset);
  const manifest = await readManifest(objects, prefix);
  if (!manifest) throw new Error(`${prefix}manifest.json is missing`);
  const positions = goldenPositions(manifest.count, asset.restoreTest.goldenQueries);
  const queries: Float32Array[] = [];
  let position = 0;
  for (const chunk of manifest.chunks) {
    for (const record of await readChunk(objects, prefix, manifest, chunk)) if (positions.has(position++)) queries.push(record.vector);
  }
  const best = queries.map(() => [] as { id: string; d: number }[]);
  for (const chunk of manifest.chunks) {
    for (const record of await readChunk(objects, prefix, manifest, chunk)) {
      queries.forEach((q, i) => {
        const list = best[i]!;
        const d = distance(manifest.metric, q, record.vector);
        const kth = list.length >= K ? list[K - 1]!.d : Infinity;
        if (d > kth + tolerance(kth)) return;
        list.push({ id: record.id, d });
        list.sort((x, y) => x.d - y.d);
        const cut = list[K - 1]?.d;
        if (cut !== undefined) while (list.length > K && list.at(-1)!.d > cut + tolerance(cut)) list.pop();
      });
    }
  }
  return { queries, neighbours: best.map((list) => new Set(list.map((n) => n.id))), count: manifest.count };
}

const tolerance = (d: number) => (Number.isFinite(d) ? 1e-6 * Math.max(1, Math.abs(d)) : 0);

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
    const truth = await exactNeighbours(deps, asset, plan.prefix);
    store = await deps.openStore(engineAsset);
    const recalls: number[] = [];
    for (const [i, query] of truth.queries.entries()) {
      const expected = truth.neighbours[i]!;
      const found = await store.query(index, query, K);
      const wanted = Math.min(K, truth.count);
      recalls.push(wanted === 0 ? 1 : Math.min(wanted, found.filter((n) => expected.has(n.id)).length) / wanted);
    }
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
    return move.fail(`verify: ${describeError(error)}`);
  } finally {
    await store?.close();
  }
  return move.verified(deps.now());
}
