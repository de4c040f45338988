import type { LedgerEntry, ReplicationLedger } from '../ledger/ledger.js';
import { ledgerVersionId } from '../ledger/ledger.js';
import type { MultipartPolicy } from '../policy/multipart.js';
import { isObjectAsset, type ObjectAsset, type Policy } from '../policy/schema.js';
import { CopyContinuesError } from '../replication/errors.js';
import { RESTORED_FROM, restoreVersion } from '../restore/restore-data.js';
import {
  planForRun,
  restoreStatus,
  savePlanStep,
  saveRunStep,
  withRunLease,
  type PlanStore,
  type RestoreStatus,
  type StoredPlan,
} from '../restore/restore-plan.js';
import type { Continuation } from '../shared/continuation.js';
import { describeError, quote } from '../shared/errors.js';
import type { InvocationTime } from '../shared/invocation-time.js';
import { PayloadError } from '../shared/payload.js';
import type { VersionedStore } from '../storage/versioned-store.js';
import type { DatasetCatalog } from './dataset-catalog.js';
import type { ManifestLine } from './dataset-manifest.js';
import type { DatasetObjects } from './dataset-objects.js';
import type { ModelRestoreCall, ModelRestoreRequest } from './model-restore-request.js';
import { splitModelRef, type ModelCatalog } from './model-records.js';
import { DatasetVersionIntegrityError, walkManifest, type ManifestRef } from './read-dataset-version.js';

/**
 * restore-data by model (docs/lineage.md#restore-by-model): exactly the objects a model's record
 * names, read from the dataset versions it links (each manifest and part checked against its
 * digest, the manifest's against the digest the record pinned), each object copied from the
 * replica version its line names and verified against the line's SHA-256. Nothing of the primary
 * region is read: the record and catalog are in the ledger table, the manifests and objects in
 * the replica. Same two steps as every restore: a dry run that plans (what, how much, what it
 * would overwrite) and returns a token; the run with that token. Both walk the manifests' lines in
 * order and continue across invocations from a checkpoint (dataset, part, line).
 *
 * Per object: absent at the target, restored; the target holds those bytes (same SHA-256, a
 * verified restore of that source version, or the source version itself in place): `unchanged`;
 * it holds something else: left alone (`differs-at-target`) unless the request says "overwrite": true.
 */

/** One dataset version the restore reads, and where its objects go: `<target.prefix><key inside the asset's prefix>`. */
export interface ModelPlanDataset extends ManifestRef {
  role: 'training' | 'eval' | 'artifacts' | 'eval-results';
  /** The source prefix the dataset version covers. */
  prefix: string;
  keys: number;
  bytes: number;
  target: { bucket: string; prefix: string; region: string };
}

export interface ModelPlanSummary {
  model: string;
  datasets: ModelPlanDataset[];
  keysExamined: number;
  restore: { objects: number; bytes: number };
  /** Restores that replace what the target holds now (with "overwrite": true). */
  overwrite: { objects: number; examples: string[] };
  skipped: { unchanged: number; 'differs-at-target': number };
  differsAtTargetExamples: string[];
  /** As restore-data's: objects × 50 ms / concurrency + bytes / (concurrency × 100 MB/s). */
  estimatedSeconds: number;
}

/** Where a walk of the plan's lines stands: the next line to handle. */
export interface LineCheckpoint {
  dataset: number;
  part: number;
  line: number;
}

export interface ModelRunProgress {
  at: LineCheckpoint;
  restored: { objects: number; bytes: number };
  skipped: { unchanged: number; 'differs-at-target': number };
  failures: { key: string; error: string }[];
  failed: number;
}

export interface ModelPlanContents {
  request: ModelRestoreRequest;
  summary: ModelPlanSummary;
  progress: { at: LineCheckpoint } | ModelRunProgress;
  result: ModelRunProgress;
}
export type ModelPlan = StoredPlan<ModelPlanContents>;
export type ModelRestoreStatus = RestoreStatus<ModelPlanContents>;

/** What restoring one asset's objects needs: its replica and dataset files, the target region's store. */
export interface AssetRestore {
  objects: DatasetObjects;
  ledger: ReplicationLedger;
  replica: VersionedStore;
  target: VersionedStore;
  multipart: MultipartPolicy;
}

export interface ModelRestoreDeps extends InvocationTime {
  policy: Policy;
  models: Pick<ModelCatalog, 'get'>;
  datasets: Pick<DatasetCatalog, 'get'>;
  plans: PlanStore<ModelPlanContents>;
  continuation: Continuation;
  forAsset: (asset: ObjectAsset, targetRegion: string) => AssetRestore;
  /** Objects examined or restored at once. Default 16. */
  concurrency?: number;
}

