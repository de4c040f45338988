import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';

/**
 * The `field` of every item of one partition of the ledger table whose sort key is at or after
 * `since` (sort keys that start with an ISO time), oldest first, through every page.
 */
export async function itemsSince<T>(db: DynamoDBDocumentClient, table: string, pk: string, since: Date, field: string): Promise<T[]> {
  const items: T[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk AND sk >= :since',
        ExpressionAttributeValues: { ':pk': pk, ':since': since.toISOString() },
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) items.push(item[field] as T);
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/**
 * Every item of one partition of the ledger table, through every page, without its keys (pk, sk):
 * newest sort key first (sort keys that start with a time), read consistently.
 */
export async function partitionItems<T>(db: DynamoDBDocumentClient, table: string, pk: string): Promise<T[]> {
  const items: T[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ScanIndexForward: false,
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    for (const { pk: _pk, sk: _sk, ...item } of page.Items ?? []) items.push(item as T);
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}
