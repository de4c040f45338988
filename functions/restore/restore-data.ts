import type { LedgerEntry, ReplicationLedger } from '../ledger/ledger.js';
import { ledgerVersionId } from '../ledger/ledger.js';
import { replicaKeyFor, sourceKeyFor } from '../policy/assets.js';
import { isObjectAsset, type ObjectAsset, type Policy } from '../policy/schema.js';
import { ChecksumMismatchError, CopyContinuesError } from '../replication/errors.js';
import { compositeSha256, copyMultipart, forgetUpload, planParts } from '../replication/multipart-copy.js';
import { REPLICA_METADATA } from '../storage/replica-metadata.js';
import type { Continuation } from '../shared/continuation.js';
import { describeError } from '../shared/errors.js';
import type { KeyHistory, VersionEntry, VersionedStore } from '../storage/versioned-store.js';
import { PayloadError } from '../shared/payload.js';
import type { DataRestoreCall, DataRestoreRequest } from './data-request.js';
import {
  planForRun,
  withRunLease,
  type PlanStore,
  type StoredPlan,
  restoreStatus,
  savePlanStep,
  saveRunStep,
  type RestoreStatus,
} from './restore-plan.js';
import type { InvocationTime } from '../shared/invocation-time.js';
import type { MultipartPolicy } from '../policy/multipart.js';
import {
  type BatchJobs,
  type BatchJobStatus,
  type BatchManifestProgress,
  PermanentTaskError,
  type JobFiles,
  jobPrefix,
  ManifestPiece,
  newManifest,
  FAILURES_KEPT,
  TERMINAL_JOB_STATES,
  type TaskRestore,
  type TaskResults,
  taskResults,
  writeManifest,
} from './batch-restore.js';
import { sleep as wait } from '../shared/sleep.js';

/**
 * restore-data: every key of an asset (or a prefix of it) as it was at a point in time, from the
 * replica's versions, to the original bucket or to another bucket or prefix of the policy.
 *
 * Which version is "as of T" comes from the ledger (each replicated version's source write time,
 * replica version and SHA-256). Per key:
 *   - no version at or before T, or a delete: nothing to restore (a key at the target is left alone);
 *   - the version at T was never replicated: reported (`not-in-replica`), nothing restored;
 *   - the target already holds that content: `unchanged`;
 *   - the target holds something newer than T: left alone (`newer-at-target`) unless the payload
 *     says "overwriteNewer": true. Overwriting in a versioned bucket only adds a version.
 * A restored object is verified: its SHA-256 (server-side copy with a checksum, or read back) must
 * equal the ledger's; above the multipart threshold, part by part against the replica and the
 * ledger's composite. A restore continues across invocations from its checkpoint, and is
 * idempotent: a key restored before an interruption is `unchanged` when its batch runs again.
 *
 * DataRestoreDeps.reserveMs: stop starting new keys when less than this is left of the invocation
 * (default 60 s).
 */
export interface DataRestoreDeps extends InvocationTime {
  ledger: ReplicationLedger;
  replica: VersionedStore;
  target: VersionedStore;
  plans: PlanStore<DataPlanContents>;
  continuation: Continuation;
  multipart: MultipartPolicy;
  /** Keys examined or restored at once. Default 16. */
  concurrency?: number;
  /** S3 Batch Operations, for restores with "method": "batch-operations" (absent: not configured). */
  batch?: BatchRestoreDeps;
}

