import type { LedgerEntry, ReplicationLedger } from '../ledger/ledger.js';
import { replicaKeyFor, sourceKeyFor } from '../policy/assets.js';
import type { ObjectAsset } from '../policy/schema.js';
import { compositeSha256, planParts } from '../replication/multipart-copy.js';
import { scheduleIntervalSeconds } from '../policy/schedule.js';
import { describeError } from '../shared/errors.js';
import type { KeyHistory, VersionedStore } from '../storage/versioned-store.js';
import { restoreVersion, type KeyDecision } from './restore-data.js';
import { measuredRto, type RestoreTestResult } from './restore-test.js';
import type { InvocationTime } from '../shared/invocation-time.js';
import type { MultipartPolicy } from '../policy/multipart.js';

/**
 * The restore test of an object asset (verify-restore), in two parts:
 * - a sample restore: `restoreTest.sampleObjects` current versions are restored from the replica to
 *   the stack's scratch bucket (under `_dr-restore-tests/`; never into the replica bucket, whose
 *   Object Lock would keep the copies), verified against the ledger's
 *   SHA-256 exactly as restore-data does, timed, and removed again. Its throughput, scaled to the
 *   asset's current size, is the measured RTO (restore-test.ts);
 * - a rolling scrub, like `restic check --read-data-subset`: each run reads its share of every
 *   replica object version and re-hashes it against the ledger, so that the whole replica is read at
 *   least once per `restoreTest.scrubCycleDays`. The scrub state (cycle, position, coverage) is kept
 *   in the ledger table.
 */
export const SCRATCH_PREFIX = '_dr-restore-tests/';

export interface ScrubState {
  asset: string;
  cycle: number;
  cycleStartedAt: string;
  /** Counted from the replica listing when the cycle started. */
  totalVersions: number;
  /** Bytes of the keys' current versions: what a restore of the whole asset copies. */
  currentBytes: number;
  afterKey?: string;
  versionsRead: number;
  mismatches: number;
  problems: { key: string; versionId: string; problem: string }[];
  lastCycle?: { cycle: number; startedAt: string; finishedAt: string; versionsRead: number; totalVersions: number; mismatches: number };
  lastCycleProblems?: ScrubState['problems'];
}

export interface ScrubStore {
  get(asset: string): Promise<ScrubState | undefined>;
  save(state: ScrubState): Promise<void>;
}

/** reserveMs: the scrub stops reading when fewer milliseconds than this remain. Default 60 s. */
export interface VerifyDataDeps extends InvocationTime {
  ledger: ReplicationLedger;
  /** The replica region's store (reads the replica, writes the scratch copies). */
  replica: VersionedStore;
  /** The bucket the sample is restored into, in the replica's region: the stack's restore-test scratch bucket. */
  scratchBucket: string;
  scrub: ScrubStore;
  /** Removes every version under a prefix of the scratch bucket (the scratch copies). */
  destroy: (bucket: string, prefix: string) => Promise<number>;
  multipart: MultipartPolicy;
}

async function startCycle(deps: VerifyDataDeps, asset: ObjectAsset, previous: ScrubState | undefined): Promise<ScrubState> {
  let totalVersions = 0;
  let currentBytes = 0;
  for await (const history of deps.replica.keysUnder(asset.replica.bucket, replicaKeyFor(asset, asset.source.prefix))) {
    totalVersions += history.versions.filter((v) => v.kind === 'object').length;
    const latest = history.versions.find((v) => v.isLatest);
    if (latest?.kind === 'object') currentBytes += latest.size;
  }
  return {
    asset: asset.name,
    cycle: (previous?.cycle ?? 0) + 1,
    cycleStartedAt: deps.now().toISOString(),
    totalVersions,
    currentBytes,
    versionsRead: 0,
    mismatches: 0,
    problems: [],
    ...(previous?.lastCycle && { lastCycle: previous.lastCycle, lastCycleProblems: previous.problems }),
  };
}

/** Hashes one replica version the way the ledger recorded it (whole, or part by part). */
async function check(
  deps: VerifyDataDeps,
  ref: { bucket: string; key: string; versionId: string },
  entry: LedgerEntry | undefined,
): Promise<string | undefined> {
  if (!entry) return 'no ledger entry for this replica version';
  if (entry.sha256) {
    const actual = await deps.replica.sha256(ref);
    return actual === entry.sha256 ? undefined : `SHA-256 ${actual}, the ledger says ${entry.sha256}`;
  }
  if (entry.sha256Composite && entry.partSizeBytes) {
    const digests = [];
    for (const part of planParts(entry.size, entry.partSizeBytes)) digests.push(await deps.replica.sha256Range(ref, part.start, part.end));
    const actual = compositeSha256(digests);
    return actual === entry.sha256Composite ? undefined : `composite SHA-256 ${actual}, the ledger says ${entry.sha256Composite}`;
  }
  return 'the ledger holds no checksum for this version';
}

