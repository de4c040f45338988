import { vectorAssets } from '../policy/assets.js';
import type { Policy, VectorAsset } from '../policy/schema.js';
import type { Continuation } from '../shared/continuation.js';
import { describeError, quote } from '../shared/errors.js';
import { PayloadError } from '../shared/payload.js';
import { readManifest, SnapshotCorruptError } from '../vectors/read-snapshot.js';
import type { SnapshotCatalogStore, SnapshotEntry } from '../vectors/snapshot-catalog.js';
import type { Manifest } from '../vectors/snapshot-format.js';
import type { SnapshotObjects } from '../vectors/snapshot-objects.js';
import { type Engine, indexExists, type Metric, type VectorStore } from '../vectors/vector-store.js';
import {
  expiryFrom,
  newPlanToken,
  planForRun,
  type PlanStore,
  requestDigest,
  type StoredPlan,
  withRunLease,
  restoreStatus,
  type RestoreStatus,
} from './restore-plan.js';
import type { VectorRestoreCall, VectorRestoreRequest } from './restore-vectors-request.js';
import {
  compareWithManifest,
  type ContentCheck,
  derivedIndexName,
  NOT_COMPARABLE,
  normalisesVectors,
  type ScanCheckpoint,
  scanIndex,
  scanStart,
  supportsMetric,
  type WriteCheckpoint,
  writeChunks,
} from './restore-vectors-copy.js';
import type { InvocationTime } from '../shared/invocation-time.js';

/**
 * restore-vectors: restores a verified snapshot of a vector-index asset into an index of any engine
 * the policy names, in two steps (restore-plan.ts): a dry run that writes nothing and stores the plan
 * under a token, and the run, which executes exactly that plan. The run creates the target index
 * with the snapshot's dimensions and metric, writes the chunks in batches (checkpointed on the plan,
 * continuing in a new invocation when time runs out), then scans the target back and checks count
 * and content fingerprint against the manifest.
 */

/** Throughput assumed for a plan's estimate (no restore of the asset has been measured by the plan). */
export const ASSUMED_THROUGHPUT = { writeRecordsPerSecond: 1_000, scanRecordsPerSecond: 5_000, readBytesPerSecond: 50 * 1024 ** 2 };
const ESTIMATE_BASIS = 'assumed: 1,000 records/s written, 5,000 records/s scanned back, 50 MiB/s read from the DR bucket (docs/restore.md)';

/** What the dry run found and the run executes. */
export interface VectorRestorePlan {
  snapshotId: string;
  snapshotStartedAt: string;
  /** Where the snapshot's files are. */
  replicaBucket: string;
  prefix: string;
  source: { asset: string; engine: Engine; index: string };
  target: { asset: string; engine: Engine; index: string };
  vectors: number;
  bytes: number;
  chunks: number;
  dimensions: number;
  metric: Metric;
  fingerprint: string;
  targetExists: boolean;
  wouldOverwrite: boolean;
  /** The target is the index a policy asset snapshots (restoring in place). */
  targetIsLiveSource: boolean;
  /** `native`: the engine's own snapshot (falls back to the chunks if the engine refuses it). */
  method: 'native' | 'chunks';
  methodNote?: string;
  /** How the restored index is checked besides its count. */
  fingerprintCheck: 'exact' | typeof NOT_COMPARABLE;
  estimatedSeconds: number;
  estimateBasis: string;
}

export interface VectorRestoreProgress {
  /** create: the target is being (re)created; write: chunks going in; verify: scanning the target back. */
  phase: 'create' | 'write' | 'verify';
  method: 'native' | 'chunks';
  write: WriteCheckpoint;
  scan: ScanCheckpoint | null;
  nativeFailed: string | null;
  /** The error that stopped the last invocation; the next {"restoreId"} continues from the checkpoint. */
  lastError: string | null;
}

export interface VectorRestoreResult extends ContentCheck {
  method: 'native' | 'chunks';
  nativeFailed: string | null;
  target: { engine: Engine; index: string };
  written: number;
  /** From the claim of the plan to the end of the check, across invocations. */
  restoreMs: number;
}

/** What a restore-vectors plan holds. */
export interface VectorPlanContents {
  request: VectorRestoreRequest;
  summary: VectorRestorePlan;
  progress: VectorRestoreProgress;
  result: VectorRestoreResult;
}

type VectorPlan = StoredPlan<VectorPlanContents>;

export type VectorRestoreStatus = RestoreStatus<VectorPlanContents>;

