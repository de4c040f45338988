import { transactIf, writeIf } from '../shared/conditional-write.js';
import { partitionItems, queryAll } from '../shared/dynamo-query.js';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SnapshotCatalogStore, SnapshotEntry, SnapshotPartition, SnapshotProgress } from './snapshot-catalog.js';

/**
 * The snapshot catalog in the ledger table: pk "SNAPSHOT#<asset>", sk the snapshot id (time-sortable).
 * The parts of a partitioned snapshot are items of their own (pk "SNAPSHOT-PART#<asset>#<id>", sk the
 * part), so that parts checkpointing at once write small items, and listing the catalog reads none
 * of them; they expire 30 days after the snapshot started.
 */
const pk = (asset: string) => `SNAPSHOT#${asset}`;
const partsPk = (asset: string, snapshotId: string) => `SNAPSHOT-PART#${asset}#${snapshotId}`;
const PART_TTL_SECONDS = 30 * 86_400;
/** The ledger table's TTL attribute (infra/ledger-table.ts LEDGER_TTL_ATTRIBUTE). */
const LEDGER_TTL_ATTRIBUTE = 'expireAfter';

export class DynamoSnapshotCatalog implements SnapshotCatalogStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async begin(entry: SnapshotEntry): Promise<boolean> {
    const { partitions, ...item } = entry;
    const put = { pk: pk(entry.asset), sk: entry.snapshotId, ...item };
    if (!partitions) {
      return writeIf(() =>
        this.db.send(new PutCommand({ TableName: this.table, Item: put, ConditionExpression: 'attribute_not_exists(pk)' })),
      );
    }
    // The entry and its parts at once (at most 64 parts: within a transaction's 100 items).
    const expireAfter = Math.floor(Date.parse(entry.startedAt) / 1000) + PART_TTL_SECONDS;
    return transactIf(() =>
      this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.table,
                Item: { ...put, partCount: Object.keys(partitions).length },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            ...Object.entries(partitions).map(([part, state]) => ({
              Put: {
                TableName: this.table,
                Item: { pk: partsPk(entry.asset, entry.snapshotId), sk: part, ...state, [LEDGER_TTL_ATTRIBUTE]: expireAfter },
              },
            })),
          ],
        }),
      ),
    );
  }

  async saveProgress(
    asset: string,
    snapshotId: string,
    progress: SnapshotProgress,
    expectedNextChunk: number,
    part?: string,
  ): Promise<boolean> {
    if (part === undefined) {
      return writeIf(() =>
        this.db.send(
          new UpdateCommand({
            TableName: this.table,
            Key: { pk: pk(asset), sk: snapshotId },
            UpdateExpression: 'SET progress = :progress, #count = :count, bytes = :bytes, chunks = :chunks',
            ConditionExpression: '#state = :inProgress AND progress.nextChunk = :expected',
            ExpressionAttributeNames: { '#state': 'state', '#count': 'count' },
            ExpressionAttributeValues: {
              ':progress': progress,
              ':count': progress.count,
              ':bytes': progress.bytes,
              ':chunks': progress.nextChunk,
              ':inProgress': 'in-progress',
              ':expected': expectedNextChunk,
            },
          }),
        ),
      );
    }
    // A part's checkpoint, only while the snapshot is in progress (a failed part stops the others).
    return transactIf(() =>
      this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              ConditionCheck: {
                TableName: this.table,
                Key: { pk: pk(asset), sk: snapshotId },
                ConditionExpression: '#state = :inProgress',
                ExpressionAttributeNames: { '#state': 'state' },
                ExpressionAttributeValues: { ':inProgress': 'in-progress' },
              },
            },
            {
              Update: {
                TableName: this.table,
                Key: { pk: partsPk(asset, snapshotId), sk: part },
                UpdateExpression: 'SET progress = :progress',
                ConditionExpression: 'progress.nextChunk = :expected',
                ExpressionAttributeValues: { ':progress': progress, ':expected': expectedNextChunk },
              },
            },
          ],
        }),
      ),
    );
  }

  async updatePart(
    asset: string,
    snapshotId: string,
    part: string,
    patch: Pick<SnapshotPartition, 'verify' | 'verified' | 'attempts' | 'lastError'>,
  ): Promise<void> {
    await this.set({ pk: partsPk(asset, snapshotId), sk: part }, patch);
  }

  markCorrupt(asset: string, snapshotId: string, reason: string): Promise<boolean> {
    return writeIf(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: pk(asset), sk: snapshotId },
          UpdateExpression: 'SET #state = :corrupt, #reason = :reason',
          ConditionExpression: '#state = :verified',
          ExpressionAttributeNames: { '#state': 'state', '#reason': 'reason' },
          ExpressionAttributeValues: { ':corrupt': 'corrupt', ':verified': 'verified', ':reason': reason },
        }),
      ),
    );
  }

  async update(asset: string, snapshotId: string, patch: Partial<Omit<SnapshotEntry, 'asset' | 'snapshotId'>>): Promise<void> {
    await this.set({ pk: pk(asset), sk: snapshotId }, patch);
  }

  private async set(key: { pk: string; sk: string }, patch: object): Promise<void> {
    const fields = Object.entries(patch).filter(([, value]) => value !== undefined);
    if (fields.length === 0) return;
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: key,
        UpdateExpression: `SET ${fields.map((_, i) => `#f${i} = :v${i}`).join(', ')}`,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: Object.fromEntries(fields.map(([name], i) => [`#f${i}`, name])),
        ExpressionAttributeValues: Object.fromEntries(fields.map(([, value], i) => [`:v${i}`, value])),
      }),
    );
  }

  /** The snapshot's lease, or one part's (on the part's item). */
  private leaseKey(asset: string, snapshotId: string, part?: string) {
    return part === undefined ? { pk: pk(asset), sk: snapshotId } : { pk: partsPk(asset, snapshotId), sk: part };
  }

  async lease(asset: string, snapshotId: string, owner: string, until: Date, now: Date, part?: string): Promise<boolean> {
    return writeIf(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.leaseKey(asset, snapshotId, part),
          UpdateExpression: 'SET lease = :lease',
          ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(lease) OR lease.#until < :now OR lease.#owner = :owner)',
          ExpressionAttributeNames: { '#until': 'until', '#owner': 'owner' },
          ExpressionAttributeValues: { ':lease': { owner, until: until.toISOString() }, ':now': now.toISOString(), ':owner': owner },
        }),
      ),
    );
  }

  async release(asset: string, snapshotId: string, owner: string, part?: string): Promise<void> {
    await writeIf(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.leaseKey(asset, snapshotId, part),
          UpdateExpression: 'REMOVE lease',
          ConditionExpression: 'lease.#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      ),
    );
  }

  /** The entry, with its parts (read consistently) when it is partitioned. */
  async get(asset: string, snapshotId: string): Promise<SnapshotEntry | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { pk: pk(asset), sk: snapshotId }, ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const { pk: _pk, sk: _sk, ...entry } = Item as SnapshotEntry & { pk: string; sk: string };
    if (!entry.partCount) return entry;
    const parts = await queryAll(this.db, {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': partsPk(asset, snapshotId) },
      ConsistentRead: true,
    });
    const partitions = Object.fromEntries(
      parts.map(({ pk: _p, sk, [LEDGER_TTL_ATTRIBUTE]: _ttl, ...state }: Record<string, unknown>) => [
        sk as string,
        state as unknown as SnapshotPartition,
      ]),
    );
    return { ...entry, partitions };
  }

  /** Every entry of the asset, newest first (a partitioned one without its parts, which get reads). */
  list(asset: string): Promise<SnapshotEntry[]> {
    return partitionItems<SnapshotEntry>(this.db, this.table, pk(asset));
  }
}
