import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { RestoreTestResult } from './restore-test.js';
import type { RestoreTestLog, TestUnderWay } from './restore-tests.js';
import type { VectorTestInParts } from './verify-vectors.js';
import { writeIf } from '../shared/conditional-write.js';
import { itemsSince } from '../shared/dynamo-query.js';

/**
 * Restore-test results in the ledger table: pk "RESTORETEST#<asset>", sk the start time; kept 400
 * days. A vector test in parts under way: pk "RESTORETESTRUN#<asset>", sk "UNDERWAY" (one per asset),
 * removed when its result is recorded, kept 30 days otherwise.
 */
export class DynamoRestoreTestLog implements RestoreTestLog {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async record(result: RestoreTestResult): Promise<boolean> {
    const expireAfter = Math.floor(Date.parse(result.finishedAt) / 1000) + 400 * 86_400;
    return writeIf(() =>
      this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: `RESTORETEST#${result.asset}`, sk: result.startedAt, result, expireAfter },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
  }

  async noteUnderWay(asset: string, test: VectorTestInParts, at: Date): Promise<void> {
    const expireAfter = Math.floor(at.getTime() / 1000) + 30 * 86_400;
    await this.db.send(
      new PutCommand({ TableName: this.table, Item: { ...underWayKey(asset), test, seenAt: at.toISOString(), expireAfter } }),
    );
  }

  async underWay(asset: string): Promise<TestUnderWay | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: underWayKey(asset), ConsistentRead: true }));
    return Item && { test: Item.test as VectorTestInParts, seenAt: Item.seenAt as string };
  }

  async clearUnderWay(asset: string, startedAt: string): Promise<void> {
    // Only that test's: a newer test of the asset, noted since, stays.
    await writeIf(() =>
      this.db.send(
        new DeleteCommand({
          TableName: this.table,
          Key: underWayKey(asset),
          ConditionExpression: '#test.startedAt = :startedAt',
          ExpressionAttributeNames: { '#test': 'test' },
          ExpressionAttributeValues: { ':startedAt': startedAt },
        }),
      ),
    );
  }

  /** The asset's results of tests started at or after `since`, oldest first (the DR report's RTO history). */
  async since(asset: string, since: Date): Promise<RestoreTestResult[]> {
    return itemsSince<RestoreTestResult>(this.db, this.table, `RESTORETEST#${asset}`, since, 'result');
  }
}

const underWayKey = (asset: string) => ({ pk: `RESTORETESTRUN#${asset}`, sk: 'UNDERWAY' });
