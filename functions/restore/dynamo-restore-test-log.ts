import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { RestoreTestResult } from './restore-test.js';
import type { RestoreTestLog } from './restore-tests.js';
import { writeIf } from '../shared/conditional-write.js';
import { itemsSince } from '../shared/dynamo-query.js';

/** Restore-test results in the ledger table: pk "RESTORETEST#<asset>", sk the start time; kept 400 days. */
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

  /** The asset's results of tests started at or after `since`, oldest first (the DR report's RTO history). */
  async since(asset: string, since: Date): Promise<RestoreTestResult[]> {
    return itemsSince<RestoreTestResult>(this.db, this.table, `RESTORETEST#${asset}`, since, 'result');
  }
}
