import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { ScrubState, ScrubStore } from './verify-data.js';

/** Scrub state in the ledger table: pk "SCRUB#<asset>", sk "state". */
const key = (asset: string) => ({ pk: `SCRUB#${asset}`, sk: 'state' });

export class DynamoScrubStore implements ScrubStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async get(asset: string): Promise<ScrubState | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: key(asset), ConsistentRead: true }));
    return Item?.state as ScrubState | undefined;
  }

  async save(state: ScrubState): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: { ...key(state.asset), state } }));
  }
}