/** reserveMs: stop starting new batches when fewer milliseconds than this remain. Default 60 s. */
export interface VectorRestoreDeps extends InvocationTime {
  policy: Policy;
  plans: PlanStore<VectorPlanContents>;
  catalog: SnapshotCatalogStore;
  /** The snapshot files in one replica bucket. */
  objectsFor: (bucket: string) => SnapshotObjects;
  openStore: (asset: VectorAsset) => Promise<VectorStore>;
  continuation: Continuation;
  /** Records per store.write. Default 500. */
  batchSize?: number;
  /** Records per scan page of the check. Default 1000. */
  pageSize?: number;
  newToken?: () => string;
}

/**
 * One invocation: a dry run (plan and token), a run with the token, the status of a restore, or the
 * continuation of a running one.
 */
export async function restoreVectors(call: VectorRestoreCall, deps: VectorRestoreDeps): Promise<VectorRestoreStatus> {
  if (call.kind === 'status') {
    const plan = await deps.plans.get(call.restoreId);
    if (!plan) throw new PayloadError(`restoreId: there is no restore-vectors restore "${call.restoreId}"`);
    return call.continuation && plan.state === 'running' ? executeLeased(plan, deps) : restoreStatus(plan);
  }
  if (call.dryRun) return planRestore(call.request, call.source, call.target, deps);
  return executeLeased(await planForRun(deps.plans, call.planToken, call.request, deps.now()), deps);
}

/** The dry run: resolves snapshot and target, checks the restore could run, stores the plan. Writes nothing. */
async function planRestore(request: VectorRestoreRequest, source: VectorAsset, target: VectorAsset, deps: VectorRestoreDeps) {
  const entry = await resolveSnapshot(request, deps.catalog);
  const manifest = await manifestOf(deps.objectsFor(source.replica.bucket), entry);
  const engine = target.source.engine;
  if (!supportsMetric(engine, manifest.metric)) {
    throw new PayloadError(
      `target.asset: ${engine} (asset "${target.name}") has no ${manifest.metric} metric, which snapshot ${entry.snapshotId} uses`,
    );
  }
  const index = request.target.index ?? derivedIndexName(engine, manifest.index, `-restored-${manifest.snapshotId}`);
  const live = liveSourceAt(deps.policy, target, index);
  if (live && !request.overwrite) {
    throw new PayloadError(
      `target.index: ${quote(index)} is the live source index of asset "${live.name}"; restoring into it needs "overwrite": true`,
    );
  }
  const store = await deps.openStore(target);
  let targetExists: boolean;
  let native: { ok: boolean; note?: string };
  try {
    targetExists = await indexExists(store, index);
    native = nativeAvailability(request.useNative, manifest, store);
  } finally {
    await store.close();
  }
  if (targetExists && !request.overwrite) {
    throw new PayloadError(
      `target.index: ${engine} index ${quote(index)} exists; set "overwrite": true to drop and recreate it, or choose another target.index`,
    );
  }
  const estimatedSeconds = Math.ceil(
    manifest.count / ASSUMED_THROUGHPUT.writeRecordsPerSecond +
      manifest.count / ASSUMED_THROUGHPUT.scanRecordsPerSecond +
      manifest.bytes / ASSUMED_THROUGHPUT.readBytesPerSecond,
  );
  const plan: VectorRestorePlan = {
    snapshotId: entry.snapshotId,
    snapshotStartedAt: entry.startedAt,
    replicaBucket: source.replica.bucket,
    prefix: entry.prefix,
    source: { asset: source.name, engine: manifest.engine, index: manifest.index },
    target: { asset: target.name, engine, index },
    vectors: manifest.count,
    bytes: manifest.bytes,
    chunks: manifest.chunks.length,
    dimensions: manifest.dimensions,
    metric: manifest.metric,
    fingerprint: manifest.fingerprint.value,
    targetExists,
    wouldOverwrite: targetExists,
    targetIsLiveSource: live !== undefined,
    method: native.ok ? 'native' : 'chunks',
    ...(native.note && { methodNote: native.note }),
    fingerprintCheck: normalisesVectors(engine, manifest.metric) ? NOT_COMPARABLE : 'exact',
    estimatedSeconds,
    estimateBasis: ESTIMATE_BASIS,
  };
  const now = deps.now();
  const stored: VectorPlan = {
    token: (deps.newToken ?? newPlanToken)(),
    kind: 'restore-vectors',
    request,
    requestDigest: requestDigest(request),
    summary: plan,
    createdAt: now.toISOString(),
    expiresAt: expiryFrom(now),
    state: 'planned',
  };
  await deps.plans.create(stored);
  return restoreStatus(stored);
}

