import { GetCommand, type DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { TargetName } from './target-events.js';
import type { AlertState, AlertStateStore } from './alert-state.js';
import { writeIf } from '../shared/conditional-write.js';

/** Alert state items live in the ledger table: pk "ALERT#<asset>", sk the target ("rpo", "rto", "drill"; no GSI attributes). */
const key = (asset: string, target: TargetName = 'rpo') => ({ pk: `ALERT#${asset}`, sk: target });

export class DynamoAlertStateStore implements AlertStateStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async get(asset: string, target: TargetName = 'rpo'): Promise<AlertState | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: key(asset, target), ConsistentRead: true }));
    if (!Item) return undefined;
    const { pk: _pk, sk: _sk, assetName, ...rest } = Item;
    return { ...(rest as Omit<AlertState, 'asset'>), asset: assetName as string };
  }

  async transition(next: AlertState, expectedRevision: number): Promise<boolean> {
    const { asset, ...rest } = next;
    return writeIf(() =>
      this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...key(asset, next.target), assetName: asset, ...rest },
          ConditionExpression: expectedRevision === 0 ? 'attribute_not_exists(pk)' : 'revision = :expected',
          ...(expectedRevision === 0 ? {} : { ExpressionAttributeValues: { ':expected': expectedRevision } }),
        }),
      ),
    );
  }

  async markSent(asset: string, revision: number, sentAt: string, target: TargetName = 'rpo'): Promise<void> {
    // A newer revision was written meanwhile: its own unsent event is what counts.
    await writeIf(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key(asset, target),
          UpdateExpression: 'REMOVE unsent SET sentAt = :at',
          ConditionExpression: 'revision = :revision',
          ExpressionAttributeValues: { ':revision': revision, ':at': sentAt },
        }),
      ),
    );
  }
}