/** Tops the sample up with current versions from the start of the asset (a run's scrub slice may be small). */
async function sampleFromStart(deps: VerifyDataDeps, asset: ObjectAsset, startedAt: Date, taken: KeyDecision[]): Promise<KeyDecision[]> {
  const sample: KeyDecision[] = [];
  const have = new Set(taken.map((d) => d.key));
  for await (const history of deps.replica.keysUnder(asset.replica.bucket, replicaKeyFor(asset, asset.source.prefix))) {
    if (taken.length + sample.length >= asset.restoreTest.sampleObjects) break;
    const latest = history.versions.find((v) => v.isLatest && v.kind === 'object');
    const key = sourceKeyFor(asset, history.key);
    if (!latest || have.has(key)) continue;
    const entry = (await deps.ledger.entriesFor(asset.name, key)).find((e) => e.replicaVersionId === latest.versionId);
    if (entry) sample.push(scratchDecision(asset, startedAt, key, entry));
  }
  return sample;
}

const scratchDecision = (asset: ObjectAsset, startedAt: Date, key: string, entry: LedgerEntry): KeyDecision => ({
  key,
  targetKey: `${SCRATCH_PREFIX}${asset.name}/${startedAt.getTime()}/${key}`,
  action: 'restore',
  reason: 'absent',
  version: entry,
  targetHasKey: false,
});

/** How many versions this run reads: enough to be where the cycle should be by now, plus one run's worth. */
function scrubQuota(asset: ObjectAsset, state: ScrubState, now: Date): number {
  const cycleMs = asset.restoreTest.scrubCycleDays * 86_400_000;
  const runs = Math.max(1, cycleMs / (scheduleIntervalSeconds(asset.restoreTest.schedule) * 1000));
  const elapsed = Math.min(1, (now.getTime() - Date.parse(state.cycleStartedAt)) / cycleMs);
  // At least one: an asset counted empty when the cycle started still gets read (and recounted).
  return Math.max(1, Math.ceil(state.totalVersions / runs), Math.ceil(state.totalVersions * elapsed) - state.versionsRead);
}

interface ScrubRun {
  /** Current versions read clean on the way: the start of the sample restore. */
  sample: KeyDecision[];
  read: number;
  mismatches: number;
  problems: ScrubState['problems'];
  /** The walk reached the end of the replica: the cycle is complete. */
  reachedEnd: boolean;
}

/** Reads this run's share of the replica from where the cycle stands, re-hashing every version; advances `state`. */
async function scrub(deps: VerifyDataDeps, asset: ObjectAsset, state: ScrubState, startedAt: Date): Promise<ScrubRun> {
  const quota = scrubQuota(asset, state, startedAt);
  const reserveMs = deps.reserveMs ?? 60_000;
  const run: ScrubRun = { sample: [], read: 0, mismatches: 0, problems: [], reachedEnd: true };
  const walk: AsyncIterable<KeyHistory> = deps.replica.keysUnder(
    asset.replica.bucket,
    replicaKeyFor(asset, asset.source.prefix),
    state.afterKey,
  );
  for await (const history of walk) {
    if (run.read >= quota || deps.remainingMs() < reserveMs) {
      run.reachedEnd = false;
      break;
    }
    const key = sourceKeyFor(asset, history.key);
    const entries = await deps.ledger.entriesFor(asset.name, key);
    const byReplicaVersion = new Map(entries.filter((e) => e.replicaVersionId).map((e) => [e.replicaVersionId!, e]));
    for (const version of history.versions.filter((v) => v.kind === 'object')) {
      const entry = byReplicaVersion.get(version.versionId);
      let problem: string | undefined;
      try {
        problem = await check(deps, { bucket: asset.replica.bucket, key: history.key, versionId: version.versionId }, entry);
      } catch (error) {
        problem = `unreadable: ${describeError(error)}`;
      }
      run.read++;
      state.versionsRead++;
      if (problem) {
        run.mismatches++;
        state.mismatches++;
        run.problems.push({ key: history.key, versionId: version.versionId, problem });
        if (state.problems.length < 20) state.problems.push({ key: history.key, versionId: version.versionId, problem });
      } else if (version.isLatest && entry && run.sample.length < asset.restoreTest.sampleObjects) {
        run.sample.push(scratchDecision(asset, startedAt, key, entry));
      }
    }
    state.afterKey = history.key;
  }
  if (run.reachedEnd) {
    state.lastCycle = {
      cycle: state.cycle,
      startedAt: state.cycleStartedAt,
      finishedAt: deps.now().toISOString(),
      versionsRead: state.versionsRead,
      totalVersions: state.totalVersions,
      mismatches: state.mismatches,
    };
    state.afterKey = undefined; // the next run starts a new cycle
  }
  return run;
}

/** One object of a restore test's sample: the key's decision (its version, where in the scratch bucket) and its asset. */
export interface SampleObject {
  asset: ObjectAsset;
  decision: Pick<KeyDecision, 'key' | 'targetKey' | 'version'>;
}

