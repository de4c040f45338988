import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { ReconcileCheckpoint, ReconcileRunRecord, ReconcileStore } from './reconcile-asset.js';

/**
 * Reconcile checkpoints and run records in the ledger table: pk "RECONCILE#<asset>", sk
 * "checkpoint" for a run in progress, sk "run#<startedAt>" for each finished run.
 */
const pk = (asset: string) => `RECONCILE#${asset}`;

export class DynamoReconcileStore implements ReconcileStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async checkpoint(asset: string): Promise<ReconcileCheckpoint | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { pk: pk(asset), sk: 'checkpoint' }, ConsistentRead: true }),
    );
    return (Item?.checkpoint as ReconcileCheckpoint | undefined) ?? undefined;
  }

  async saveCheckpoint(checkpoint: ReconcileCheckpoint): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: pk(checkpoint.asset), sk: 'checkpoint', checkpoint } }));
  }

  async finishRun(run: ReconcileRunRecord): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: pk(run.asset), sk: `run#${run.startedAt}`, run } }));
    await this.db.send(new DeleteCommand({ TableName: this.table, Key: { pk: pk(run.asset), sk: 'checkpoint' } }));
  }
}
