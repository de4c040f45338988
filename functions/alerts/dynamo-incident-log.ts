import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { IncidentLog } from './incident-log.js';
import type { TargetEvent } from './target-events.js';

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
    const events: TargetEvent[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND sk >= :since',
          ExpressionAttributeValues: { ':pk': `INCIDENT#${asset}`, ':since': since.toISOString() },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) events.push(item.event as TargetEvent);
      start = page.LastEvaluatedKey;
    } while (start);
    return events;
  }
}
