import { transactIf, writeIf } from '../shared/conditional-write.js';
import { queryAll } from '../shared/dynamo-query.js';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DataPlanContents } from './restore-data.js';
import type { PlanContents, PlanPart, PlanPartStore, PlanStore, RestoreKind, StoredPlan } from './restore-plan.js';
import type { VectorPlanContents, VectorRestorePart } from './restore-vectors.js';

/**
 * Restore plans in the ledger table: pk "RESTORE#<token>", sk "plan"; removed by the table's TTL
 * (expireAfter, as for leases) 30 days after the plan expires. One store per kind of restore
 * (dataPlanStore, vectorPlanStore, lineagePlanStore): its plans' contents are of that kind's types (they were written
 * by such a store), a token of the other kind is not found, and no write touches a plan of the other
 * kind (every write is conditional on the plan's kind).
 */
const key = (token: string) => ({ pk: `RESTORE#${token}`, sk: 'plan' });
/** The parts of a fanned-out run: beside the plan, sk "part#<name>", expiring with it. */
const partKey = (token: string, name: string) => ({ pk: `RESTORE#${token}`, sk: `part#${name}` });
const expireAfter = (expiresAt: string) => Math.floor(new Date(expiresAt).getTime() / 1000) + 30 * 86_400;

/** Constructed only through dataPlanStore, vectorPlanStore, lineagePlanStore and servingPlanStore, which bind the kind. */
class DynamoPlanStore<C extends PlanContents> implements PlanStore<C> {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    readonly table: string,
    readonly kind: RestoreKind,
  ) {}

  async create(plan: StoredPlan<C>): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...key(plan.token), plan, expireAfter: expireAfter(plan.expiresAt) },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async replacePlanning(plan: StoredPlan<C>): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...key(plan.token), plan, expireAfter: expireAfter(plan.expiresAt) },
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

/** The parts of one kind's fanned-out runs; a part is saved only while its plan (of that kind) is running. */
class DynamoPlanPartStore<P> implements PlanPartStore<P> {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    readonly table: string,
    readonly kind: RestoreKind,
  ) {}

  /** All of them in one transaction (at most 64 parts, within its 100 items): never a stage with some parts missing. */
  async create(token: string, parts: { name: string; state: P }[], expiresAt: string): Promise<void> {
    await transactIf(() =>
      this.db.send(
        new TransactWriteCommand({
          TransactItems: parts.map(({ name, state }) => ({
            Put: {
              TableName: this.table,
              Item: { ...partKey(token, name), part: state, done: false, expireAfter: expireAfter(expiresAt) },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          })),
        }),
      ),
    );
  }

  async list(token: string, stage: string): Promise<PlanPart<P>[]> {
    const items = await queryAll(this.db, {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :stage)',
      ExpressionAttributeValues: { ':pk': key(token).pk, ':stage': `part#${stage}-` },
      ConsistentRead: true,
    });
    return items.map((item) => partOf<P>(item));
  }

  async get(token: string, name: string): Promise<PlanPart<P> | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: partKey(token, name), ConsistentRead: true }));
    return Item && partOf<P>(Item);
  }

  async lease(token: string, name: string, owner: string, until: Date, now: Date): Promise<boolean> {
    return writeIf(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: partKey(token, name),
          UpdateExpression: 'SET lease = :lease',
          ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(lease) OR lease.#until < :now OR lease.#owner = :owner)',
          ExpressionAttributeNames: { '#until': 'until', '#owner': 'owner' },
          ExpressionAttributeValues: { ':lease': { owner, until: until.toISOString() }, ':now': now.toISOString(), ':owner': owner },
        }),
      ),
    );
  }

  async release(token: string, name: string, owner: string): Promise<void> {
    await writeIf(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: partKey(token, name),
          UpdateExpression: 'REMOVE lease',
          ConditionExpression: 'lease.#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      ),
    );
  }

  async save(token: string, name: string, owner: string, state: P, done: boolean): Promise<boolean> {
    return transactIf(() =>
      this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              ConditionCheck: {
                TableName: this.table,
                Key: key(token),
                ConditionExpression: '#plan.#state = :running AND #plan.#kind = :kind',
                ExpressionAttributeNames: { '#plan': 'plan', '#state': 'state', '#kind': 'kind' },
                ExpressionAttributeValues: { ':running': 'running', ':kind': this.kind },
              },
            },
            {
              Update: {
                TableName: this.table,
                Key: partKey(token, name),
                UpdateExpression: 'SET part = :state, done = :done',
                ConditionExpression: 'lease.#owner = :owner',
                ExpressionAttributeNames: { '#owner': 'owner' },
                ExpressionAttributeValues: { ':state': state, ':done': done, ':owner': owner },
              },
            },
          ],
        }),
      ),
    );
  }
}

function partOf<P>(item: Record<string, unknown>): PlanPart<P> {
  const lease = item.lease as PlanPart<P>['lease'];
  return { name: (item.sk as string).slice('part#'.length), state: item.part as P, done: item.done === true, ...(lease && { lease }) };
}

export const vectorPlanParts = (db: DynamoDBDocumentClient, table: string): PlanPartStore<VectorRestorePart> =>
  new DynamoPlanPartStore<VectorRestorePart>(db, table, 'restore-vectors');

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
