import { vectorStoreContract } from '../../contract/vector-store.contract.js';
import { MemoryVectorStore } from '../../support/memory-vector-store.js';

// The in-memory store other unit tests use meets the same contract as the real adapters.
const shared = new MemoryVectorStore();
vectorStoreContract('in-memory test double', async () => ({
  store: shared,
  reopen: async () => shared,
  metrics: ['cosine', 'euclidean', 'dot'],
  stop: async () => {},
}));