async function resolveSnapshot(request: VectorRestoreRequest, catalog: SnapshotCatalogStore): Promise<SnapshotEntry> {
  const { asset, snapshotId, before } = request;
  if (snapshotId !== null) {
    const entry = await catalog.get(asset, snapshotId);
    if (!entry) throw new PayloadError(`snapshotId: asset "${asset}" has no snapshot ${quote(snapshotId)}`);
    if (entry.state !== 'verified') {
      throw new PayloadError(
        `snapshotId: snapshot ${quote(snapshotId)} of "${asset}" is ${entry.state}${entry.reason ? ` (${entry.reason})` : ''}; only verified snapshots are restored`,
      );
    }
    return entry;
  }
  const cutoff = before === null ? Infinity : new Date(before).getTime();
  const entry = (await catalog.list(asset)).find((e) => e.state === 'verified' && new Date(e.startedAt).getTime() < cutoff);
  if (entry) return entry;
  throw new PayloadError(
    before === null
      ? `asset: "${asset}" has no verified snapshot`
      : `before: asset "${asset}" has no verified snapshot started before ${before}`,
  );
}

async function manifestOf(objects: SnapshotObjects, entry: SnapshotEntry): Promise<Manifest> {
  const manifest = await readManifest(objects, entry.prefix);
  if (!manifest) throw new SnapshotCorruptError(`${entry.prefix}: manifest.json is missing`);
  return manifest;
}

/** Where an endpoint points, without credentials (two users of one database are one database). */
function endpointKey(endpoint: string | undefined): string {
  if (!endpoint) return '';
  try {
    const url = new URL(endpoint);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return endpoint;
  }
}

/** The policy asset whose live source index `index` is, on the target asset's engine and endpoint. */
function liveSourceAt(policy: Policy, target: VectorAsset, index: string): VectorAsset | undefined {
  const where = (a: VectorAsset) => [a.source.engine, endpointKey(a.source.endpoint), a.source.vectorBucket ?? ''].join('|');
  return vectorAssets(policy)
    .map(({ asset }) => asset)
    .find((asset) => asset.source.index === index && where(asset) === where(target));
}

function nativeAvailability(useNative: boolean, manifest: Manifest, store: VectorStore): { ok: boolean; note?: string } {
  if (!useNative) return { ok: false };
  if (!manifest.native)
    return { ok: false, note: `useNative: snapshot ${manifest.snapshotId} has no native snapshot; restoring from the chunks` };
  if (store.engine !== manifest.engine || !store.native?.restore) {
    return {
      ok: false,
      note: `useNative: a ${manifest.native.format} restores only into ${manifest.engine} with native restore; restoring from the chunks`,
    };
  }
  return {
    ok: true,
    note: `native ${manifest.native.format} "${manifest.native.id}"; falls back to the chunks if ${manifest.engine} refuses it`,
  };
}

class PlanNotRunningError extends Error {
  override readonly name = 'PlanNotRunningError';
  constructor(readonly plan: VectorPlan) {
    super(`plan ${plan.token} is ${plan.state}`);
  }
}

/** execute, holding the plan's run lease (another invocation running it: its status, nothing done). */
function executeLeased(stored: VectorPlan, deps: VectorRestoreDeps): Promise<VectorRestoreStatus> {
  return withRunLease(
    deps.plans,
    stored.token,
    deps.now(),
    deps.remainingMs(),
    () => execute(stored, deps),
    async () => restoreStatus((await deps.plans.get(stored.token))!),
  );
}

