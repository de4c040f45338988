import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { RestoreTestResult } from './restore-test.js';
import type { RestoreTestLog } from './restore-tests.js';

/** Restore-test results in the ledger table: pk "RESTORETEST#<asset>", sk the start time; kept 400 days. */
export class DynamoRestoreTestLog implements RestoreTestLog {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async record(result: RestoreTestResult): Promise<void> {
    const expireAfter = Math.floor(Date.parse(result.finishedAt) / 1000) + 400 * 86_400;
    await this.db.send(
      new PutCommand({ TableName: this.table, Item: { pk: `RESTORETEST#${result.asset}`, sk: result.startedAt, result, expireAfter } }),
    );
  }

  /** The asset's results of tests started at or after `since`, oldest first (the DR report's RTO history). */
  async since(asset: string, since: Date): Promise<RestoreTestResult[]> {
    const results: RestoreTestResult[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND sk >= :since',
          ExpressionAttributeValues: { ':pk': `RESTORETEST#${asset}`, ':since': since.toISOString() },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) results.push(item.result as RestoreTestResult);
      start = page.LastEvaluatedKey;
    } while (start);
    return results;
  }
}