export interface BatchRestoreDeps {
  jobs: BatchJobs;
  /** The job files (manifest, completion report) in the asset's replica bucket. */
  files: JobFiles;
  /** The function the job invokes per task (restore-data itself) and the role S3 assumes to run it. */
  functionArn: string;
  roleArn: string;
  /** Between two looks at a running job. Default 20 s. */
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export type Reason =
  | 'absent'
  | 'overwrite-older'
  | 'overwrite-newer'
  | 'unchanged'
  | 'newer-at-target'
  | 'not-in-replica'
  | 'absent-at-time'
  | 'deleted-at-time';

export interface KeyDecision {
  key: string;
  targetKey: string;
  action: 'restore' | 'skip';
  reason: Reason;
  version?: LedgerEntry;
  /** Whether the target currently holds the key (for keys absent or deleted at T: left alone). */
  targetHasKey: boolean;
  /** The version was known from the replica's own metadata: the ledger has no entry of it. */
  fromReplica?: true;
}

const EXAMPLES = 10;
/** Time a restore leaves itself to save its checkpoint and queue its continuation (DataRestoreDeps.reserveMs). */
const RESERVE_MS = 60_000;

/** User metadata on a restored object: which asset and source version it was restored from (x-amz-meta-dr-restored-from). */
export const RESTORED_FROM = 'dr-restored-from';

export interface DataPlanSummary {
  asset: string;
  asOf: string;
  target: DataRestoreRequest['target'];
  keysExamined: number;
  restore: { objects: number; bytes: number };
  /** Restores that replace what the target holds now (older, or newer with overwriteNewer). */
  overwrite: { older: number; newer: number; examples: string[] };
  skipped: Record<Exclude<Reason, 'absent' | 'overwrite-older' | 'overwrite-newer'>, number>;
  /** Keys the target holds that did not exist (or were deleted) at asOf: left alone. */
  leftAlone: { objects: number; examples: string[] };
  newerAtTargetExamples: string[];
  notInReplicaExamples: string[];
  /** Restores of versions the ledger does not know, taken from the replica's own metadata (a lost ledger). */
  fromReplicaMetadata: number;
  /** objects × 50 ms / concurrency + bytes / (concurrency × 100 MB/s), concurrency 16 (a batch job: 100): see docs/restore.md. */
  estimatedSeconds: number;
  /** A batch restore: its manifest of replica versions (S3 Inventory format) and where the job's report goes. */
  batch?: { manifest: string; manifestEtag: string; versions: number; reportPrefix: string };
}

export interface DataRunProgress {
  /** Replica key after which the walk continues. */
  afterKey?: string;
  /** A restore run as an S3 Batch Operations job: the job, as last described. */
  job?: { id: string; status: string; total: number; succeeded: number; failed: number };
  restored: { objects: number; bytes: number };
  skipped: Partial<Record<Reason, number>>;
  failures: { key: string; error: string }[];
  failed: number;
}

/** Where a dry run that continues across invocations stands. */
export interface DataPlanningProgress {
  afterKey?: string;
  /** A batch restore's manifest, written file by file as the dry run walks. */
  batch?: BatchManifestProgress;
}

/** What a restore-data plan holds: planning progress while the dry run walks, run progress after; the result is the final run progress. */
export interface DataPlanContents {
  request: DataRestoreRequest;
  summary: DataPlanSummary;
  progress: DataPlanningProgress | DataRunProgress;
  result: DataRunProgress;
}

export type DataPlan = StoredPlan<DataPlanContents>;

const emptySummary = (request: DataRestoreRequest): DataPlanSummary => ({
  asset: request.asset,
  asOf: request.asOf,
  target: request.target,
  keysExamined: 0,
  restore: { objects: 0, bytes: 0 },
  overwrite: { older: 0, newer: 0, examples: [] },
  skipped: { unchanged: 0, 'newer-at-target': 0, 'not-in-replica': 0, 'absent-at-time': 0, 'deleted-at-time': 0 },
  leftAlone: { objects: 0, examples: [] },
  newerAtTargetExamples: [],
  notInReplicaExamples: [],
  fromReplicaMetadata: 0,
  estimatedSeconds: 0,
});

const keep = (list: string[], key: string) => list.length < EXAMPLES && list.push(key);

/**
 * What the replica itself records of versions the ledger does not know (the ledger was lost, or
 * restored from a backup older than they are): each replica version written by this service names
 * its asset, source version and the SHA-256 of the source's bytes (x-amz-meta-dr-*), read with one
 * HEAD. Its write time stands in for the source's (a version is replicated after it was written,
 * so "as of T" may miss what was written just before T, never take what came after). A version
 * without that metadata is not ours and is never restored; one without a SHA-256 (a large object
 * whose source had none) is restored and then fails verification, named.
 */
export async function entriesFromReplica(
  replica: VersionedStore,
  asset: ObjectAsset,
  key: string,
  replicaKey: string,
  versions: readonly VersionEntry[],
): Promise<LedgerEntry[]> {
  const entries = await Promise.all(
    versions.map(async (v): Promise<LedgerEntry | undefined> => {
      const base = {
        asset: asset.name,
        key,
        state: 'replicated' as const,
        sourceLastModified: v.lastModified.toISOString(),
        size: v.size,
        replicaKey,
        replicaVersionId: v.versionId,
        attempts: 0,
      };
      if (v.kind === 'delete-marker') return { ...base, sourceVersionId: `replica-marker:${v.versionId}`, entryType: 'delete-marker' };
      const { metadata } = await replica.describe({ bucket: asset.replica.bucket, key: replicaKey, versionId: v.versionId });
      const sourceVersionId = metadata[REPLICA_METADATA.sourceVersionId];
      if (metadata[REPLICA_METADATA.asset] !== asset.name || !sourceVersionId) return undefined;
      const sha256 = metadata[REPLICA_METADATA.sha256];
      return { ...base, sourceVersionId, entryType: 'object', ...(sha256 && { sha256 }) };
    }),
  );
  return entries.filter((e): e is LedgerEntry => e !== undefined);
}

/**
 * The version of a key as of `asOf` (ms): the newest written at or before it, from the ledger
 * and, for the key's replica versions (`replicaVersions`, oldest first) the ledger does not name,
 * from the replica's own metadata (entriesFromReplica): a ledger that was lost, or restored from a
 * backup older than the versions, never hides what the replica holds. With a complete ledger
 * nothing is read. Write times can tie (S3 reports whole seconds): then the replica's own order
 * of the versions decides; a version not in the replica sorts last, so a tie is never resolved in
 * favour of an older replicated version. One way of choosing "as of T", for restores and for
 * dataset versions (lineage).
 */
export async function versionAt(
  deps: { ledger: Pick<ReplicationLedger, 'entriesFor'>; replica: VersionedStore },
  asset: ObjectAsset,
  key: string,
  asOf: number,
  replicaVersions: readonly VersionEntry[] = [],
): Promise<{ version?: LedgerEntry; fromReplica: boolean }> {
  const replicaOrder = new Map(replicaVersions.map((v, i) => [v.versionId, i]));
  const order = (e: LedgerEntry) => (e.replicaVersionId !== undefined ? (replicaOrder.get(e.replicaVersionId) ?? Infinity) : Infinity);
  const known = (await deps.ledger.entriesFor(asset.name, key)).filter((e) => e.entryType !== 'key');
  const named = new Set(known.flatMap((e) => (e.replicaVersionId ? [e.replicaVersionId] : [])));
  const unnamed = replicaVersions.filter((v) => !named.has(v.versionId) && v.lastModified.getTime() <= asOf);
  const fromReplica = unnamed.length > 0 ? await entriesFromReplica(deps.replica, asset, key, replicaKeyFor(asset, key), unnamed) : [];
  // A source version the ledger knows but not as replicated (a copy whose ledger write was lost) takes the replica's record.
  const replicatedInLedger = new Set(known.filter((e) => e.state === 'replicated').map((e) => e.sourceVersionId));
  const adopted = fromReplica.filter((e) => !replicatedInLedger.has(e.sourceVersionId));
  const adoptedIds = new Set(adopted.map((e) => e.sourceVersionId));
  const version = [...known.filter((e) => !adoptedIds.has(e.sourceVersionId)), ...adopted]
    .filter((e) => Date.parse(e.sourceLastModified) <= asOf)
    .sort((a, b) => Date.parse(a.sourceLastModified) - Date.parse(b.sourceLastModified) || order(a) - order(b))
    .at(-1);
  return { ...(version && { version }), fromReplica: version !== undefined && adopted.includes(version) };
}

/** Decides what restoring one key means (reads only): its version as of the request's time (versionAt), and the target's state. */
export async function decideKey(
  deps: Pick<DataRestoreDeps, 'ledger' | 'target' | 'replica'>,
  asset: ObjectAsset,
  request: DataRestoreRequest,
  key: string,
  replicaVersions: readonly VersionEntry[] = [],
): Promise<KeyDecision> {
  const targetKey = request.target.prefix + key.slice(asset.source.prefix.length);
  const { version, fromReplica } = await versionAt(deps, asset, key, Date.parse(request.asOf), replicaVersions);
  const current = await deps.target.current(request.target.bucket, targetKey);
  const targetHasKey = current !== undefined;
  const origin = fromReplica ? { fromReplica: true as const } : {};
  const skip = (reason: Reason): KeyDecision => ({ key, targetKey, action: 'skip', reason, version, targetHasKey, ...origin });
  if (!version) return skip('absent-at-time');
  if (version.state !== 'replicated' || !version.replicaVersionId) return skip('not-in-replica');
  if (version.entryType === 'delete-marker') return skip('deleted-at-time');
  if (!current) return { key, targetKey, action: 'restore', reason: 'absent', version, targetHasKey, ...origin };

  // The same content: the same source version in place, the same SHA-256, or a verified restore of it.
  const unchanged =
    (request.target.bucket === asset.source.bucket &&
      targetKey === key &&
      ledgerVersionId(current.versionId, current.lastModified) === version.sourceVersionId) ||
    (version.sha256 !== undefined && current.fullObjectSha256 === version.sha256) ||
    (current.metadata[RESTORED_FROM] === `${asset.name}/${version.sourceVersionId}` && current.size === version.size);
  if (unchanged) return skip('unchanged');
  // HEAD's Last-Modified has whole seconds: a different version written in the same second as the
  // one being restored counts as newer (left alone unless the payload says otherwise).
  const newer = current.lastModified.getTime() >= Math.floor(Date.parse(version.sourceLastModified) / 1000) * 1000;
  if (newer && !request.overwriteNewer) return skip('newer-at-target');
  return { key, targetKey, action: 'restore', reason: newer ? 'overwrite-newer' : 'overwrite-older', version, targetHasKey, ...origin };
}

/**
 * Walks the replica's keys under the request's prefix in key order, from `afterKey`, deciding
 * `concurrency` keys at a time; stops (returning the checkpoint) when the invocation runs short.
 */
async function walk(
  deps: DataRestoreDeps,
  asset: ObjectAsset,
  request: DataRestoreRequest,
  afterKey: string | undefined,
  handle: (decision: KeyDecision) => Promise<void>,
  onBatch: (afterKey: string | undefined) => Promise<void> = async () => {},
  /** A key whose state could not be read (a refused HEAD, throttling): without this, the walk fails. */
  onUndecided?: (key: string, error: unknown) => Promise<void>,
): Promise<{ done: boolean; afterKey?: string }> {
  const concurrency = deps.concurrency ?? 16;
  const reserveMs = deps.reserveMs ?? RESERVE_MS;
  let batch: KeyHistory[] = [];
  let checkpoint = afterKey;
  const flush = async (): Promise<boolean> => {
    const results = await Promise.allSettled(
      batch.map(async ({ key: replicaKey, versions }) => {
        const key = sourceKeyFor(asset, replicaKey);
        let decision: KeyDecision;
        try {
          decision = await decideKey(deps, asset, request, key, versions);
        } catch (error) {
          if (!onUndecided) throw error;
          return onUndecided(key, error);
        }
        return handle(decision);
      }),
    );
    // A key that has to continue in the next invocation (a long multipart copy) is where the next
    // invocation starts: keys after it in this batch are decided again there (and found unchanged).
    const stoppedAt = results.findIndex((r) => r.status === 'rejected' && r.reason instanceof CopyContinuesError);
    const failure = results.find((r) => r.status === 'rejected' && !(r.reason instanceof CopyContinuesError));
    if (failure) throw (failure as PromiseRejectedResult).reason;
    if (stoppedAt >= 0) {
      checkpoint = stoppedAt === 0 ? checkpoint : batch[stoppedAt - 1]!.key;
      return false;
    }
    checkpoint = batch.at(-1)?.key ?? checkpoint;
    batch = [];
    await onBatch(checkpoint);
    return true;
  };
  for await (const history of deps.replica.keysUnder(asset.replica.bucket, replicaKeyFor(asset, request.prefix), afterKey)) {
    if (batch.length === 0 && deps.remainingMs() < reserveMs) return { done: false, afterKey: checkpoint };
    batch.push(history);
    if (batch.length >= concurrency && !(await flush())) return { done: false, afterKey: checkpoint };
  }
  if (batch.length > 0 && !(await flush())) return { done: false, afterKey: checkpoint };
  return { done: true, afterKey: checkpoint };
}

/** The dry run: decides every key, writes nothing but the plan. Continues by itself when long. */
export async function planDataRestore(
  deps: DataRestoreDeps,
  asset: ObjectAsset,
  request: DataRestoreRequest,
  resume?: DataPlan,
): Promise<DataPlan> {
  const summary = resume?.summary ?? emptySummary(request);
  const batch = request.method === 'batch-operations' ? batchDeps(deps) : undefined;
  const planning = resume?.progress as DataPlanningProgress | undefined;
  const piece = batch && new ManifestPiece(asset.replica.bucket, planning?.batch ?? newManifest());
  const walked = await walk(deps, asset, request, planning?.afterKey, async (d) => {
    summary.keysExamined++;
    if (d.action === 'restore') {
      piece?.add(d.version!.replicaKey!, d.version!.replicaVersionId!);
      summary.restore.objects++;
      if (d.fromReplica) summary.fromReplicaMetadata++;
      summary.restore.bytes += d.version?.size ?? 0;
      if (d.reason === 'overwrite-older') summary.overwrite.older++;
      if (d.reason === 'overwrite-newer') summary.overwrite.newer++;
      if (d.reason !== 'absent') keep(summary.overwrite.examples, d.targetKey);
      return;
    }
    const reason = d.reason as keyof DataPlanSummary['skipped'];
    summary.skipped[reason]++;
    if (reason === 'newer-at-target') keep(summary.newerAtTargetExamples, d.targetKey);
    if (reason === 'not-in-replica') keep(summary.notInReplicaExamples, d.key);
    if ((reason === 'absent-at-time' || reason === 'deleted-at-time') && d.targetHasKey) {
      summary.leftAlone.objects++;
      keep(summary.leftAlone.examples, d.targetKey);
    }
  });
  const concurrency = batch ? BATCH_CONCURRENCY : (deps.concurrency ?? 16);
  summary.estimatedSeconds = Math.ceil((summary.restore.objects * 0.05) / concurrency + summary.restore.bytes / (concurrency * 100e6));
  const manifest = piece && batch && (await piece.write(batch.files));
  if (manifest && walked.done) {
    const { key, etag } = await writeManifest(batch.files, manifest, asset.replica.bucket, deps.now(), batch.functionArn.split(':')[1]);
    summary.batch = {
      manifest: `s3://${batch.files.bucket}/${key}`,
      manifestEtag: etag,
      versions: manifest.versions,
      reportPrefix: `${jobPrefix(manifest.manifestId)}report`,
    };
  }
  const progress: DataPlanningProgress = { afterKey: walked.afterKey, ...(manifest && { batch: manifest }) };
  return savePlanStep(deps, { request, summary }, resume, walked.done ? undefined : progress);
}

/** Lambda concurrency a batch job's estimate assumes (Batch Operations runs tasks up to the account's concurrency). */
const BATCH_CONCURRENCY = 100;

function batchDeps(deps: DataRestoreDeps): BatchRestoreDeps {
  if (!deps.batch)
    throw new PayloadError(
      'method: "batch-operations" needs the stack\'s Batch Operations role (RESTORE_BATCH_ROLE on restore-data); restore with "method": "function"',
    );
  return deps.batch;
}

/**
 * The real run of a plan (claimed once with its token), or its continuation; one invocation at a
 * time (the plan's run lease): another one meanwhile gets the plan as it is and does nothing.
 */
export function runDataRestore(deps: DataRestoreDeps, asset: ObjectAsset, plan: DataPlan): Promise<DataPlan> {
  return withRunLease(
    deps,
    plan.token,
    (continuation) => runLeased({ ...deps, continuation }, asset, plan),
    async () => (await deps.plans.get(plan.token)) ?? plan,
  );
}

async function runLeased(deps: DataRestoreDeps, asset: ObjectAsset, plan: DataPlan): Promise<DataPlan> {
  const request = plan.request;
  const progress: DataRunProgress =
    plan.progress && 'restored' in plan.progress
      ? plan.progress
      : { restored: { objects: 0, bytes: 0 }, skipped: {}, failures: [], failed: 0 };
  if (request.method === 'batch-operations') return runBatchJob(deps, asset, plan, progress);
  let savedAt = performance.now();
  const walked = await walk(
    deps,
    asset,
    request,
    progress.afterKey,
    async (d) => {
      if (d.action === 'skip') {
        progress.skipped[d.reason] = (progress.skipped[d.reason] ?? 0) + 1;
        return;
      }
      try {
        await restoreVersion(deps, asset, request.target.bucket, plan.token, d);
        progress.restored.objects++;
        progress.restored.bytes += d.version!.size;
      } catch (error) {
        if (error instanceof CopyContinuesError) throw error;
        progress.failed++;
        if (progress.failures.length < FAILURES_KEPT) progress.failures.push({ key: d.key, error: describeError(error) });
      }
    },
    async (afterKey) => {
      // A checkpoint every half minute, so that an invocation that dies (not one that runs out of time,
      // which saves and continues) loses little: {"restoreId", "continuation": true} resumes from it.
      if (performance.now() - savedAt < 30_000) return;
      savedAt = performance.now();
      await deps.plans.saveProgress(plan.token, { ...progress, afterKey });
    },
    async (key, error) => {
      // One key that cannot be read fails that key, not the restore.
      progress.failed++;
      if (progress.failures.length < FAILURES_KEPT) progress.failures.push({ key, error: describeError(error) });
    },
  );
  progress.afterKey = walked.afterKey;
  return saveRunStep(deps, plan, progress, walked.done);
}

/**
 * A batch restore's run: creates the job over the dry run's manifest (once: the token makes
 * creation idempotent), then follows it until it ends, continuing in a new invocation when this one
 * runs short. At the end the completion report names the failed tasks. What a task does:
 * restoreTask.
 */
async function runBatchJob(deps: DataRestoreDeps, asset: ObjectAsset, plan: DataPlan, progress: DataRunProgress): Promise<DataPlan> {
  const batch = batchDeps(deps);
  const planned = plan.summary.batch;
  if (!planned) throw new Error(`restore ${plan.token}: the dry run wrote no Batch Operations manifest`);
  if (planned.versions === 0) return saveRunStep(deps, plan, progress, true);
  if (!progress.job) {
    const manifestKey = planned.manifest.slice(`s3://${batch.files.bucket}/`.length);
    const id = await batch.jobs.create({
      clientRequestToken: plan.token,
      description: `ai-data-dr restore ${plan.token} of ${asset.name}`,
      manifest: { bucket: batch.files.bucket, key: manifestKey, etag: planned.manifestEtag },
      functionArn: batch.functionArn,
      roleArn: batch.roleArn,
      userArguments: { restoreId: plan.token },
      report: { bucket: batch.files.bucket, prefix: planned.reportPrefix },
    });
    progress.job = { id, status: 'New', total: planned.versions, succeeded: 0, failed: 0 };
    await deps.plans.saveProgress(plan.token, progress);
  }
  const pollMs = batch.pollMs ?? 20_000;
  const sleep = batch.sleep ?? wait;
  for (;;) {
    const job = await batch.jobs.describe(progress.job.id);
    progress.job = { id: progress.job.id, status: job.status, total: job.total, succeeded: job.succeeded, failed: job.failed };
    if (TERMINAL_JOB_STATES.has(job.status)) return finishBatchJob(deps, asset, plan, progress, job);
    if (deps.remainingMs() < (deps.reserveMs ?? RESERVE_MS) + pollMs) return saveRunStep(deps, plan, progress, false);
    await sleep(pollMs);
  }
}

/**
 * The end of a batch restore's job: the completion report (every task's result) is counted into the
 * run's result as a function restore counts it: restored objects and bytes, skips by reason, the
 * failed keys. A job that ended without running every task, or without a readable report, fails the
 * restore, saying why.
 */
async function finishBatchJob(
  deps: DataRestoreDeps,
  asset: ObjectAsset,
  plan: DataPlan,
  progress: DataRunProgress,
  job: BatchJobStatus,
): Promise<DataPlan> {
  const batch = batchDeps(deps);
  const planned = plan.summary.batch!;
  const problems: { key: string; error: string }[] = [];
  if (job.status !== 'Complete')
    problems.push({
      key: `(job ${progress.job!.id})`,
      error: `${job.status}: ${job.failureReasons.join('; ') || 'no reason given'}`,
    });
  let tasks: TaskResults | undefined;
  try {
    tasks = await taskResults(batch.files, planned.reportPrefix, progress.job!.id);
  } catch (error) {
    problems.push({ key: `(job ${progress.job!.id})`, error: `its completion report cannot be read: ${describeError(error)}` });
  }
  const counted = tasks ? tasks.restored.objects + tasks.failed.count + Object.values(tasks.skipped).reduce((a, b) => a + b, 0) : 0;
  const notRun = Math.max(0, planned.versions - counted);
  progress.restored = tasks?.restored ?? { objects: 0, bytes: 0 };
  progress.skipped = tasks?.skipped ?? {};
  progress.failed = (tasks?.failed.count ?? 0) + notRun;
  progress.failures = [
    ...problems,
    ...(notRun > 0
      ? [{ key: `(job ${progress.job!.id})`, error: `${notRun} of the manifest's ${planned.versions} versions were not run` }]
      : []),
    ...(tasks?.failed.first ?? []).map((f) => ({ key: sourceKeyFor(asset, f.key), error: f.error })),
  ].slice(0, FAILURES_KEPT);
  if (problems.length > 0 && progress.failed === 0) progress.failed = 1;
  return saveRunStep(deps, plan, progress, true);
}

/** A task's result string: how the run counts it (finishBatchJob, from the completion report). */
export const taskResult = {
  restored: (bytes: number, where: string) => `restored ${bytes} bytes to ${where}, SHA-256 verified`,
  skipped: (reason: Reason, key: string) => `skipped ${reason}: ${key}`,
};

/**
 * One task of a batch restore (runRestoreTasks): the key is decided again now, as the run would
 * (the replica's versions included: a lost ledger is read from the replica's metadata as the dry
 * run did), and its version as of the plan's time copied and verified (restoreVersion). The target
 * may have changed since the dry run: a key now unchanged or newer there is skipped; a key whose
 * version as of the plan's time is no longer the manifest's is refused (PermanentFailure).
 */
export async function restoreTask(
  deps: DataRestoreDeps,
  asset: ObjectAsset,
  plan: DataPlan,
  key: string,
  replicaVersionId: string,
): Promise<{ restored: string } | { skipped: string }> {
  const versions = await deps.replica.listVersions(asset.replica.bucket, replicaKeyFor(asset, key));
  const d = await decideKey(deps, asset, plan.request, key, versions);
  if (d.action === 'skip' && (d.reason === 'unchanged' || d.reason === 'newer-at-target'))
    return { skipped: taskResult.skipped(d.reason, key) };
  if (d.action === 'skip' || d.version!.replicaVersionId !== replicaVersionId) {
    const now = d.action === 'skip' ? d.reason : `replica version ${d.version!.replicaVersionId}`;
    throw new PermanentTaskError(
      `the manifest names replica version ${replicaVersionId} of ${key}; as of the plan's time it is now ${now}`,
    );
  }
  await restoreVersion(deps, asset, plan.request.target.bucket, plan.token, d);
  return { restored: taskResult.restored(d.version!.size, `s3://${plan.request.target.bucket}/${d.targetKey}`) };
}

/**
 * Starts the run of a plan: checks the token against the request, claims it, runs. A run whose
 * payload has no asOf runs as of the plan's time (the dry run fixed "now").
 */
export async function startDataRestore(
  deps: DataRestoreDeps,
  asset: ObjectAsset,
  request: DataRestoreRequest,
  token: string,
  asOfDefaulted = false,
): Promise<DataPlan> {
  if (asOfDefaulted) {
    const planned = await deps.plans.get(token);
    if (planned) request = { ...request, asOf: planned.request.asOf };
  }
  const plan = await planForRun(deps.plans, token, request, deps.now());
  return runDataRestore(deps, asset, plan);
}

export type DataRestoreStatus = RestoreStatus<DataPlanContents>;

/** What one restore-data invocation needs: the policy, the plans, and the deps of one asset's restore into a target region. */
export interface DataRestorer {
  policy: Policy;
  now: () => Date;
  plans: PlanStore<DataPlanContents>;
  forAsset: (asset: ObjectAsset, targetRegion: string) => DataRestoreDeps;
}

/**
 * One invocation (as restoreVectors): a dry run (plan and token, continuing by itself when long), a
 * run with the token, the status of a restore, or the continuation of a planning or running one.
 */
export async function restoreData(call: DataRestoreCall, restorer: DataRestorer): Promise<DataRestoreStatus> {
  if (call.kind === 'status') {
    const plan = await restorer.plans.get(call.restoreId);
    if (!plan) throw new PayloadError(`restoreId: no restore-data plan "${call.restoreId}"`);
    if (!call.continuation || (plan.state !== 'planning' && plan.state !== 'running')) return restoreStatus(plan);
    const asset = restorer.policy.assets.find((a) => a.name === plan.request.asset);
    if (!asset || !isObjectAsset(asset)) throw new PayloadError(`restoreId: asset ${plan.request.asset} is no longer in the policy`);
    const deps = restorer.forAsset(asset, plan.request.target.region);
    return restoreStatus(
      plan.state === 'planning' ? await planDataRestore(deps, asset, plan.request, plan) : await runDataRestore(deps, asset, plan),
    );
  }
  const deps = restorer.forAsset(call.asset, call.request.target.region);
  const plan = call.dryRun
    ? await planDataRestore(deps, call.asset, call.request)
    : await startDataRestore(deps, call.asset, call.request, call.planToken!, call.asOfDefaulted);
  return restoreStatus(plan);
}

/**
 * The plans behind a batch restore's tasks (runRestoreTasks): only a restore that is running as a
 * job takes tasks; a late retry after the run finished is refused.
 */
export function batchTaskPlans(restorer: DataRestorer) {
  return async (restoreId: string): Promise<{ asset: ObjectAsset; restore: TaskRestore } | { refused: string }> => {
    const plan = await restorer.plans.get(restoreId);
    if (!plan) return { refused: `there is no restore-data restore "${restoreId}"` };
    if (plan.state !== 'running' || plan.request.method !== 'batch-operations')
      return {
        refused: `restore ${restoreId} is ${plan.state}${plan.request.method === 'batch-operations' ? '' : ', not a batch restore'}: it takes no tasks`,
      };
    const asset = restorer.policy.assets.find((a) => a.name === plan.request.asset);
    if (!asset || !isObjectAsset(asset)) return { refused: `asset ${plan.request.asset} is no longer in the policy` };
    const deps = restorer.forAsset(asset, plan.request.target.region);
    return { asset, restore: { restoreKey: (a, key, versionId) => restoreTask(deps, a, plan, key, versionId) } };
  };
}

/** Copies one replica version to the target and verifies it against the ledger (also used by restore tests). */
export async function restoreVersion(
  deps: Pick<DataRestoreDeps, 'ledger' | 'replica' | 'target' | 'now' | 'multipart' | 'remainingMs' | 'reserveMs'>,
  asset: ObjectAsset,
  targetBucket: string,
  token: string,
  d: Pick<KeyDecision, 'key' | 'targetKey' | 'version'>,
): Promise<void> {
  const version = d.version!;
  const source = { bucket: asset.replica.bucket, key: version.replicaKey!, versionId: version.replicaVersionId! };
  const details = await deps.replica.describe(source);
  // The replicator's own metadata (x-amz-meta-dr-*) stays in the replica; the restore carries the
  // original's, plus where it was restored from (how a later run knows the key is already done).
  const ours = new Set<string>(Object.values(REPLICA_METADATA));
  const metadata = {
    ...Object.fromEntries(Object.entries(details.metadata).filter(([k]) => !ours.has(k) && k !== RESTORED_FROM)),
    [RESTORED_FROM]: `${asset.name}/${version.sourceVersionId}`,
  };
  const request = {
    source,
    target: { bucket: targetBucket, key: d.targetKey },
    details: { ...details, metadata },
    metadata,
    storageClass: 'STANDARD',
  };

  let restored: { versionId: string; sha256?: string; composite?: { digest: string; partSizeBytes: number } };
  if (details.size > deps.multipart.thresholdBytes) {
    const uploadOf = [`restore#${token}`, d.key, version.sourceVersionId] as const;
    let copy;
    try {
      copy = await copyMultipart(
        {
          source: deps.replica,
          replica: deps.target,
          ledger: deps.ledger,
          now: deps.now,
          remainingMs: deps.remainingMs,
          reserveMs: deps.reserveMs ?? RESERVE_MS,
        },
        ...uploadOf,
        request,
        {
          partSizeBytes: version.partSizeBytes ?? deps.multipart.partSizeBytes,
          partConcurrency: deps.multipart.partConcurrency,
          mode: 'copy',
        },
      );
    } catch (error: unknown) {
      // The restore counts the key as failed and never comes back to it: whatever ended the copy
      // (a retry-worthy error too), its upload is aborted and its progress forgotten. One that
      // continues in the next invocation keeps both.
      if (!(error instanceof CopyContinuesError)) {
        await forgetUpload({ replica: deps.target, ledger: deps.ledger }, ...uploadOf, request.target).catch(() => undefined);
      }
      throw error;
    }
    restored = { versionId: copy.result.versionId, composite: { digest: copy.sha256Composite, partSizeBytes: copy.partSizeBytes } };
  } else {
    const copy = await deps.target.copy(request);
    restored = { versionId: copy.versionId, ...(copy.sha256 && { sha256: copy.sha256 }) };
  }
  await verifyAgainstLedger(deps.target, { bucket: targetBucket, key: d.targetKey, versionId: restored.versionId }, version, restored);
}

/**
 * The restored object against the checksum the ledger recorded when the version was replicated:
 * its SHA-256, or its composite SHA-256 at the recorded part size. Whatever the copy itself
 * reported is used when it is of the same kind; otherwise the restored object is read back and
 * hashed that way (the multipart threshold or part size may have changed since). Also used by
 * drills to compare what they restored, byte for byte (reported {}).
 */
export async function verifyAgainstLedger(
  target: VersionedStore,
  ref: { bucket: string; key: string; versionId: string },
  version: LedgerEntry,
  reported: { sha256?: string; composite?: { digest: string; partSizeBytes: number } },
): Promise<void> {
  const composite =
    version.sha256Composite && version.partSizeBytes
      ? { digest: version.sha256Composite, partSizeBytes: version.partSizeBytes }
      : undefined;
  // What the copy reported, when it is of a kind the ledger has: no read needed.
  if (composite && reported.composite?.partSizeBytes === composite.partSizeBytes) {
    if (reported.composite.digest !== composite.digest)
      throw new ChecksumMismatchError(`composite ${composite.digest}`, `composite ${reported.composite.digest}`, ref.versionId);
    return;
  }
  if (version.sha256) {
    const actual = reported.sha256 ?? (await target.sha256(ref));
    if (actual !== version.sha256) throw new ChecksumMismatchError(version.sha256, actual, ref.versionId);
    return;
  }
  if (composite) {
    const parts = planParts(version.size, composite.partSizeBytes);
    const actual = compositeSha256(await Promise.all(parts.map((p) => target.sha256Range(ref, p.start, p.end))));
    if (actual !== composite.digest) throw new ChecksumMismatchError(`composite ${composite.digest}`, `composite ${actual}`, ref.versionId);
    return;
  }
  throw new ChecksumMismatchError('a checksum in the ledger', 'none recorded', ref.versionId);
}