/** Runs (or continues) a claimed plan from its checkpoint until it is done or time runs out. */
async function execute(stored: VectorPlan, deps: VectorRestoreDeps): Promise<VectorRestoreStatus> {
  const plan = stored.summary;
  const request = stored.request;
  const token = stored.token;
  const hasTime = () => deps.remainingMs() >= (deps.reserveMs ?? 60_000);
  let progress = stored.progress;
  const save = async (next: VectorRestoreProgress) => {
    try {
      await deps.plans.saveProgress(token, next);
    } catch (error) {
      const current = await deps.plans.get(token);
      if (current && current.state !== 'running') throw new PlanNotRunningError(current);
      throw error;
    }
    progress = next;
  };
  const fail = async (reason: string) => {
    await deps.plans.finish(token, 'failed', deps.now(), null, reason);
    return restoreStatus((await deps.plans.get(token))!);
  };

  const target = vectorAssets(deps.policy).find(({ asset }) => asset.name === plan.target.asset)?.asset;
  if (!target) return fail(`target asset "${plan.target.asset}" is no longer in the policy`);
  let store: VectorStore | undefined;
  try {
    store = await deps.openStore(target);
    const manifest = await manifestOf(deps.objectsFor(plan.replicaBucket), await snapshotEntry(plan, deps.catalog));
    if (!progress || progress.phase === 'create') {
      const refused = await createTarget(plan, request, manifest, store, progress, save);
      if (refused) return await fail(refused);
    }
    if (progress!.phase === 'write') {
      const written = await writeChunks({
        store,
        index: plan.target.index,
        objects: deps.objectsFor(plan.replicaBucket),
        prefix: plan.prefix,
        manifest,
        from: progress!.write,
        batchSize: deps.batchSize ?? 500,
        hasTime,
        checkpoint: (at) => save({ ...progress!, write: at, lastError: null }),
      });
      if (!written.done) return await pause(token, deps);
      await store.finishLoad?.(plan.target.index, { dimensions: manifest.dimensions, metric: manifest.metric });
      await save({ ...progress!, phase: 'verify', scan: scanStart() });
    }
    const scanned = await scanIndex({
      store,
      index: plan.target.index,
      from: progress!.scan ?? scanStart(),
      pageSize: deps.pageSize ?? 1000,
      hasTime,
      checkpoint: (at) => save({ ...progress!, scan: at, lastError: null }),
    });
    if (!scanned.done) return await pause(token, deps);

    const check = compareWithManifest(manifest, scanned.at, plan.target);
    const now = deps.now();
    const result: VectorRestoreResult = {
      ...check,
      method: progress!.method,
      nativeFailed: progress!.nativeFailed,
      target: { engine: plan.target.engine, index: plan.target.index },
      written: progress!.write.written,
      restoreMs: now.getTime() - new Date(stored.startedAt ?? now).getTime(),
    };
    await deps.plans.finish(token, check.ok ? 'done' : 'failed', now, result, check.reason);
    return restoreStatus((await deps.plans.get(token))!);
  } catch (error) {
    if (error instanceof PlanNotRunningError) return restoreStatus(error.plan);
    if (error instanceof SnapshotCorruptError) return await fail(describeError(error));
    // The checkpoint stands: {"restoreId"} (or Lambda's retry of an asynchronous invocation) continues.
    if (progress) await deps.plans.saveProgress(token, { ...progress, lastError: describeError(error) }).catch(() => undefined);
    throw error;
  } finally {
    await store?.close();
  }
}

async function snapshotEntry(plan: VectorRestorePlan, catalog: SnapshotCatalogStore): Promise<SnapshotEntry> {
  const entry = await catalog.get(plan.source.asset, plan.snapshotId);
  if (entry?.state !== 'verified') {
    const state = entry ? `${entry.state}${entry.reason ? ` (${entry.reason})` : ''}` : 'gone from the catalog';
    throw new SnapshotCorruptError(`snapshot ${plan.snapshotId} of "${plan.source.asset}" is ${state} since the dry run`);
  }
  return entry;
}

/**
 * Makes the target ready: refuses an index that appeared since the dry run (unless the plan
 * overwrites), restores natively where planned, else drops (if present) and creates it empty.
 * Returns the reason when refused.
 */
async function createTarget(
  plan: VectorRestorePlan,
  request: VectorRestoreRequest,
  manifest: Manifest,
  store: VectorStore,
  progress: VectorRestoreProgress | undefined,
  save: (next: VectorRestoreProgress) => Promise<void>,
): Promise<string | undefined> {
  const { engine, index } = plan.target;
  // After a crash in this step, the index may be this restore's own: no second check.
  const exists = progress?.phase === 'create' || (await indexExists(store, index));
  if (exists && !request.overwrite && progress?.phase !== 'create') {
    return `${engine} index "${index}" was created after the dry run, whose plan does not overwrite it; run a new dry run`;
  }
  const base: VectorRestoreProgress = {
    phase: 'create',
    method: 'chunks',
    write: { chunk: 0, offset: 0, written: 0 },
    scan: null,
    nativeFailed: null,
    lastError: null,
  };
  // A native restore has no checkpoint: after an invocation that stopped during one, the chunks.
  const interrupted = progress?.phase === 'create' && progress.method === 'native';
  await save({ ...base, method: plan.method === 'native' && !interrupted ? 'native' : 'chunks' });
  let nativeFailed: string | null = interrupted
    ? 'an earlier invocation stopped during the native restore; restored from the chunks'
    : null;
  if (plan.method === 'native' && manifest.native && store.native && !interrupted) {
    try {
      if (exists && store.native.restoreCreatesIndex) await store.dropIndex(index);
      const { format, id, details } = manifest.native;
      await store.native.restore(index, { ref: { format, id, ...(details && { details }) } });
      await save({ ...base, phase: 'verify', method: 'native', scan: scanStart() });
      return undefined;
    } catch (error) {
      nativeFailed = describeError(error);
    }
  }
  if (exists || nativeFailed) await store.dropIndex(index);
  await store.createIndex(index, { dimensions: manifest.dimensions, metric: manifest.metric, bulkLoad: true });
  await save({ ...base, phase: 'write', nativeFailed });
  return undefined;
}

async function pause(token: string, deps: VectorRestoreDeps): Promise<VectorRestoreStatus> {
  await deps.continuation.continueLater({ restoreId: token, continuation: true });
  return restoreStatus((await deps.plans.get(token))!);
}
