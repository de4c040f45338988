import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { LineageCheck, LineageCheckStore } from './lineage-check.js';

/** The latest lineage check in the ledger table: pk "LINEAGECHECK", sk "latest" (its restore tests are in the restore-test log). */
const key = { pk: 'LINEAGECHECK', sk: 'latest' };

export class DynamoLineageCheckStore implements LineageCheckStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async latest(): Promise<LineageCheck | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true }));
    return Item?.check as LineageCheck | undefined;
  }

  async save(check: LineageCheck): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: { ...key, check } }));
  }
}
