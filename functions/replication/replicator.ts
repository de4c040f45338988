import { assetForKey } from '../policy/assets.js';
import type { ObjectAsset, Policy } from '../policy/schema.js';
import { compareKeys } from '../shared/s3-keys.js';
import type { VersionEntry } from '../storage/versioned-store.js';
import type { ReplicationLedger } from '../ledger/ledger.js';
import { GroupCommit } from './group-commit.js';
import { type ChangeHint, type CreatedVersion, parseNotification } from './notification.js';
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
    // The batch's writes into each replica share one versioning check, and its replicated entries
    // are written together (one group per ledger).
    const scoped = new Map<string, ReplicationDeps>();
    const groups = new Map<ReplicationLedger, GroupCommit>();
    const depsFor = (asset: ObjectAsset) => {
      let deps = scoped.get(asset.name);
      if (!deps) {
        const base = this.depsFor(asset);
        let group = groups.get(base.ledger);
        if (!group) {
          group = new GroupCommit((records) => base.ledger.markReplicated(records));
          groups.set(base.ledger, group);
        }
        deps = { ...base, replica: base.replica.forOneBatch?.() ?? base.replica, group };
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
 * batch, messages about the same version of a key share one sync, and syncs of one key run one
 * after the other (the second finds what the first replicated: one claim request each), so a burst
 * of events for a key never races with itself.
 */
export class ReplicationBatch {
  /** The latest sync of each key (and of each key and version) started in this batch. */
  private readonly syncs = new Map<string, Promise<KeyOutcome>>();
  /** Source histories listed for this batch's keys (prefetch, in flight while the first claims are made). */
  private readonly prelisted = new Map<string, Promise<VersionEntry[] | undefined>>();
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
   * fails on its own when it is processed. The listing is in flight while the batch's first claims
   * are made (the handler does not wait for it), and each key's sync waits for it when it needs it;
   * the promise returned settles when it is done, and never rejects.
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
    if (keys.length < 2) return; // one key: its own listing costs the same, and only if its claim is taken
    const maxEntries = Math.min(1000, keys.length * PREFETCH_ENTRIES_PER_KEY);
    const listing = this.depsFor(asset)
      .source.historiesInRange(asset.source.bucket, keys[0]!, keys.at(-1)!, maxEntries)
      .catch(() => undefined); // best effort: each key is listed on its own
    for (const key of keys) {
      this.prelisted.set(
        idOf(asset, key),
        listing.then((range) =>
          range?.through !== undefined && compareKeys(key, range.through) <= 0 ? (range.histories.get(key) ?? []) : undefined,
        ),
      );
    }
    await listing;
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
      outcome.keys.push(await this.once(asset, key, hint.version));
    }
    return outcome;
  }

  private once(asset: ObjectAsset, key: string, version: CreatedVersion | undefined): Promise<KeyOutcome> {
    const id = idOf(asset, key);
    const same = `${id}\u0000${version?.versionId ?? ''}`;
    const running = this.syncs.get(same);
    if (running) return running;
    const before = this.syncs.get(id);
    const deps = { ...this.depsFor(asset), remainingMs: this.remainingMs };
    const sync = () => replicateKey(deps, asset, key, { ...(version && { version }), prelisted: this.prelisted.get(id) });
    const after = (before ?? Promise.resolve()).catch(() => undefined).then(() => (deps.group ? deps.group.run(sync) : sync()));
    this.syncs.set(id, after);
    this.syncs.set(same, after);
    return after;
  }
}
