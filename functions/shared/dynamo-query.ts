import { type DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';

/** Every item a query of the ledger table matches, through every page. */
export async function queryAll(
  db: DynamoDBDocumentClient,
  input: Omit<QueryCommandInput, 'ExclusiveStartKey'>,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/**
 * The `field` of every item of one partition of the ledger table whose sort key is at or after
 * `since` (sort keys that start with an ISO time), oldest first, through every page.
 */
export async function itemsSince<T>(db: DynamoDBDocumentClient, table: string, pk: string, since: Date, field: string): Promise<T[]> {
  const items = await queryAll(db, {
    TableName: table,
    KeyConditionExpression: 'pk = :pk AND sk >= :since',
    ExpressionAttributeValues: { ':pk': pk, ':since': since.toISOString() },
  });
  return items.map((item) => item[field] as T);
}

/**
 * Every item of one partition of the ledger table, through every page, without its keys (pk, sk):
 * newest sort key first (sort keys that start with a time), read consistently.
 */
export async function partitionItems<T>(db: DynamoDBDocumentClient, table: string, pk: string): Promise<T[]> {
  const items = await queryAll(db, {
    TableName: table,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': pk },
    ScanIndexForward: false,
    ConsistentRead: true,
  });
  return items.map(({ pk: _pk, sk: _sk, ...item }) => item as T);
}
