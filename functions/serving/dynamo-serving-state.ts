import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { ServiceState } from './failover.js';
import type { ServingStateStore } from './probe-round.js';

/** Each model service's failover state in the ledger table: pk "SERVING#<service>", sk "state". */
const key = (service: string) => ({ pk: `SERVING#${service}`, sk: 'state' });

export class DynamoServingStateStore implements ServingStateStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async get(service: string): Promise<ServiceState | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: key(service), ConsistentRead: true }));
    return Item?.state as ServiceState | undefined;
  }

  async save(state: ServiceState): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: { ...key(state.service), state } }));
  }
}
