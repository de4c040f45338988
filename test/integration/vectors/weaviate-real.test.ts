import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { weaviateStore, type WeaviateConfig } from '../../../functions/vectors/adapters/weaviate.js';
import { IndexExistsError, type VectorStore } from '../../../functions/vectors/vector-store.js';
import { startWeaviate, type WeaviateServer } from '../../../scripts/local-engines/weaviate-server.js';
import { WEAVIATE_VERSION } from '../../../scripts/tools/weaviate.js';
import { freshIndexName, sampleRecords, scanAll, vectorStoreContract } from '../../contract/vector-store.contract.js';

/**
 * The Weaviate adapter against a real Weaviate server (built from the Go module proxy by the suite's
 * setup, scripts/tools/weaviate.ts; started on loopback by scripts/local-engines/weaviate-server.ts):
 * the VectorStore contract, and native backups (the backup-filesystem module) restored after the
 * class is dropped. The recorded exchanges (weaviate.test.ts) stay for the API they were taken from.
 */
vectorStoreContract(`weaviate ${WEAVIATE_VERSION} (a real server)`, async () => {
  const server = await startWeaviate();
  const config: WeaviateConfig = { url: server.url, backoffMs: 50 };
  return {
    store: weaviateStore(config),
    reopen: async () => weaviateStore(config),
    metrics: ['cosine', 'euclidean', 'dot'],
    stop: () => server.stop(),
  };
});

describe(`weaviate ${WEAVIATE_VERSION} native backups (a real server, filesystem backend)`, () => {
  let server: WeaviateServer;
  let store: VectorStore;
  beforeAll(async () => {
    server = await startWeaviate();
    store = weaviateStore({ url: server.url, backoffMs: 50, backupBackend: 'filesystem' });
  }, 120_000);
  afterAll(async () => {
    await store?.close();
    await server?.stop();
  });

  it('backs up a class, and restores it, every record and vector, after the class is dropped', async () => {
    const index = freshIndexName('backup');
    const records = sampleRecords(40, 8, 33);
    await store.createIndex(index, { dimensions: 8, metric: 'cosine' });
    await store.write(index, records);
    const ref = await store.native!.create(index);
    expect(ref).toMatchObject({ format: 'weaviate-backup', details: { backend: 'filesystem' } });
    await expect(store.native!.restore(index, { ref })).rejects.toBeInstanceOf(IndexExistsError);
    await store.dropIndex(index);
    await store.native!.restore(index, { ref });
    expect(await store.describe(index)).toEqual({ dimensions: 8, metric: 'cosine', count: 40 });
    const restored = await scanAll(store, index, 9);
    expect(new Map(restored.map((r) => [r.id, [Array.from(r.vector), r.metadata]]))).toEqual(
      new Map(records.map((r) => [r.id, [Array.from(r.vector), r.metadata]])),
    );
  });
});
