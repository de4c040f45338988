import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { IncidentLog } from './incident-log.js';
import type { TargetEvent } from './target-events.js';
import { itemsSince } from '../shared/dynamo-query.js';

/** Kept 400 days (the table's TTL), like the restore-test log: the report looks back 90. */
const KEEP_SECONDS = 400 * 86_400;

/**
 * Target events in the ledger table: pk "INCIDENT#<asset or drill>", sk "<measuredAt>#<detail-type>"
 * (so an asset's events sort by time, and a re-sent event overwrites its own record).
 */
export class DynamoIncidentLog implements IncidentLog {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async record(event: TargetEvent): Promise<void> {
    const { asset, measuredAt } = event.detail;
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: `INCIDENT#${asset}`,
          sk: `${measuredAt}#${event.detailType}`,
          event,
          expireAfter: Math.floor(Date.parse(measuredAt) / 1000) + KEEP_SECONDS,
        },
      }),
    );
  }

  async since(asset: string, since: Date): Promise<TargetEvent[]> {
    return itemsSince<TargetEvent>(this.db, this.table, `INCIDENT#${asset}`, since, 'event');
  }
}
