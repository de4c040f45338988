import { writeIf } from '../shared/conditional-write.js';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DataPlanContents } from './restore-data.js';
import type { PlanContents, PlanStore, RestoreKind, StoredPlan } from './restore-plan.js';
import type { VectorPlanContents } from './restore-vectors.js';

/**
 * Restore plans in the ledger table: pk "RESTORE#<token>", sk "plan"; removed by the table's TTL
 * (expireAfter, as for leases) 30 days after the plan expires. One store per kind of restore
 * (dataPlanStore, vectorPlanStore, lineagePlanStore): its plans' contents are of that kind's types (they were written
 * by such a store), a token of the other kind is not found, and no write touches a plan of the other
 * kind (every write is conditional on the plan's kind).
 */
const key = (token: string) => ({ pk: `RESTORE#${token}`, sk: 'plan' });

/** Constructed only through dataPlanStore, vectorPlanStore, lineagePlanStore and servingPlanStore, which bind the kind. */
class DynamoPlanStore<C extends PlanContents> implements PlanStore<C> {
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
        ConditionExpression: '#plan.#state = :planning AND #plan.#kind = :kind',
        ExpressionAttributeNames: { '#plan': 'plan', '#state': 'state', '#kind': 'kind' },
        ExpressionAttributeValues: { ':planning': 'planning', ':kind': this.kind },
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
          ConditionExpression: '#plan.#state = :planned AND #plan.#kind = :kind',
          ExpressionAttributeNames: { '#plan': 'plan', '#state': 'state', '#kind': 'kind' },
          ExpressionAttributeValues: { ':running': 'running', ':planned': 'planned', ':now': now.toISOString(), ':kind': this.kind },
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
        ConditionExpression: '#plan.#state = :running AND #plan.#kind = :kind',
        ExpressionAttributeNames: { '#plan': 'plan', '#state': 'state', '#kind': 'kind' },
        ExpressionAttributeValues: { ':progress': progress, ':running': 'running', ':kind': this.kind },
      }),
    );
  }

  async finish(token: string, state: 'done' | 'failed', now: Date, result: C['result'] | null, reason?: string): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: key(token),
        UpdateExpression: 'SET #plan.#state = :state, #plan.finishedAt = :now, #plan.#result = :result, #plan.reason = :reason',
        ConditionExpression: '#plan.#kind = :kind',
        ExpressionAttributeNames: { '#plan': 'plan', '#state': 'state', '#result': 'result', '#kind': 'kind' },
        ExpressionAttributeValues: {
          ':state': state,
          ':now': now.toISOString(),
          ':result': result,
          ':reason': reason ?? null,
          ':kind': this.kind,
        },
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
            'attribute_exists(pk) AND #plan.#kind = :kind AND (attribute_not_exists(#plan.lease) OR #plan.lease.#until < :now OR #plan.lease.#owner = :owner)',
          ExpressionAttributeNames: { '#plan': 'plan', '#until': 'until', '#owner': 'owner', '#kind': 'kind' },
          ExpressionAttributeValues: {
            ':lease': { owner, until: until.toISOString() },
            ':now': now.toISOString(),
            ':owner': owner,
            ':kind': this.kind,
          },
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

export const dataPlanStore = (db: DynamoDBDocumentClient, table: string): PlanStore<DataPlanContents> =>
  new DynamoPlanStore<DataPlanContents>(db, table, 'restore-data');

export const vectorPlanStore = (db: DynamoDBDocumentClient, table: string): PlanStore<VectorPlanContents> =>
  new DynamoPlanStore<VectorPlanContents>(db, table, 'restore-vectors');

/** Restores by model and model retirements (functions/lineage/): their contents' types live with them, beyond this layer. */
export const lineagePlanStore = <C extends PlanContents>(
  db: DynamoDBDocumentClient,
  table: string,
  kind: 'restore-model' | 'retire-model',
): PlanStore<C> => new DynamoPlanStore<C>(db, table, kind);

/** An operator's pin of a model service (functions/serving/operator-pin.ts). */
export const servingPlanStore = <C extends PlanContents>(db: DynamoDBDocumentClient, table: string): PlanStore<C> =>
  new DynamoPlanStore<C>(db, table, 'serving-pin');
