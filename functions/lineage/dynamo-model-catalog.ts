import { type DynamoDBDocumentClient, GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { transactIf } from '../shared/conditional-write.js';
import { partitionItems } from '../shared/dynamo-query.js';
import { linksOf, type ModelCatalog, type ModelRecord } from './model-records.js';

/**
 * Model records in the ledger table: pk "MODEL#<name>", sk the version; and one item per linked
 * dataset version, pk "DATASETUSE#<asset>#<id>", sk "<name>@<version>" (which models use it).
 */
const modelKey = (name: string, version: string) => ({ pk: `MODEL#${name}`, sk: version });
const useKey = (asset: string, id: string, model: string) => ({ pk: `DATASETUSE#${asset}#${id}`, sk: model });

/** Records stored before eval results were linked have none. */
const withDefaults = (record: ModelRecord): ModelRecord => ({ ...record, evalResults: record.evalResults ?? [] });

export class DynamoModelCatalog implements ModelCatalog {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  register(record: ModelRecord): Promise<boolean> {
    const model = `${record.name}@${record.version}`;
    const uses = linksOf(record);
    return transactIf(() =>
      this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.table,
                Item: { ...modelKey(record.name, record.version), record },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            ...uses.map((l) => ({ Put: { TableName: this.table, Item: { ...useKey(l.asset, l.id, model), model, sha256: l.sha256 } } })),
          ],
        }),
      ),
    );
  }

  async get(name: string, version: string): Promise<ModelRecord | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: modelKey(name, version), ConsistentRead: true }));
    return Item ? withDefaults(Item.record as ModelRecord) : undefined;
  }

  async versions(name: string): Promise<ModelRecord[]> {
    const items = await partitionItems<{ record: ModelRecord }>(this.db, this.table, `MODEL#${name}`);
    return items.map((i) => withDefaults(i.record)).sort((a, b) => a.registeredAt.localeCompare(b.registeredAt));
  }

  async usersOf(asset: string, id: string): Promise<string[]> {
    return (await this.uses(asset, id)).map((u) => u.model).sort();
  }

  async activeUsersOf(asset: string, id: string): Promise<string[]> {
    return (await this.uses(asset, id))
      .filter((u) => !u.retiredAt)
      .map((u) => u.model)
      .sort();
  }

  private uses(asset: string, id: string) {
    return partitionItems<{ model: string; retiredAt?: string }>(this.db, this.table, `DATASETUSE#${asset}#${id}`);
  }

  retire(record: ModelRecord, at: Date): Promise<boolean> {
    const model = `${record.name}@${record.version}`;
    const retiredAt = at.toISOString();
    return transactIf(() =>
      this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.table,
                Key: modelKey(record.name, record.version),
                UpdateExpression: 'SET #record.retiredAt = :at',
                ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#record.retiredAt)',
                ExpressionAttributeNames: { '#record': 'record' },
                ExpressionAttributeValues: { ':at': retiredAt },
              },
            },
            ...linksOf(record).map((l) => ({
              Update: {
                TableName: this.table,
                Key: useKey(l.asset, l.id, model),
                UpdateExpression: 'SET retiredAt = :at',
                ExpressionAttributeValues: { ':at': retiredAt },
              },
            })),
          ],
        }),
      ),
    );
  }
}
