/**
 * The ledger table's keys, shared by serverless.yml (through stack-config) and the local stack so
 * the two cannot drift. See functions/ledger/dynamo-ledger.ts for what the keys hold.
 */
export const ledgerKeySchema = {
  AttributeDefinitions: [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'sk', AttributeType: 'S' },
    { AttributeName: 'pendingAsset', AttributeType: 'S' },
    { AttributeName: 'pendingSince', AttributeType: 'S' },
    { AttributeName: 'asset', AttributeType: 'S' },
    { AttributeName: 'replicatedAt', AttributeType: 'S' },
  ],
  KeySchema: [
    { AttributeName: 'pk', KeyType: 'HASH' },
    { AttributeName: 'sk', KeyType: 'RANGE' },
  ],
  GlobalSecondaryIndexes: [
    {
      IndexName: 'unreplicated',
      KeySchema: [
        { AttributeName: 'pendingAsset', KeyType: 'HASH' },
        { AttributeName: 'pendingSince', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    },
    {
      // Sparse: only replicated entries have replicatedAt. Lag over a window and the last
      // replication read this index by time, so their cost grows with recent change, not history.
      IndexName: 'replicated',
      KeySchema: [
        { AttributeName: 'asset', KeyType: 'HASH' },
        { AttributeName: 'replicatedAt', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['key', 'sourceVersionId', 'lagSeconds'] },
    },
  ],
  BillingMode: 'PAY_PER_REQUEST',
} as const;

/** DynamoDB TTL attribute: removes leases left behind by a crashed invocation. */
export const LEDGER_TTL_ATTRIBUTE = 'expireAfter';
