import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { writeIf } from '../shared/conditional-write.js';
import { partitionItems } from '../shared/dynamo-query.js';
import type { DatasetHold, HoldStore } from './legal-holds.js';

/** Dataset versions' legal holds in the ledger table: pk "HOLD#<asset>", sk the dataset version's id. */
const pk = (asset: string) => `HOLD#${asset}`;

export class DynamoHoldStore implements HoldStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async get(asset: string, id: string): Promise<DatasetHold | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: { pk: pk(asset), sk: id }, ConsistentRead: true }));
    return Item?.hold as DatasetHold | undefined;
  }

  async list(asset: string): Promise<DatasetHold[]> {
    return (await partitionItems<{ hold: DatasetHold }>(this.db, this.table, pk(asset))).map((i) => i.hold);
  }

  commit(hold: DatasetHold): Promise<boolean> {
    return writeIf(() =>
      this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: pk(hold.asset), sk: hold.id, steps: hold.steps, hold },
          ConditionExpression: hold.steps === 1 ? 'attribute_not_exists(pk) OR steps = :previous' : 'steps = :previous',
          ExpressionAttributeValues: { ':previous': hold.steps - 1 },
        }),
      ),
    );
  }
}