const EXAMPLES = 10;
const RESERVE_MS = 60_000;
const keep = (list: string[], key: string) => list.length < EXAMPLES && list.push(key);

function assetOf(policy: Policy, name: string): ObjectAsset {
  const asset = policy.assets.find((a) => a.name === name);
  if (!asset || !isObjectAsset(asset)) throw new PayloadError(`model: asset ${quote(name)} of its record is no longer in the policy`);
  return asset;
}

/** The dataset versions a restore reads: the record's links, each checked against the catalog. */
async function datasetsOf(deps: ModelRestoreDeps, request: ModelRestoreRequest): Promise<ModelPlanDataset[]> {
  const { name, version } = splitModelRef(request.model);
  const record = await deps.models.get(name, version);
  if (!record) throw new PayloadError(`model: no model ${quote(request.model)} is registered`);
  const linked = [
    ...record.trainedOn.map((l) => ({ ...l, role: 'training' as const })),
    ...record.evaluatedOn.map((l) => ({ ...l, role: 'eval' as const })),
    ...(request.artifacts ? record.artifacts.map((l) => ({ ...l, role: 'artifacts' as const })) : []),
    ...(request.evalResults ? record.evalResults.map((l) => ({ ...l, role: 'eval-results' as const })) : []),
  ];
  const datasets: ModelPlanDataset[] = [];
  for (const link of linked) {
    if (datasets.some((d) => d.asset === link.asset && d.id === link.id)) continue; // trained and evaluated on the same one
    const asset = assetOf(deps.policy, link.asset);
    const entry = await deps.datasets.get(link.asset, link.id);
    if (!entry?.manifestKey || !entry.manifestVersionId || entry.sha256 !== link.sha256) {
      throw new PayloadError(
        `model: ${request.model} links dataset version ${link.asset}/${link.id} (SHA-256 ${link.sha256}), which the catalog ` +
          (entry
            ? `holds with SHA-256 ${entry.sha256 ?? 'none'} (${entry.state})`
            : 'does not hold (the catalog is in the ledger table: restore the table from its point-in-time recovery)'),
      );
    }
    const target = request.target
      ? { ...request.target, prefix: `${request.target.prefix}${asset.name}/` }
      : { bucket: asset.source.bucket, prefix: asset.source.prefix, region: asset.source.region };
    if (!request.target && (asset.source.endpoint || asset.source.credentialsSecretArn)) {
      throw new PayloadError(
        `target: ${asset.name}'s source is on another endpoint or account; restore by model into one of restore.targetBuckets`,
      );
    }
    // Two versions of one asset over overlapping prefixes could name one key twice, with other bytes.
    const overlapping = datasets.find(
      (d) => d.asset === link.asset && (entry.prefix.startsWith(d.prefix) || d.prefix.startsWith(entry.prefix)),
    );
    if (overlapping) {
      throw new PayloadError(
        `model: ${request.model} links dataset versions ${overlapping.asset}/${overlapping.id} and ${link.id} over overlapping prefixes of one asset; ` +
          'restoring both into one place could write one key twice: restore each with restore-data by asset and asOf',
      );
    }
    datasets.push({
      role: link.role,
      asset: link.asset,
      id: link.id,
      sha256: link.sha256,
      manifestKey: entry.manifestKey,
      manifestVersionId: entry.manifestVersionId,
      prefix: entry.prefix,
      keys: entry.keys,
      bytes: entry.bytes,
      target,
    });
  }
  return datasets;
}

type LineDecision = { targetKey: string; action: 'restore' | 'skip'; reason: 'absent' | 'overwrite' | 'unchanged' | 'differs-at-target' };

/** What restoring one line means at the target (one HEAD). */
async function decideLine(store: VersionedStore, asset: ObjectAsset, dataset: ModelPlanDataset, line: ManifestLine, overwrite: boolean) {
  const targetKey = dataset.target.prefix + line.key.slice(asset.source.prefix.length);
  const current = await store.current(dataset.target.bucket, targetKey);
  const decide = (action: LineDecision['action'], reason: LineDecision['reason']): LineDecision => ({ targetKey, action, reason });
  if (!current) return decide('restore', 'absent');
  const same =
    (line.sha256 !== undefined && current.fullObjectSha256 === line.sha256) ||
    (current.metadata[RESTORED_FROM] === `${asset.name}/${line.sourceVersionId}` && current.size === line.size) ||
    (dataset.target.bucket === asset.source.bucket &&
      targetKey === line.key &&
      ledgerVersionId(current.versionId, current.lastModified) === line.sourceVersionId);
  if (same) return decide('skip', 'unchanged');
  return overwrite ? decide('restore', 'overwrite') : decide('skip', 'differs-at-target');
}

