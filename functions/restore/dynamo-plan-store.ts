import { writeIf } from '../shared/conditional-write.js';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { PlanContents, PlanStore, RestoreKind, StoredPlan } from './restore-plan.js';

/**
 * Restore plans in the ledger table: pk "RESTORE#<token>", sk "plan"; removed by the table's TTL
 * (expireAfter, as for leases) 30 days after the plan expires. One store per kind of restore: its
 * plans' contents are of that kind's types (they were written by this store), and a token of the
 * other kind is not found.
 */
const key = (token: string) => ({ pk: `RESTORE#${token}`, sk: 'plan' });

export class DynamoPlanStore<C extends PlanContents> implements PlanStore<C> {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    readonly table: string,
    readonly kind: RestoreKind,
  ) {}

  async create(plan: StoredPlan<C>): Promise<void> {
    const expires = Math.floor(new Date(plan.expiresAt).getTime() / 1000) + 30 * 86_400;
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...key(plan.token), plan, expireAfter: expires },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async replacePlanning(plan: StoredPlan<C>): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...key(plan.token), plan, expireAfter: Math.floor(new Date(plan.expiresAt).getTime() / 1000) + 30 * 86_400 },
        ConditionExpression: '#plan.#state = :planning',
        ExpressionAttributeNames: { '#plan': 'plan', '#state': 'state' },
        ExpressionAttributeValues: { ':planning': 'planning' },
      }),
    );
  }

  async get(token: string): Promise<StoredPlan<C> | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: key(token), ConsistentRead: true }));
    const plan = Item?.plan as StoredPlan<C> | undefined;
    return plan?.kind === this.kind ? plan : undefined;
  }

  async claim(token: string, now: Date): Promise<boolean> {
    return writeIf(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key(token),
          UpdateExpression: 'SET #plan.#state = :running, #plan.startedAt = :now',
          ConditionExpression: '#plan.#state = :planned',
          ExpressionAttributeNames: { '#plan': 'plan', '#state': 'state' },
          ExpressionAttributeValues: { ':running': 'running', ':planned': 'planned', ':now': now.toISOString() },
        }),
      ),
    );
  }

  async saveProgress(token: string, progress: C['progress']): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: key(token),
        UpdateExpression: 'SET #plan.progress = :progress',
        ConditionExpression: '#plan.#state = :running',
        ExpressionAttributeNames: { '#plan': 'plan', '#state': 'state' },
        ExpressionAttributeValues: { ':progress': progress, ':running': 'running' },
      }),
    );
  }

  async finish(token: string, state: 'done' | 'failed', now: Date, result: C['result'] | null, reason?: string): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: key(token),
        UpdateExpression: 'SET #plan.#state = :state, #plan.finishedAt = :now, #plan.#result = :result, #plan.reason = :reason',
        ExpressionAttributeNames: { '#plan': 'plan', '#state': 'state', '#result': 'result' },
        ExpressionAttributeValues: { ':state': state, ':now': now.toISOString(), ':result': result, ':reason': reason ?? null },
      }),
    );
  }

  async lease(token: string, owner: string, until: Date, now: Date): Promise<boolean> {
    return writeIf(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key(token),
          UpdateExpression: 'SET #plan.lease = :lease',
          ConditionExpression:
            'attribute_exists(pk) AND (attribute_not_exists(#plan.lease) OR #plan.lease.#until < :now OR #plan.lease.#owner = :owner)',
          ExpressionAttributeNames: { '#plan': 'plan', '#until': 'until', '#owner': 'owner' },
          ExpressionAttributeValues: { ':lease': { owner, until: until.toISOString() }, ':now': now.toISOString(), ':owner': owner },
        }),
      ),
    );
  }

  async release(token: string, owner: string): Promise<void> {
    await writeIf(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key(token),
          UpdateExpression: 'REMOVE #plan.lease',
          ConditionExpression: '#plan.lease.#owner = :owner',
          ExpressionAttributeNames: { '#plan': 'plan', '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      ),
    );
  }
}