/**
 * Restores a restore test's sample into the scratch bucket, verified as restore-data verifies,
 * timed: eight at a time, as a restore runs keys in parallel (a sequential sample would overstate
 * the RTO). A sample copy never pauses (samples are small, and their scratch copies are removed
 * at once), so no multipart progress is left behind. The caller removes the scratch copies.
 */
export async function restoreSample(
  deps: Pick<VerifyDataDeps, 'ledger' | 'now' | 'multipart' | 'scratchBucket'> & {
    /** Where each sample object's replica is read. */
    replicaOf: (asset: ObjectAsset) => VersionedStore;
    /** The scratch bucket's store. */
    scratch: VersionedStore;
  },
  token: string,
  sample: SampleObject[],
): Promise<{ restoreMs: number; restoredBytes: number; failures: string[] }> {
  const started = performance.now();
  let restoredBytes = 0;
  const failures: string[] = [];
  for (let i = 0; i < sample.length; i += 8) {
    await Promise.all(
      sample.slice(i, i + 8).map(async ({ asset, decision }) => {
        try {
          await restoreVersion(
            { ...deps, replica: deps.replicaOf(asset), target: deps.scratch, remainingMs: () => Infinity },
            asset,
            deps.scratchBucket,
            token,
            decision,
          );
          restoredBytes += decision.version!.size;
        } catch (error) {
          failures.push(`${decision.key}: ${describeError(error)}`);
        }
      }),
    );
  }
  return { restoreMs: performance.now() - started, restoredBytes, failures };
}

/** The asset's sample restored into its scratch prefix; the scratch copies are removed whatever happens. */
async function sampleRestore(deps: VerifyDataDeps, asset: ObjectAsset, startedAt: Date, sample: KeyDecision[]) {
  try {
    return await restoreSample(
      { ...deps, replicaOf: () => deps.replica, scratch: deps.replica },
      `verify-${startedAt.getTime()}`,
      sample.map((decision) => ({ asset, decision })),
    );
  } finally {
    await deps.destroy(deps.scratchBucket, `${SCRATCH_PREFIX}${asset.name}/${startedAt.getTime()}/`);
  }
}

export async function verifyDataRestore(deps: VerifyDataDeps, asset: ObjectAsset): Promise<RestoreTestResult> {
  const startedAt = deps.now();
  let state = await deps.scrub.get(asset.name);
  if (!state || (state.afterKey === undefined && state.lastCycle?.cycle === state.cycle)) state = await startCycle(deps, asset, state);
  // Problems of the last completed cycle count until the current cycle completes clean.
  const previousBad =
    state.lastCycle && state.lastCycle.cycle !== state.cycle && state.lastCycle.mismatches > 0
      ? { count: state.lastCycle.mismatches, cycle: state.lastCycle.cycle }
      : undefined;
  const previousProblems = previousBad ? (state.lastCycleProblems ?? []) : [];

  const run = await scrub(deps, asset, state, startedAt);
  await deps.scrub.save(state);
  const sample = run.sample;
  if (sample.length < asset.restoreTest.sampleObjects) sample.push(...(await sampleFromStart(deps, asset, startedAt, sample)));
  const { restoreMs, restoredBytes, failures } = await sampleRestore(deps, asset, startedAt, sample);

  const coverage = state.totalVersions === 0 ? 1 : Math.min(1, state.versionsRead / state.totalVersions);
  // A bad replica version keeps the test failing until a whole scrub cycle has read the replica
  // clean (it is read again only in the next cycle): one incident, not a page and a false recovery.
  const firstProblem = run.problems[0] ?? state.problems[0] ?? previousProblems[0];
  const bad = state.mismatches > 0 ? { count: state.mismatches, cycle: state.cycle } : run.reachedEnd ? undefined : previousBad;
  const reason =
    failures.length > 0
      ? `sample restore failed: ${failures[0]}`
      : bad
        ? `scrub found ${bad.count} bad replica versions in cycle ${bad.cycle}; first ${firstProblem?.key} (${firstProblem?.versionId}): ${firstProblem?.problem}`
        : undefined;
  return {
    asset: asset.name,
    kind: 'data',
    ok: reason === undefined,
    ...(reason && { reason }),
    startedAt: startedAt.toISOString(),
    finishedAt: deps.now().toISOString(),
    restoreMs,
    restored: restoredBytes,
    assetTotal: state.currentBytes,
    rtoSeconds: sample.length === 0 && state.currentBytes > 0 ? null : measuredRto(restoreMs, restoredBytes, state.currentBytes),
    checks: {
      sample: { objects: sample.length, bytes: restoredBytes, verified: sample.length - failures.length },
      scrub: {
        cycle: state.cycle,
        cycleStartedAt: state.cycleStartedAt,
        versionsReadThisRun: run.read,
        coverage: Math.round(coverage * 10_000) / 10_000,
        versionsRead: state.versionsRead,
        totalVersions: state.totalVersions,
        mismatchesThisRun: run.mismatches,
        ...(state.lastCycle && { lastCompletedCycle: state.lastCycle }),
      },
    },
  };
}
