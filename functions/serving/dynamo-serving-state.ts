import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { ServingStateStore, StoredService } from './probe-round.js';

/** Each model service's failover state and last round in the ledger table: pk "SERVING#<service>", sk "state". */
const key = (service: string) => ({ pk: `SERVING#${service}`, sk: 'state' });

export class DynamoServingStateStore implements ServingStateStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async get(service: string): Promise<StoredService | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: key(service), ConsistentRead: true }));
    return Item
      ? { state: Item.state as StoredService['state'], ...(Item.lastRound && { lastRound: Item.lastRound as StoredService['lastRound'] }) }
      : undefined;
  }

  async save({ state, lastRound }: StoredService): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: { ...key(state.service), state, ...(lastRound && { lastRound }) } }));
  }
}
