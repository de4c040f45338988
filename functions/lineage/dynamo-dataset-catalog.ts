import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { writeIf } from '../shared/conditional-write.js';
import { partitionItems } from '../shared/dynamo-query.js';
import type { DatasetCatalog, DatasetVersionEntry } from './dataset-catalog.js';

/** The dataset catalog in the ledger table: pk "DATASET#<asset>", sk the version's id (time-sortable). */
const pk = (asset: string) => `DATASET#${asset}`;

export class DynamoDatasetCatalog implements DatasetCatalog {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  begin(entry: DatasetVersionEntry): Promise<boolean> {
    return this.putIf(entry, 'attribute_not_exists(pk)');
  }

  restart(entry: DatasetVersionEntry): Promise<boolean> {
    return this.putIf(entry, '#state = :refused', { ':refused': 'refused' });
  }

  commit(entry: DatasetVersionEntry): Promise<boolean> {
    return this.putIf(entry, '#state = :building AND steps = :previous', { ':building': 'building', ':previous': entry.steps - 1 });
  }

  /** Writes the whole entry if `condition` holds of the stored one (`#state` names its state). */
  private putIf(entry: DatasetVersionEntry, condition: string, values?: Record<string, unknown>): Promise<boolean> {
    return writeIf(() =>
      this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: pk(entry.asset), sk: entry.id, ...entry },
          ConditionExpression: condition,
          ...(values && { ExpressionAttributeNames: { '#state': 'state' }, ExpressionAttributeValues: values }),
        }),
      ),
    );
  }

  async get(asset: string, id: string): Promise<DatasetVersionEntry | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: { pk: pk(asset), sk: id }, ConsistentRead: true }));
    const { pk: _pk, sk: _sk, ...entry } = Item ?? {};
    return Item ? (entry as unknown as DatasetVersionEntry) : undefined;
  }

  /** Newest id first, read consistently. */
  list(asset: string): Promise<DatasetVersionEntry[]> {
    return partitionItems<DatasetVersionEntry>(this.db, this.table, pk(asset));
  }
}
