import { afterAll, beforeAll } from 'vitest';
import { ledgerContract } from '../contract/ledger.contract.js';
import { type StackUnderTest, startStack } from '../support/local-stack.js';

/** DynamoLedger on the local AWS's DynamoDB (the stack's ledger table and its indexes) meets the ledger contract. */
let t: StackUnderTest;
beforeAll(async () => {
  t = await startStack();
});
afterAll(async () => t?.stop());

ledgerContract('DynamoLedger', () => t.ledger);
