import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { writeIf } from '../shared/conditional-write.js';
import type { TokenBudget } from './token-budget.js';

/** Generation probes' tokens in the ledger table: pk "SERVING#budget", sk "<provider>#<hour>", removed by TTL two days after the hour. */
const key = (provider: string, hour: string) => ({ pk: 'SERVING#budget', sk: `${provider}#${hour}` });
const expireAfter = (hour: string) => Math.floor(Date.parse(`${hour}:00:00Z`) / 1000) + 2 * 86_400;

export class DynamoTokenBudget implements TokenBudget {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  reserve(provider: string, hour: string, tokens: number, limit: number): Promise<boolean> {
    if (tokens > limit) return Promise.resolve(false);
    return writeIf(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key(provider, hour),
          UpdateExpression: 'ADD spent :tokens SET expireAfter = :expire',
          ConditionExpression: 'attribute_not_exists(spent) OR spent <= :most',
          ExpressionAttributeValues: { ':tokens': tokens, ':most': limit - tokens, ':expire': expireAfter(hour) },
        }),
      ),
    );
  }

  async exceed(provider: string, hour: string, tokens: number): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: key(provider, hour),
        UpdateExpression: 'ADD spent :tokens SET expireAfter = :expire',
        ExpressionAttributeValues: { ':tokens': tokens, ':expire': expireAfter(hour) },
      }),
    );
  }

  async spent(provider: string, hour: string): Promise<number> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: key(provider, hour), ConsistentRead: true }));
    return (Item?.spent as number | undefined) ?? 0;
  }
}
