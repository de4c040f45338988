import type { ReplicatedRecord } from '../ledger/ledger.js';

/** BatchWriteItem's limit: a full group is written without waiting for the others. */
const GROUP_LIMIT = 25;

interface Waiting {
  record: ReplicatedRecord;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * The replicated entries of one batch, written together: each sync hands its record over and waits
 * until it is durable; the group is written when every sync still running is waiting on it (or
 * when 25 are waiting), so a batch of ten keys costs one write instead of ten. The trigger counts
 * syncs, not time: how many requests a batch costs does not depend on how fast its copies were.
 * Only syncs that have begun count (one chained behind another sync of its key has not).
 * A sync that copies a key's next version waits for its previous record first, so a crash leaves
 * at most one copy per key without its ledger entry (adopted by the next attempt).
 */
export class GroupCommit {
  private waiting: Waiting[] = [];
  private running = 0;

  constructor(private readonly write: (records: ReplicatedRecord[]) => Promise<void>) {}

  /** Runs one sync; while it runs, the group waits for it to finish or to hand its record over. */
  async run<T>(sync: () => Promise<T>): Promise<T> {
    this.running++;
    try {
      return await sync();
    } finally {
      this.running--;
      this.flushIfIdle();
    }
  }

  /** Resolves once the record is written; rejects if the write of its group failed. */
  record(record: ReplicatedRecord): Promise<void> {
    const written = new Promise<void>((resolve, reject) => this.waiting.push({ record, resolve, reject }));
    this.running--;
    this.flushIfIdle();
    return written.finally(() => this.running++);
  }

  private flushIfIdle(): void {
    if (this.waiting.length === 0 || (this.running > 0 && this.waiting.length < GROUP_LIMIT)) return;
    const group = this.waiting;
    this.waiting = [];
    this.write(group.map((w) => w.record)).then(
      () => group.forEach((w) => w.resolve()),
      (error: unknown) => group.forEach((w) => w.reject(error)),
    );
  }
}