/** A manifest line as the ledger entry restoreVersion copies and verifies (its digest is the line's; also the lineage restore test's). */
export const entryOf = (asset: ObjectAsset, line: ManifestLine): LedgerEntry => ({
  asset: asset.name,
  key: line.key,
  sourceVersionId: line.sourceVersionId,
  entryType: 'object',
  state: 'replicated',
  sourceLastModified: new Date(0).toISOString(),
  size: line.size,
  replicaKey: line.replicaKey,
  replicaVersionId: line.replicaVersionId,
  attempts: 0,
  ...(line.sha256 && { sha256: line.sha256 }),
  ...(line.sha256Composite && { sha256Composite: line.sha256Composite, partSizeBytes: line.partSizeBytes }),
});

/**
 * Handles one line; answers how to count it, applied only once the walk counts the line handled
 * (a line after one whose copy continues is handled again next time, and counted then).
 */
type LineHandler = (dataset: ModelPlanDataset, asset: ObjectAsset, restore: AssetRestore, line: ManifestLine) => Promise<() => void>;

/**
 * Walks every line of the plan's dataset versions from `from`, `concurrency` at a time; stops
 * (returning where to go on) when the invocation runs short, or at a line whose multipart copy
 * continues in the next invocation.
 */
async function walkLines(
  deps: ModelRestoreDeps,
  datasets: ModelPlanDataset[],
  from: LineCheckpoint,
  handle: LineHandler,
  onBatch: (at: LineCheckpoint) => Promise<void> = async () => {},
): Promise<{ done: boolean; at: LineCheckpoint }> {
  const concurrency = deps.concurrency ?? 16;
  const short = () => deps.remainingMs() < (deps.reserveMs ?? RESERVE_MS);
  for (let dataset = from.dataset; dataset < datasets.length; dataset++) {
    const planned = datasets[dataset]!;
    const asset = assetOf(deps.policy, planned.asset);
    const restore = deps.forAsset(asset, planned.target.region);
    const start = dataset === from.dataset ? { part: from.part, line: from.line } : { part: 0, line: 0 };
    const walked = await walkManifest(restore.objects, planned, start, concurrency, short, async (batch, at) => {
      const results = await Promise.allSettled(batch.map((line) => handle(planned, asset, restore, line)));
      const failure = results.find((r) => r.status === 'rejected' && !(r.reason instanceof CopyContinuesError));
      if (failure) throw (failure as PromiseRejectedResult).reason;
      // Lines after one that continues are handled again next time (and found unchanged).
      const stoppedAt = results.findIndex((r) => r.status === 'rejected');
      const finished = stoppedAt >= 0 ? stoppedAt : batch.length;
      for (const result of results.slice(0, finished)) (result as PromiseFulfilledResult<() => void>).value();
      await onBatch({ dataset, part: at.part, line: at.line + finished });
      return finished;
    });
    if (!walked.done) return { done: false, at: { dataset, ...walked.at } };
  }
  return { done: true, at: { dataset: datasets.length, part: 0, line: 0 } };
}

const START: LineCheckpoint = { dataset: 0, part: 0, line: 0 };

/**
 * Errors that a retry would meet again (a manifest or part that does not match its digest, an
 * asset no longer in the policy): the plan ends failed with them. Others (a region's outage, a
 * throttle) leave it where it stands, resumed by the retry or by {"restoreId", "continuation": true}.
 */
const lasting = (error: unknown) => error instanceof DatasetVersionIntegrityError || error instanceof PayloadError;

async function failPlan(deps: ModelRestoreDeps, plan: ModelPlan, error: unknown, result?: ModelRunProgress): Promise<ModelPlan> {
  const reason = describeError(error);
  const finishedAt = deps.now();
  await deps.plans.finish(plan.token, 'failed', finishedAt, result ?? null, reason);
  return { ...plan, state: 'failed', finishedAt: finishedAt.toISOString(), result: result ?? null, reason };
}

