import { assetForKey } from '../policy/assets.js';
import type { ObjectAsset, Policy } from '../policy/schema.js';
import { type ChangeHint, parseNotification } from './notification.js';
import { type KeyOutcome, type ReplicationDeps, replicateKey } from './replicate-key.js';

export interface MessageOutcome {
  keys: KeyOutcome[];
  /** Keys the message named that belong to no asset of the policy (left alone). */
  unmanaged: { bucket: string; key: string }[];
}

/**
 * Turns one queue message into key replications. Within a batch, messages about the same key share
 * one replication (the second waits for the first), so a burst of events for a key costs one sync.
 */
export class Replicator {
  private inflight = new Map<string, Promise<KeyOutcome>>();
  private shouldYield: () => boolean = () => false;

  constructor(
    private readonly policy: Policy,
    private readonly depsFor: (asset: ObjectAsset) => ReplicationDeps,
  ) {}

  /**
   * Forget the previous batch's syncs (a new batch must read the source again). `shouldYield`
   * tells long copies when the invocation is about to run out of time.
   */
  startBatch(shouldYield: () => boolean = () => false): void {
    this.inflight = new Map();
    this.shouldYield = shouldYield;
  }

  async replicateMessage(body: string): Promise<MessageOutcome> {
    const outcome: MessageOutcome = { keys: [], unmanaged: [] };
    for (const hint of parseNotification(body)) {
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
    const id = `${asset.name}\u0000${key}`;
    let running = this.inflight.get(id);
    if (!running) {
      running = replicateKey({ ...this.depsFor(asset), shouldYield: this.shouldYield }, asset, key);
      this.inflight.set(id, running);
    }
    return running;
  }
}
