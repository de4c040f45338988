import { randomBytes } from 'node:crypto';
import { vectorAssets } from '../policy/assets.js';
import type { Policy, VectorAsset } from '../policy/schema.js';
import type { Continuation } from '../shared/continuation.js';
import { describeError, quote } from '../shared/errors.js';
import { PayloadError } from '../shared/payload.js';
import { readManifest, SnapshotCorruptError } from '../vectors/read-snapshot.js';
import type { SnapshotCatalogStore, SnapshotEntry } from '../vectors/snapshot-catalog.js';
import { Fingerprint, type Manifest } from '../vectors/snapshot-format.js';
import { PART_ATTEMPTS } from '../vectors/take-snapshot.js';
import type { SnapshotObjects } from '../vectors/snapshot-objects.js';
import { type Engine, indexExists, type Metric, offsetRanges, type VectorStore } from '../vectors/vector-store.js';
import {
  expiryFrom,
  leaseUntil,
  newPlanToken,
  type PlanPart,
  type PlanPartStore,
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
 *
 * With "parts" (docs/restore.md#vector-restores-in-parts) the run fans out: each part, an invocation
 * of its own under its own lease, writes a range of the chunks; once all are written the target is
 * scanned in parts where its engine splits a scan (VectorStore.partitionScan), and the parts' counts
 * and fingerprints are summed, which is what one scan gives. The invocation that finishes the last
 * part moves the plan on.
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
  /**
   * Where the run fans out ("parts" > 1 and more than one chunk): the chunk range each write part
   * writes, and whether the check scans the target in parts (its engine splits a scan) or in one.
   */
  fanOut?: { parts: number; write: { part: string; chunks: [number, number]; records: number }[]; verify: 'in parts' | 'one scan' };
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
  /** verify: the target is scanned in parts (the plan's fanOut), whose checkpoints are on the parts, not in `scan`. */
  scanInParts?: boolean;
}

/** One part of a restore that fans out (PlanPartStore): a range of chunks to write, or a part of the target's scan. */
export type VectorRestorePart = (
  { stage: 'write'; chunks: [number, number]; write: WriteCheckpoint } | { stage: 'verify'; scan: ScanCheckpoint }
) & {
  lastError: string | null;
  /** Errors in a row since the part's last checkpoint; at PART_ATTEMPTS the restore fails. */
  attempts?: number;
};

export interface VectorRestoreResult extends ContentCheck {
  method: 'native' | 'chunks';
  nativeFailed: string | null;
  target: { engine: Engine; index: string };
  written: number;
  /** From the claim of the plan to the end of the check, across invocations. */
  restoreMs: number;
  fanOut?: RestoreFanOut;
}

/** A run that fanned out: how many parts wrote chunks (0 after a native restore) and how many scanned the target. */
export type RestoreFanOut = { writeParts: number; verifyParts: number };

/** What a restore-vectors plan holds. */
export interface VectorPlanContents {
  request: VectorRestoreRequest;
  summary: VectorRestorePlan;
  progress: VectorRestoreProgress;
  result: VectorRestoreResult;
}

type VectorPlan = StoredPlan<VectorPlanContents>;

/** What an operator sees of a part of a running restore that fans out. */
export interface VectorPartStatus {
  part: string;
  done: boolean;
  /** Records written (a write part) or scanned (a verify part) so far. */
  records: number;
  lastError: string | null;
  /** Errors in a row since its last checkpoint. */
  attempts: number;
}

/** A running restore that fans out also shows its parts (the `{"restoreId"}` status). */
export type VectorRestoreStatus = RestoreStatus<VectorPlanContents> & { parts?: VectorPartStatus[] };

/** reserveMs: stop starting new batches when fewer milliseconds than this remain. Default 60 s. */
export interface VectorRestoreDeps extends InvocationTime {
  policy: Policy;
  plans: PlanStore<VectorPlanContents>;
  /** The parts of restores that fan out, beside their plans. */
  parts: PlanPartStore<VectorRestorePart>;
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
 * One invocation: a dry run (plan and token), a run with the token, the status of a restore, the
 * continuation of a running one, or one part of a running one that fans out.
 */
export async function restoreVectors(call: VectorRestoreCall, deps: VectorRestoreDeps): Promise<VectorRestoreStatus> {
  if (call.kind === 'part') return runPart(await existingPlan(call.restoreId, deps), call.part, deps);
  if (call.kind === 'status') {
    const plan = await existingPlan(call.restoreId, deps);
    return call.continuation && plan.state === 'running' ? executeLeased(plan, deps) : withParts(restoreStatus(plan), deps);
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
  let fanOut: VectorRestorePlan['fanOut'];
  try {
    targetExists = await indexExists(store, index);
    native = nativeAvailability(request.useNative, manifest, store);
    fanOut = planFanOut(request.parts ?? 1, manifest, store);
  } finally {
    await store.close();
  }
  if (targetExists && !request.overwrite) {
    throw new PayloadError(
      `target.index: ${engine} index ${quote(index)} exists; set "overwrite": true to drop and recreate it, or choose another target.index`,
    );
  }
  // Parts run at once: writing and reading divide by the parts, the check's scan where it runs in parts.
  const writeParts = fanOut?.parts ?? 1;
  const scanParts = fanOut?.verify === 'in parts' ? fanOut.parts : 1;
  const estimatedSeconds = Math.ceil(
    manifest.count / ASSUMED_THROUGHPUT.writeRecordsPerSecond / writeParts +
      manifest.count / ASSUMED_THROUGHPUT.scanRecordsPerSecond / scanParts +
      manifest.bytes / ASSUMED_THROUGHPUT.readBytesPerSecond / writeParts,
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
    ...(fanOut && { fanOut }),
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

async function existingPlan(restoreId: string, deps: VectorRestoreDeps): Promise<VectorPlan> {
  const plan = await deps.plans.get(restoreId);
  if (!plan) throw new PayloadError(`restoreId: there is no restore-vectors restore "${restoreId}"`);
  return plan;
}

/**
 * The fan-out of a run with "parts": contiguous ranges of the manifest's chunks (at most one part per
 * chunk; none when that leaves one part), and whether the target's engine scans the check in parts.
 */
function planFanOut(parts: number, manifest: Manifest, store: VectorStore): VectorRestorePlan['fanOut'] {
  const ranges = offsetRanges(manifest.chunks.length, parts);
  if (ranges.length < 2) return undefined;
  const write = ranges.map(([from, to = manifest.chunks.length], i) => ({
    part: partName('write', i),
    chunks: [from, to] as [number, number],
    records: manifest.chunks.slice(from, to).reduce((sum, chunk) => sum + chunk.records, 0),
  }));
  return { parts: ranges.length, write, verify: store.partitionScan ? 'in parts' : 'one scan' };
}

const partName = (stage: VectorRestorePart['stage'], i: number) => `${stage}-${String(i).padStart(4, '0')}`;
const stageOf = (part: string) => part.slice(0, part.indexOf('-')) as VectorRestorePart['stage'];
const partRecords = (state: VectorRestorePart) => (state.stage === 'write' ? state.write.written : state.scan.count);

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

/**
 * execute, holding the plan's run lease (another invocation running it: its status, nothing done).
 * Continuations are asked for once the lease is let go, so that the next invocation finds it free.
 * A run waiting for its parts looks at them again then: a part that finished meanwhile could not
 * take the lease to move the plan on, so a continuation does.
 */
async function executeLeased(stored: VectorPlan, deps: VectorRestoreDeps): Promise<VectorRestoreStatus> {
  const step = await withRunLease<Step>(
    deps,
    stored.token,
    (continuation) => execute(stored, { ...deps, continuation }),
    async () => ({ status: restoreStatus((await deps.plans.get(stored.token))!) }),
  );
  if (step.waitingOn && (await deps.parts.list(stored.token, step.waitingOn)).every((part) => part.done)) {
    await deps.continuation.continueLater({ restoreId: stored.token, continuation: true });
  }
  return step.status;
}

/** What one invocation of a run did, and what it asks for once it let the plan's lease go. */
interface Step {
  status: VectorRestoreStatus;
  /** The run dispatched the parts of this stage (or found them still working) and waits for them. */
  waitingOn?: VectorRestorePart['stage'];
}

/** Runs (or continues) a claimed plan from its checkpoint until it is done, waits for its parts, or time runs out. */
async function execute(stored: VectorPlan, deps: VectorRestoreDeps): Promise<Step> {
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
  const current = async (): Promise<Step> => ({ status: restoreStatus((await deps.plans.get(token))!) });
  const fail = async (reason: string) => {
    await deps.plans.finish(token, 'failed', deps.now(), null, reason);
    return current();
  };
  const waiting = async (stage: VectorRestorePart['stage']): Promise<Step> => ({ ...(await current()), waitingOn: stage });
  // Time ran out: a new invocation continues from the checkpoint (asked for once the lease is let go).
  const paused = async (): Promise<Step> => {
    await deps.continuation.continueLater({ restoreId: token, continuation: true });
    return current();
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
      if (plan.fanOut) {
        const parts = await dispatchParts(stored, 'write', async () => writePartsOf(plan.fanOut!), deps);
        if (!parts) return await waiting('write');
        // What the parts wrote, kept on the plan with the next phase.
        progress = { ...progress!, write: { ...progress!.write, written: parts.reduce((sum, p) => sum + partRecords(p.state), 0) } };
      } else {
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
        if (!written.done) return await paused();
      }
      await store.finishLoad?.(plan.target.index, { dimensions: manifest.dimensions, metric: manifest.metric });
      await save({ ...progress!, ...verifyStart(plan, store) });
    }
    let scanned: ScanCheckpoint;
    let verifyParts = 1;
    if (progress!.scanInParts) {
      const index = plan.target.index;
      const parts = await dispatchParts(
        stored,
        'verify',
        async () => verifyPartsOf(await store!.partitionScan!(index, plan.fanOut!.parts)),
        deps,
      );
      if (!parts) return await waiting('verify');
      verifyParts = parts.length;
      scanned = summedScan(parts);
    } else {
      const scan = await scanIndex({
        store,
        index: plan.target.index,
        from: progress!.scan ?? scanStart(),
        pageSize: deps.pageSize ?? 1000,
        hasTime,
        checkpoint: (at) => save({ ...progress!, scan: at, lastError: null }),
      });
      if (!scan.done) return await paused();
      scanned = scan.at;
    }

    const check = compareWithManifest(manifest, scanned, plan.target);
    const now = deps.now();
    const result: VectorRestoreResult = {
      ...check,
      method: progress!.method,
      nativeFailed: progress!.nativeFailed,
      target: { engine: plan.target.engine, index: plan.target.index },
      written: progress!.write.written,
      restoreMs: now.getTime() - new Date(stored.startedAt ?? now).getTime(),
      ...(plan.fanOut && { fanOut: { writeParts: progress!.method === 'chunks' ? plan.fanOut.parts : 0, verifyParts } }),
    };
    await deps.plans.finish(token, check.ok ? 'done' : 'failed', now, result, check.reason);
    return await current();
  } catch (error) {
    if (error instanceof PlanNotRunningError) return { status: restoreStatus(error.plan) };
    if (error instanceof SnapshotUnavailableError) return await fail(describeError(error));
    if (error instanceof SnapshotCorruptError) return await fail(await markCorrupt(deps, plan, token, error));
    // The checkpoint stands: {"restoreId"} (or Lambda's retry of an asynchronous invocation) continues.
    if (progress) await deps.plans.saveProgress(token, { ...progress, lastError: describeError(error) }).catch(() => undefined);
    throw error;
  } finally {
    await store?.close();
  }
}

/** The check's start: scanned in parts where the run fans out and the target's engine splits a scan, else one scan. */
function verifyStart(plan: VectorRestorePlan, store: VectorStore): Pick<VectorRestoreProgress, 'phase' | 'scan' | 'scanInParts'> {
  const inParts = plan.fanOut !== undefined && store.partitionScan !== undefined;
  return { phase: 'verify', scan: inParts ? null : scanStart(), ...(inParts && { scanInParts: true }) };
}

/** The planned snapshot is no longer a verified one (retention removed it, or a check found it corrupt): the restore fails. */
class SnapshotUnavailableError extends Error {
  override readonly name = 'SnapshotUnavailableError';
}

async function snapshotEntry(plan: VectorRestorePlan, catalog: SnapshotCatalogStore): Promise<SnapshotEntry> {
  const entry = await catalog.get(plan.source.asset, plan.snapshotId);
  if (entry?.state !== 'verified') {
    const state = entry ? `${entry.state}${entry.reason ? ` (${entry.reason})` : ''}` : 'gone from the catalog';
    throw new SnapshotUnavailableError(`snapshot ${plan.snapshotId} of "${plan.source.asset}" is ${state} since the dry run`);
  }
  return entry;
}

/**
 * A snapshot whose files do not restore (a chunk missing, or not matching its manifest) is no
 * recovery point: the catalog says so, as snapshot-vectors' read-back and restore tests do, so the
 * live RPO, the next restore and the next drill stop counting on it.
 */
async function markCorrupt(deps: VectorRestoreDeps, plan: VectorRestorePlan, token: string, error: SnapshotCorruptError): Promise<string> {
  // Only a snapshot still verified: one retention removed during the restore (its chunks missing) stays deleted.
  const marked = await deps.catalog.markCorrupt(plan.source.asset, plan.snapshotId, `restore ${token}: ${error.message}`);
  return marked ? `${describeError(error)}; snapshot ${plan.snapshotId} is marked corrupt in the catalog` : describeError(error);
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
      await save({ ...base, method: 'native', ...verifyStart(plan, store) });
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

/**
 * The parts of a stage, created on first use (all at once), each not done sent to an invocation of
 * its own ({"restoreId", "part"}); every part once all are done, else undefined (the run waits). A
 * part whose invocation died is sent again by the next {"restoreId", "continuation": true}; one still
 * working finds its lease held and returns at once.
 */
async function dispatchParts(
  stored: VectorPlan,
  stage: VectorRestorePart['stage'],
  make: () => Promise<{ name: string; state: VectorRestorePart }[]>,
  deps: VectorRestoreDeps,
): Promise<PlanPart<VectorRestorePart>[] | undefined> {
  let parts = await deps.parts.list(stored.token, stage);
  if (parts.length === 0) {
    await deps.parts.create(stored.token, await make(), stored.expiresAt);
    parts = await deps.parts.list(stored.token, stage);
  }
  const pending = parts.filter((part) => !part.done);
  if (pending.length === 0) return parts;
  await Promise.all(pending.map((part) => deps.continuation.continueLater({ restoreId: stored.token, part: part.name })));
  return undefined;
}

const writePartsOf = (fanOut: NonNullable<VectorRestorePlan['fanOut']>) =>
  fanOut.write.map(({ part, chunks }) => ({
    name: part,
    state: { stage: 'write', chunks, write: { chunk: chunks[0], offset: 0, written: 0 }, lastError: null } as VectorRestorePart,
  }));

/** A verify part per cursor of the target's split scan, each from its own start. */
const verifyPartsOf = (cursors: string[]) =>
  cursors.map((cursor, i) => ({
    name: partName('verify', i),
    state: { stage: 'verify', scan: { ...scanStart(), cursor, started: true }, lastError: null } as VectorRestorePart,
  }));

/** The parts' scans as one: counts added, fingerprints summed (a fingerprint is a sum over records). */
function summedScan(parts: PlanPart<VectorRestorePart>[]): ScanCheckpoint {
  const fingerprint = new Fingerprint();
  let count = 0;
  for (const { state } of parts) {
    if (state.stage !== 'verify') continue;
    fingerprint.merge(state.scan.fingerprint);
    count += state.scan.count;
  }
  return { cursor: null, started: true, count, fingerprint: fingerprint.hex };
}

/**
 * One part of a running restore that fans out, under the part's own lease (another invocation
 * holding it: the status, nothing done): it writes its chunk range or scans its part of the target,
 * checkpointed on the part, and continues itself when time runs out. The invocation that finds every
 * part of the stage done moves the plan on, under the plan's lease.
 */
async function runPart(stored: VectorPlan, name: string, deps: VectorRestoreDeps): Promise<VectorRestoreStatus> {
  const token = stored.token;
  if (stored.state !== 'running') return restoreStatus(stored);
  if (!(await deps.parts.get(token, name))) throw new PayloadError(`part: restore "${token}" has no part "${name}"`);
  const owner = randomBytes(8).toString('hex');
  if (!(await deps.parts.lease(token, name, owner, leaseUntil(deps.now(), deps.remainingMs()), deps.now()))) {
    return restoreStatus(stored);
  }
  let outcome: 'done' | 'continue' | 'stopped';
  try {
    outcome = await workOnPart(stored, name, owner, deps);
  } finally {
    await deps.parts.release(token, name, owner);
  }
  if (outcome === 'continue') await deps.continuation.continueLater({ restoreId: token, part: name });
  const plan = (await deps.plans.get(token))!;
  if (outcome !== 'done' || plan.state !== 'running') return restoreStatus(plan);
  if (!(await deps.parts.list(token, stageOf(name))).every((part) => part.done)) return restoreStatus(plan);
  return executeLeased(plan, deps);
}

/** The part's work from its checkpoint: done (now or before), continue (time ran out), or stopped (the plan is not running). */
async function workOnPart(
  stored: VectorPlan,
  name: string,
  owner: string,
  deps: VectorRestoreDeps,
): Promise<'done' | 'continue' | 'stopped'> {
  const { token, summary: plan } = stored;
  const part = await deps.parts.get(token, name); // again under the lease: its holder before may have moved it on
  if (!part || part.done) return 'done';
  let state = part.state;
  const save = async (next: VectorRestorePart, done = false) => {
    if (await deps.parts.save(token, name, owner, next, done)) return void (state = next);
    const current = (await deps.plans.get(token))!;
    if (current.state !== 'running') throw new PlanNotRunningError(current);
    throw new Error(`part ${name} of restore ${token}: another invocation took its lease`);
  };
  const hasTime = () => deps.remainingMs() >= (deps.reserveMs ?? 60_000);
  const target = vectorAssets(deps.policy).find(({ asset }) => asset.name === plan.target.asset)?.asset;
  if (!target) {
    await deps.plans.finish(token, 'failed', deps.now(), null, `target asset "${plan.target.asset}" is no longer in the policy`);
    return 'stopped';
  }
  let store: VectorStore | undefined;
  try {
    store = await deps.openStore(target);
    const objects = deps.objectsFor(plan.replicaBucket);
    const manifest = await manifestOf(objects, await snapshotEntry(plan, deps.catalog));
    const index = plan.target.index;
    if (state.stage === 'write') {
      const write = state;
      const written = await writeChunks({
        ...{ store, index, objects, prefix: plan.prefix, manifest, from: write.write, end: write.chunks[1] },
        batchSize: deps.batchSize ?? 500,
        hasTime,
        checkpoint: (at) => save({ ...write, write: at, lastError: null, attempts: 0 }),
      });
      if (!written.done) return 'continue';
      await save({ ...write, write: written.at, lastError: null, attempts: 0 }, true);
    } else {
      const verify = state;
      const scanned = await scanIndex({
        ...{ store, index, from: verify.scan, pageSize: deps.pageSize ?? 1000, hasTime },
        checkpoint: (at) => save({ ...verify, scan: at, lastError: null, attempts: 0 }),
      });
      if (!scanned.done) return 'continue';
      await save({ ...verify, scan: scanned.at, lastError: null, attempts: 0 }, true);
    }
    return 'done';
  } catch (error) {
    if (error instanceof PlanNotRunningError) return 'stopped';
    if (error instanceof SnapshotUnavailableError || error instanceof SnapshotCorruptError) {
      const reason = error instanceof SnapshotCorruptError ? await markCorrupt(deps, plan, token, error) : describeError(error);
      await deps.plans.finish(token, 'failed', deps.now(), null, `part ${name}: ${reason}`);
      return 'stopped';
    }
    // The part's checkpoint stands: Lambda's retry, or the next {"restoreId", "continuation": true},
    // continues it; an error that comes back PART_ATTEMPTS times in a row with no checkpoint between
    // (an engine refusing the same batch) fails the restore rather than retrying it for ever.
    const attempts = (state.attempts ?? 0) + 1;
    await deps.parts.save(token, name, owner, { ...state, lastError: describeError(error), attempts }, false).catch(() => undefined);
    if (attempts < PART_ATTEMPTS) throw error;
    const reason = `part ${name}: ${describeError(error)} (${attempts} attempts in a row from its checkpoint)`;
    await deps.plans.finish(token, 'failed', deps.now(), null, reason);
    return 'stopped';
  } finally {
    await store?.close();
  }
}

/** A running restore that fans out: its status with the parts of the stage it is in. */
async function withParts(status: VectorRestoreStatus, deps: VectorRestoreDeps): Promise<VectorRestoreStatus> {
  const { progress } = status;
  if (status.state !== 'running' || !status.plan.fanOut || !progress) return status;
  const stage = progress.phase === 'write' ? 'write' : progress.phase === 'verify' && progress.scanInParts ? 'verify' : undefined;
  if (!stage) return status;
  const parts = await deps.parts.list(status.restoreId, stage);
  return {
    ...status,
    parts: parts.map(({ name, done, state }) => ({
      part: name,
      done,
      records: partRecords(state),
      lastError: state.lastError,
      attempts: state.attempts ?? 0,
    })),
  };
}
