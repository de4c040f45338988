import { MemoryLedger } from '../support/memory-ledger.js';
import { ledgerContract } from '../contract/ledger.contract.js';

/** The unit tests' ledger double meets the ledger contract that DynamoLedger meets on the local AWS. */
const ledger = new MemoryLedger();
ledgerContract('MemoryLedger', () => ledger);