/** The dry run: reads the record and every line, decides each object, writes nothing but the plan. */
async function planModelRestore(deps: ModelRestoreDeps, request: ModelRestoreRequest, resume?: ModelPlan): Promise<ModelPlan> {
  const summary: ModelPlanSummary = resume?.summary ?? {
    model: request.model,
    datasets: await datasetsOf(deps, request),
    keysExamined: 0,
    restore: { objects: 0, bytes: 0 },
    overwrite: { objects: 0, examples: [] },
    skipped: { unchanged: 0, 'differs-at-target': 0 },
    differsAtTargetExamples: [],
    estimatedSeconds: 0,
  };
  let walked: Awaited<ReturnType<typeof walkLines>>;
  try {
    walked = await walkLines(deps, summary.datasets, resume?.progress?.at ?? START, async (dataset, asset, restore, line) => {
      const d = await decideLine(restore.target, asset, dataset, line, request.overwrite);
      return () => {
        summary.keysExamined++;
        if (d.action === 'restore') {
          summary.restore.objects++;
          summary.restore.bytes += line.size;
          if (d.reason === 'overwrite') {
            summary.overwrite.objects++;
            keep(summary.overwrite.examples, d.targetKey);
          }
          return;
        }
        const reason = d.reason as keyof ModelPlanSummary['skipped'];
        summary.skipped[reason]++;
        if (reason === 'differs-at-target') keep(summary.differsAtTargetExamples, d.targetKey);
      };
    });
  } catch (error) {
    // A dry run's first invocation answers the error itself (nothing is stored yet); a continued one ends its plan.
    if (resume && lasting(error)) return failPlan(deps, resume, error);
    throw error;
  }
  const concurrency = deps.concurrency ?? 16;
  summary.estimatedSeconds = Math.ceil((summary.restore.objects * 0.05) / concurrency + summary.restore.bytes / (concurrency * 100e6));
  return savePlanStep(deps, { request, summary }, resume, walked.done ? undefined : { at: walked.at });
}

/** The run of a claimed plan, or its continuation; one invocation at a time (the plan's run lease). */
function runModelRestore(deps: ModelRestoreDeps, plan: ModelPlan): Promise<ModelPlan> {
  return withRunLease(
    deps,
    plan.token,
    (continuation) => runLeased({ ...deps, continuation }, plan),
    async () => (await deps.plans.get(plan.token)) ?? plan,
  );
}

async function runLeased(deps: ModelRestoreDeps, plan: ModelPlan): Promise<ModelPlan> {
  const progress: ModelRunProgress =
    plan.progress && 'restored' in plan.progress
      ? plan.progress
      : { at: START, restored: { objects: 0, bytes: 0 }, skipped: { unchanged: 0, 'differs-at-target': 0 }, failures: [], failed: 0 };
  const fail = (key: string, error: unknown) => {
    progress.failed++;
    if (progress.failures.length < 50) progress.failures.push({ key, error: describeError(error) });
  };
  let savedAt = performance.now();
  let walked: Awaited<ReturnType<typeof walkLines>>;
  try {
    walked = await walkLines(
      deps,
      plan.summary.datasets,
      progress.at,
      async (dataset, asset, restore, line) => {
        let d: LineDecision;
        try {
          d = await decideLine(restore.target, asset, dataset, line, plan.request.overwrite);
        } catch (error) {
          return () => fail(line.key, error); // one object that cannot be read fails that object, not the restore
        }
        if (d.action === 'skip') return () => progress.skipped[d.reason as keyof ModelRunProgress['skipped']]++;
        const version = entryOf(asset, line);
        try {
          await restoreVersion(
            {
              ...restore,
              now: deps.now,
              remainingMs: deps.remainingMs,
              ...(deps.reserveMs !== undefined && { reserveMs: deps.reserveMs }),
            },
            asset,
            dataset.target.bucket,
            plan.token,
            {
              key: line.key,
              targetKey: d.targetKey,
              version,
            },
          );
        } catch (error) {
          if (error instanceof CopyContinuesError) throw error;
          return () => fail(line.key, error);
        }
        return () => {
          progress.restored.objects++;
          progress.restored.bytes += line.size;
        };
      },
      async (at) => {
        // A checkpoint every half minute, so that an invocation that dies loses little.
        if (performance.now() - savedAt < 30_000) return;
        savedAt = performance.now();
        await deps.plans.saveProgress(plan.token, { ...progress, at });
      },
    );
  } catch (error) {
    if (lasting(error)) return failPlan(deps, plan, error, progress);
    throw error;
  }
  progress.at = walked.at;
  return saveRunStep(deps, plan, progress, walked.done);
}

/** One invocation: a dry run, a run with its token, or the status (and continuation) of a restore by model. */
export async function restoreModel(
  call: ModelRestoreCall | { kind: 'status'; restoreId: string; continuation: boolean },
  deps: ModelRestoreDeps,
): Promise<ModelRestoreStatus> {
  if (call.kind === 'status') {
    const plan = await deps.plans.get(call.restoreId);
    if (!plan) throw new PayloadError(`restoreId: no restore-data plan "${call.restoreId}"`);
    if (!call.continuation || (plan.state !== 'planning' && plan.state !== 'running')) return restoreStatus(plan);
    return restoreStatus(plan.state === 'planning' ? await planModelRestore(deps, plan.request, plan) : await runModelRestore(deps, plan));
  }
  if (call.dryRun) return restoreStatus(await planModelRestore(deps, call.request));
  const plan = await planForRun(deps.plans, call.planToken!, call.request, deps.now());
  return restoreStatus(await runModelRestore(deps, plan));
}
