import { writeIf } from '../shared/conditional-write.js';
import { partitionItems } from '../shared/dynamo-query.js';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SnapshotCatalogStore, SnapshotEntry, SnapshotProgress } from './snapshot-catalog.js';

/** The snapshot catalog in the ledger table: pk "SNAPSHOT#<asset>", sk the snapshot id (time-sortable). */
const pk = (asset: string) => `SNAPSHOT#${asset}`;

export class DynamoSnapshotCatalog implements SnapshotCatalogStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async begin(entry: SnapshotEntry): Promise<boolean> {
    return writeIf(() =>
      this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: pk(entry.asset), sk: entry.snapshotId, ...entry },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
  }

  async saveProgress(asset: string, snapshotId: string, progress: SnapshotProgress, expectedNextChunk: number): Promise<boolean> {
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

  async update(asset: string, snapshotId: string, patch: Partial<Omit<SnapshotEntry, 'asset' | 'snapshotId'>>): Promise<void> {
    const fields = Object.entries(patch).filter(([, value]) => value !== undefined);
    if (fields.length === 0) return;
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: pk(asset), sk: snapshotId },
        UpdateExpression: `SET ${fields.map((_, i) => `#f${i} = :v${i}`).join(', ')}`,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: Object.fromEntries(fields.map(([name], i) => [`#f${i}`, name])),
        ExpressionAttributeValues: Object.fromEntries(fields.map(([, value], i) => [`:v${i}`, value])),
      }),
    );
  }

  async lease(asset: string, snapshotId: string, owner: string, until: Date, now: Date): Promise<boolean> {
    return writeIf(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: pk(asset), sk: snapshotId },
          UpdateExpression: 'SET lease = :lease',
          ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(lease) OR lease.#until < :now OR lease.#owner = :owner)',
          ExpressionAttributeNames: { '#until': 'until', '#owner': 'owner' },
          ExpressionAttributeValues: { ':lease': { owner, until: until.toISOString() }, ':now': now.toISOString(), ':owner': owner },
        }),
      ),
    );
  }

  async release(asset: string, snapshotId: string, owner: string): Promise<void> {
    await writeIf(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: pk(asset), sk: snapshotId },
          UpdateExpression: 'REMOVE lease',
          ConditionExpression: 'lease.#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      ),
    );
  }

  async get(asset: string, snapshotId: string): Promise<SnapshotEntry | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { pk: pk(asset), sk: snapshotId }, ConsistentRead: true }),
    );
    const { pk: _pk, sk: _sk, ...entry } = Item ?? {};
    return Item ? (entry as unknown as SnapshotEntry) : undefined;
  }

  list(asset: string): Promise<SnapshotEntry[]> {
    return partitionItems<SnapshotEntry>(this.db, this.table, pk(asset));
  }
}
