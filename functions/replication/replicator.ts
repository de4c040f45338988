import { assetForKey } from '../policy/assets.js';
import type { ObjectAsset, Policy } from '../policy/schema.js';
import { compareKeys } from '../shared/s3-keys.js';
import type { VersionEntry } from '../storage/versioned-store.js';
import { type ChangeHint, parseNotification } from './notification.js';
import { type KeyOutcome, type ReplicationDeps, replicateKey } from './replicate-key.js';

const idOf = (asset: ObjectAsset, key: string) => `${asset.name}\u0000${key}`;

export interface MessageOutcome {
  keys: KeyOutcome[];
  /** Keys the message named that belong to no asset of the policy (left alone). */
  unmanaged: { bucket: string; key: string }[];
}

/** Versions a batch's prefetch listing reads per key at most (a page of up to 1,000). */
const PREFETCH_ENTRIES_PER_KEY = 5;

/**
 * The replicate function's engine: one ReplicationBatch per invocation's batch of messages.
 */
export class Replicator {
  constructor(
    private readonly policy: Policy,
    private readonly depsFor: (asset: ObjectAsset) => ReplicationDeps,
  ) {}

  /**
   * A new batch: it reads the source afresh (nothing is shared with the previous batch).
   * `remainingMs` is the invocation's time left, which long copies watch.
   */
  batch(remainingMs: () => number = () => Infinity): ReplicationBatch {
    // The batch's writes into each replica share one versioning check.
    const scoped = new Map<string, ReplicationDeps>();
    const depsFor = (asset: ObjectAsset) => {
      let deps = scoped.get(asset.name);
      if (!deps) {
        const base = this.depsFor(asset);
        deps = { ...base, replica: base.replica.forOneBatch?.() ?? base.replica };
        scoped.set(asset.name, deps);
      }
      return deps;
    };
    return new ReplicationBatch(this.policy, depsFor, remainingMs);
  }
}

type Parsed = { hints: ChangeHint[] } | { error: unknown };

/**
 * One batch of queue messages turned into key replications. Each message is parsed once. Within the
 * batch, messages about the same key share one replication (the second waits for the first), so a
 * burst of events for a key costs one sync.
 */
export class ReplicationBatch {
  private readonly inflight = new Map<string, Promise<KeyOutcome>>();
  /** Source histories listed for this batch's keys (prefetch), each used by the key's first sync. */
  private readonly prelisted = new Map<string, VersionEntry[]>();
  private readonly parsed = new Map<string, Parsed>();

  constructor(
    private readonly policy: Policy,
    private readonly depsFor: (asset: ObjectAsset) => ReplicationDeps,
    private readonly remainingMs: () => number,
  ) {}

  /** The change hints of a message body, parsed once per batch; a malformed body throws each time it is asked for. */
  private hintsOf(body: string): ChangeHint[] {
    let parsed = this.parsed.get(body);
    if (!parsed) {
      try {
        parsed = { hints: parseNotification(body) };
      } catch (error: unknown) {
        parsed = { error };
      }
      this.parsed.set(body, parsed);
    }
    if ('error' in parsed) throw parsed.error;
    return parsed.hints;
  }

  /**
   * Lists the source histories of a batch's keys before they are synced: the keys of an asset are
   * read in one listing of the range they span (one request instead of one per key, when they sort
   * near each other, as a bulk upload's or a reconcile message's do). Best effort: a key it does not
   * reach, and every key when it fails, is listed on its own as before; a record it cannot parse
   * fails on its own when it is processed.
   */
  async prefetch(bodies: string[]): Promise<void> {
    const keysOf = new Map<ObjectAsset, Set<string>>();
    for (const body of bodies) {
      let hints: ChangeHint[];
      try {
        hints = this.hintsOf(body);
      } catch {
        continue;
      }
      for (const hint of hints) {
        for (const key of hint.keys) {
          const asset = assetForKey(this.policy, hint.bucket, key);
          if (asset) keysOf.set(asset, (keysOf.get(asset) ?? new Set()).add(key));
        }
      }
    }
    await Promise.all([...keysOf].map(([asset, keys]) => this.prefetchAsset(asset, [...keys].sort(compareKeys))));
  }

  private async prefetchAsset(asset: ObjectAsset, keys: string[]): Promise<void> {
    if (keys.length < 2) return; // one key: its own listing costs the same
    try {
      const maxEntries = Math.min(1000, keys.length * PREFETCH_ENTRIES_PER_KEY);
      const { histories, through } = await this.depsFor(asset).source.historiesInRange(
        asset.source.bucket,
        keys[0]!,
        keys.at(-1)!,
        maxEntries,
      );
      if (through === undefined) return;
      for (const key of keys) {
        if (compareKeys(key, through) <= 0) this.prelisted.set(idOf(asset, key), histories.get(key) ?? []);
      }
    } catch {
      // Best effort: each key is listed on its own.
    }
  }

  async replicateMessage(body: string): Promise<MessageOutcome> {
    const outcome: MessageOutcome = { keys: [], unmanaged: [] };
    for (const hint of this.hintsOf(body)) {
      const { keys, unmanaged } = await this.replicateHint(hint);
      outcome.keys.push(...keys);
      outcome.unmanaged.push(...unmanaged);
    }
    return outcome;
  }

  /** Syncs every candidate key of a hint that belongs to an asset of the policy. */
  async replicateHint(hint: ChangeHint): Promise<MessageOutcome> {
    const outcome: MessageOutcome = { keys: [], unmanaged: [] };
    for (const key of hint.keys) {
      const asset = assetForKey(this.policy, hint.bucket, key);
      if (!asset) {
        outcome.unmanaged.push({ bucket: hint.bucket, key });
        continue;
      }
      outcome.keys.push(await this.once(asset, key));
    }
    return outcome;
  }

  private once(asset: ObjectAsset, key: string): Promise<KeyOutcome> {
    const id = idOf(asset, key);
    let running = this.inflight.get(id);
    if (!running) {
      running = replicateKey({ ...this.depsFor(asset), remainingMs: this.remainingMs }, asset, key, this.prelisted.get(id));
      this.inflight.set(id, running);
    }
    return running;
  }
}
