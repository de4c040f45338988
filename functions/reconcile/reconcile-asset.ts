import { ledgerVersionId, type ReplicationLedger } from '../ledger/ledger.js';
import { replicaKeyFor } from '../policy/assets.js';
import { compareKeys } from '../shared/s3-keys.js';
import type { ObjectAsset } from '../policy/schema.js';
import type { KeyHistory, VersionedStore } from '../storage/versioned-store.js';
import type { InvocationTime } from '../shared/invocation-time.js';

/**
 * Reconciliation: walks an asset's source and replica listings side by side (versions on both
 * sides, paged) and queues every key whose replica is behind, for the replicate function to sync.
 * It catches lost events, objects that existed before the stack was deployed, and earlier
 * failures. A prefix of millions of keys is walked over many invocations: the walk stops when its
 * time is up and saves a checkpoint (the last key whose fate is decided and queued).
 */

export type GapCause = 'missing-key' | 'missing-versions' | 'stale-latest';

export interface ReconcileCounts {
  keysScanned: number;
  sourceVersions: number;
  keysQueued: number;
  byCause: Record<GapCause, number>;
  /** Keys present only in the replica (kept: nothing in the replica is destroyed). */
  replicaOnlyKeys: number;
}

export interface ReconcileCheckpoint {
  asset: string;
  runId: string;
  startedAt: string;
  /** The last source key fully handled; the next invocation starts after it. */
  afterKey?: string;
  invocations: number;
  counts: ReconcileCounts;
}

export interface ReconcileRunRecord extends Omit<ReconcileCheckpoint, 'afterKey'> {
  finishedAt: string;
}

export interface ReconcileStore {
  checkpoint(asset: string): Promise<ReconcileCheckpoint | undefined>;
  saveCheckpoint(checkpoint: ReconcileCheckpoint): Promise<void>;
  /** Records a finished run and removes the checkpoint, so the next invocation starts a new run. */
  finishRun(run: ReconcileRunRecord): Promise<void>;
}

export interface HintQueue {
  /** Queues keys of a bucket for replication (each is synced whole: all its versions). */
  send(bucket: string, keys: string[]): Promise<void>;
}

/** The time left is checked after each key; with less than reserveMs (default 60 s) the walk stops, queues what it found and saves its checkpoint. */
export interface ReconcileDeps extends InvocationTime {
  /** Gaps are recorded as pending entries, so the live RPO counts them before they are copied. */
  ledger: Pick<ReplicationLedger, 'markPending'>;
  source: VersionedStore;
  replica: VersionedStore;
  store: ReconcileStore;
  queue: HintQueue;
  /** Stop after this many keys (the walk continues in the next invocation). */
  maxKeys?: number;
  /** Keys per queue message. */
  keysPerMessage?: number;
}

export interface ReconcileResult {
  finished: boolean;
  checkpoint: ReconcileCheckpoint;
  /** Source keys this invocation read. */
  keysRead: number;
}

const emptyCounts = (): ReconcileCounts => ({
  keysScanned: 0,
  sourceVersions: 0,
  keysQueued: 0,
  byCause: { 'missing-key': 0, 'missing-versions': 0, 'stale-latest': 0 },
  replicaOnlyKeys: 0,
});

/**
 * Why a key's replica is behind its source, if it is. The replica may hold more than the source
 * (versions the source has since deleted for good, a current state written again), never less:
 * the source's history, as (kind, size) in order, must be a subsequence of the replica's.
 */
export function gapOf(source: KeyHistory, replica: KeyHistory | undefined): GapCause | undefined {
  if (!replica || replica.versions.length === 0) return 'missing-key';
  let matched = 0;
  for (const r of replica.versions) {
    const s = source.versions[matched];
    if (s && s.kind === r.kind && s.size === r.size) matched++;
  }
  if (matched < source.versions.length) return 'missing-versions';
  const [s, r] = [source.versions.at(-1)!, replica.versions.at(-1)!];
  if (s.kind !== r.kind || r.lastModified < s.lastModified) return 'stale-latest';
  return undefined;
}

export async function reconcileAsset(deps: ReconcileDeps, asset: ObjectAsset): Promise<ReconcileResult> {
  const now = deps.now().toISOString();
  const checkpoint: ReconcileCheckpoint = (await deps.store.checkpoint(asset.name)) ?? {
    asset: asset.name,
    runId: now,
    startedAt: now,
    invocations: 0,
    counts: emptyCounts(),
  };
  checkpoint.invocations++;
  const replicaPrefix = replicaKeyFor(asset, asset.source.prefix);
  const suffix = (key: string, prefix: string) => key.slice(prefix.length);
  const replicaStart = checkpoint.afterKey && replicaKeyFor(asset, checkpoint.afterKey);
  const source = deps.source.keysUnder(asset.source.bucket, asset.source.prefix, checkpoint.afterKey)[Symbol.asyncIterator]();
  const replica = deps.replica.keysUnder(asset.replica.bucket, replicaPrefix, replicaStart)[Symbol.asyncIterator]();

  const batch: string[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    await deps.queue.send(asset.source.bucket, batch.splice(0));
  };
  let replicaNext = await replica.next();
  let stopped = false;
  let keysRead = 0;
  for (let next = await source.next(); !next.done; next = await source.next()) {
    const history = next.value;
    const key = suffix(history.key, asset.source.prefix);
    // Replica keys sort like source keys (the prefix is swapped, the rest is the same).
    while (!replicaNext.done && compareKeys(suffix(replicaNext.value.key, replicaPrefix), key) < 0) {
      checkpoint.counts.replicaOnlyKeys++;
      replicaNext = await replica.next();
    }
    const match = !replicaNext.done && suffix(replicaNext.value.key, replicaPrefix) === key ? replicaNext.value : undefined;
    const gap = gapOf(history, match);
    checkpoint.counts.keysScanned++;
    checkpoint.counts.sourceVersions += history.versions.length;
    if (gap) {
      await deps.ledger.markPending(
        history.versions.map((v) => ({
          asset: asset.name,
          key: history.key,
          sourceVersionId: ledgerVersionId(v.versionId, v.lastModified),
          entryType: v.kind,
          sourceLastModified: v.lastModified.toISOString(),
          size: v.size,
        })),
        deps.now(),
      );
      checkpoint.counts.byCause[gap]++;
      checkpoint.counts.keysQueued++;
      batch.push(history.key);
      if (batch.length >= (deps.keysPerMessage ?? 100)) await flush();
    }
    checkpoint.afterKey = history.key;
    if (++keysRead >= (deps.maxKeys ?? Infinity) || deps.remainingMs() < (deps.reserveMs ?? 60_000)) {
      stopped = true;
      break;
    }
  }
  // Queue first, then checkpoint: a key is never passed over without being queued.
  await flush();
  if (stopped) {
    await deps.store.saveCheckpoint(checkpoint);
    return { finished: false, checkpoint, keysRead };
  }
  const { afterKey: _done, ...run } = checkpoint;
  await deps.store.finishRun({ ...run, finishedAt: deps.now().toISOString() });
  return { finished: true, checkpoint, keysRead };
}
