import { writeIf } from '../shared/conditional-write.js';
import { partitionItems } from '../shared/dynamo-query.js';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SnapshotCatalogStore, SnapshotEntry, SnapshotPartition, SnapshotProgress } from './snapshot-catalog.js';

/** The snapshot catalog in the ledger table: pk "SNAPSHOT#<asset>", sk the snapshot id (time-sortable). */
const pk = (asset: string) => `SNAPSHOT#${asset}`;

/** The snapshot's lease, or one part's (in the entry's partitions map). */
const leasePath = (part?: string): { path: string; exists: string; names: Record<string, string> } =>
  part === undefined
    ? { path: 'lease', exists: 'attribute_exists(pk)', names: {} }
    : { path: '#parts.#part.lease', exists: 'attribute_exists(#parts.#part)', names: { '#parts': 'partitions', '#part': part } };

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

  async saveProgress(
    asset: string,
    snapshotId: string,
    progress: SnapshotProgress,
    expectedNextChunk: number,
    part?: string,
  ): Promise<boolean> {
    // A part's progress is its own map entry; the entry's totals are summed when it is finished.
    const values = { ':progress': progress, ':inProgress': 'in-progress', ':expected': expectedNextChunk };
    return writeIf(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: pk(asset), sk: snapshotId },
          ...(part === undefined
            ? {
                UpdateExpression: 'SET progress = :progress, #count = :count, bytes = :bytes, chunks = :chunks',
                ConditionExpression: '#state = :inProgress AND progress.nextChunk = :expected',
                ExpressionAttributeNames: { '#state': 'state', '#count': 'count' },
                ExpressionAttributeValues: { ...values, ':count': progress.count, ':bytes': progress.bytes, ':chunks': progress.nextChunk },
              }
            : {
                UpdateExpression: 'SET #parts.#part.progress = :progress',
                ConditionExpression: '#state = :inProgress AND #parts.#part.progress.nextChunk = :expected',
                ExpressionAttributeNames: { '#state': 'state', '#parts': 'partitions', '#part': part },
                ExpressionAttributeValues: values,
              }),
        }),
      ),
    );
  }

  async updatePart(asset: string, snapshotId: string, part: string, patch: Pick<SnapshotPartition, 'verify' | 'verified'>): Promise<void> {
    const fields = Object.entries(patch).filter(([, value]) => value !== undefined);
    if (fields.length === 0) return;
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: pk(asset), sk: snapshotId },
        UpdateExpression: `SET ${fields.map((_, i) => `#parts.#part.#f${i} = :v${i}`).join(', ')}`,
        ConditionExpression: 'attribute_exists(#parts.#part)',
        ExpressionAttributeNames: {
          '#parts': 'partitions',
          '#part': part,
          ...Object.fromEntries(fields.map(([name], i) => [`#f${i}`, name])),
        },
        ExpressionAttributeValues: Object.fromEntries(fields.map(([, value], i) => [`:v${i}`, value])),
      }),
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

  async lease(asset: string, snapshotId: string, owner: string, until: Date, now: Date, part?: string): Promise<boolean> {
    const lease = leasePath(part);
    return writeIf(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: pk(asset), sk: snapshotId },
          UpdateExpression: `SET ${lease.path} = :lease`,
          ConditionExpression: `${lease.exists} AND (attribute_not_exists(${lease.path}) OR ${lease.path}.#until < :now OR ${lease.path}.#owner = :owner)`,
          ExpressionAttributeNames: { '#until': 'until', '#owner': 'owner', ...lease.names },
          ExpressionAttributeValues: { ':lease': { owner, until: until.toISOString() }, ':now': now.toISOString(), ':owner': owner },
        }),
      ),
    );
  }

  async release(asset: string, snapshotId: string, owner: string, part?: string): Promise<void> {
    const lease = leasePath(part);
    await writeIf(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: pk(asset), sk: snapshotId },
          UpdateExpression: `REMOVE ${lease.path}`,
          ConditionExpression: `${lease.path}.#owner = :owner`,
          ExpressionAttributeNames: { '#owner': 'owner', ...lease.names },
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
