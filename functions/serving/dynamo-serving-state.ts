import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { writeIf } from '../shared/conditional-write.js';
import { partitionItems } from '../shared/dynamo-query.js';
import type { ServingStateStore, StoredService } from './probe-round.js';
import type { SmokeEvalResult } from './smoke-eval.js';

/**
 * Each model service in the ledger table, pk "SERVING#<service>": its failover state and last round
 * (sk "state", written by every round, with its revision: a save names the one it read) and its
 * last smoke eval (sk "smoke-eval"), read together.
 */
const pk = (service: string) => `SERVING#${service}`;

export class DynamoServingStateStore implements ServingStateStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async get(service: string): Promise<StoredService | undefined> {
    // The two items tell themselves apart by what they hold.
    const items = await partitionItems<Partial<StoredService>>(this.db, this.table, pk(service));
    const state = items.find((i) => i.state !== undefined);
    const smoke = items.find((i) => i.smokeEval !== undefined)?.smokeEval;
    if (!state?.state) return undefined;
    return {
      state: state.state,
      ...(state.lastRound && { lastRound: state.lastRound }),
      ...(state.revision !== undefined && { revision: state.revision }),
      ...(smoke && { smokeEval: smoke }),
    };
  }

  save({ state, lastRound, revision }: StoredService): Promise<boolean> {
    return writeIf(() =>
      this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: pk(state.service), sk: 'state', state, ...(lastRound && { lastRound }), revision: (revision ?? 0) + 1 },
          ...(revision === undefined
            ? { ConditionExpression: 'attribute_not_exists(revision)' }
            : { ConditionExpression: 'revision = :revision', ExpressionAttributeValues: { ':revision': revision } }),
        }),
      ),
    );
  }

  async saveSmokeEval(service: string, smokeEval: SmokeEvalResult): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: pk(service), sk: 'smoke-eval', smokeEval } }));
  }
}
