import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { transactIf, writeIf } from '../shared/conditional-write.js';
import { type DrillRun, type DrillStore, LeaseLostError } from './drill-run.js';

/**
 * Drill records in the ledger table, under pk "DRILL#<drill name>": each run at sk "RUN#<drillId>"
 * (drill ids start with their start time, so runs sort oldest first), and the drill's active run at
 * sk "ACTIVE" (created with the run in one transaction, only if absent: never two runs of a drill at
 * once). Runs are kept two years (the table's TTL, expireAfter).
 */
const pk = (drill: string) => `DRILL#${drill}`;
const runKey = (drill: string, drillId: string) => ({ pk: pk(drill), sk: `RUN#${drillId}` });
const activeKey = (drill: string) => ({ pk: pk(drill), sk: 'ACTIVE' });
const KEEP_SECONDS = 2 * 365 * 86_400;
const leaseLost = (run: DrillRun) => new LeaseLostError(`drill ${run.drill} run ${run.drillId}: another invocation holds the run now`);

/** The run without its lease (kept as its own attribute, so that saving progress never drops a lease). */
const body = ({ lease: _lease, ...run }: DrillRun) => run;
const fromItem = (item: Record<string, unknown> | undefined): DrillRun | undefined =>
  item?.run ? { ...(item.run as DrillRun), ...(item.lease ? { lease: item.lease as DrillRun['lease'] } : {}) } : undefined;

export class DynamoDrillStore implements DrillStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async active(drill: string): Promise<DrillRun | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: activeKey(drill), ConsistentRead: true }));
    return Item ? this.get(drill, Item.drillId as string) : undefined;
  }

  async start(run: DrillRun): Promise<boolean> {
    const input: TransactWriteCommandInput = {
      TransactItems: [
        {
          Put: {
            TableName: this.table,
            Item: { ...activeKey(run.drill), drillId: run.drillId, startedAt: run.startedAt },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        {
          Put: {
            TableName: this.table,
            Item: { ...runKey(run.drill, run.drillId), run: body(run), expireAfter: this.expiry(run.startedAt) },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
      ],
    };
    return this.transact(new TransactWriteCommand(input));
  }

  /** A transaction: false when one of its conditions did not hold. */
  private transact(command: TransactWriteCommand): Promise<boolean> {
    return transactIf(() => this.db.send(command));
  }

  async get(drill: string, drillId: string): Promise<DrillRun | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: runKey(drill, drillId), ConsistentRead: true }));
    return fromItem(Item);
  }

  /** The write of a run's record, only by the holder of its lease. */
  private saveRun(run: DrillRun, owner: string) {
    return {
      TableName: this.table,
      Key: runKey(run.drill, run.drillId),
      UpdateExpression: 'SET #run = :run',
      ConditionExpression: 'lease.#owner = :owner',
      ExpressionAttributeNames: { '#run': 'run', '#owner': 'owner' },
      ExpressionAttributeValues: { ':run': body(run), ':owner': owner },
    };
  }

  async save(run: DrillRun, owner: string): Promise<void> {
    if (!(await writeIf(() => this.db.send(new UpdateCommand(this.saveRun(run, owner)))))) throw leaseLost(run);
  }

  async finish(run: DrillRun, owner: string): Promise<void> {
    const finished = await this.transact(
      new TransactWriteCommand({
        TransactItems: [
          { Update: this.saveRun(run, owner) },
          {
            Delete: {
              TableName: this.table,
              Key: activeKey(run.drill),
              ConditionExpression: 'attribute_not_exists(pk) OR drillId = :id',
              ExpressionAttributeValues: { ':id': run.drillId },
            },
          },
        ],
      }),
    );
    if (!finished) throw leaseLost(run);
  }

  async lease(drill: string, drillId: string, owner: string, until: Date, now: Date): Promise<boolean> {
    return writeIf(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: runKey(drill, drillId),
          UpdateExpression: 'SET lease = :lease',
          ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(lease) OR lease.#until < :now OR lease.#owner = :owner)',
          ExpressionAttributeNames: { '#until': 'until', '#owner': 'owner' },
          ExpressionAttributeValues: { ':lease': { owner, until: until.toISOString() }, ':now': now.toISOString(), ':owner': owner },
        }),
      ),
    );
  }

  async release(drill: string, drillId: string, owner: string): Promise<void> {
    await writeIf(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: runKey(drill, drillId),
          UpdateExpression: 'REMOVE lease',
          ConditionExpression: 'lease.#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      ),
    );
  }

  async runs(drill: string, limit: number): Promise<DrillRun[]> {
    const { Items = [] } = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :run)',
        ExpressionAttributeValues: { ':pk': pk(drill), ':run': 'RUN#' },
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    return Items.map((item) => fromItem(item)!);
  }

  private expiry(startedAt: string): number {
    return Math.floor(Date.parse(startedAt) / 1000) + KEEP_SECONDS;
  }
}
