import {
  CreateBucketCommand,
  DeleteBucketCommand,
  GetObjectCommand,
  ListBucketsCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAccount } from '../../scripts/local-aws/accounts.js';
import { localContext } from '../../scripts/local-aws/event-source-mapping.js';
import { lockedTestPolicy, startStack, type StackUnderTest } from '../support/local-stack.js';

/**
 * A replica in a vault account (replica.account, docs/vault-account.md), across two accounts of
 * one local AWS: the local stack creates the vault's bucket as the vault account (Object Lock on,
 * as its template does), the stack's functions write and read it as the stack's account, naming
 * the vault as the bucket's owner on every request (ExpectedBucketOwner, and
 * ExpectedSourceBucketOwner on copies from it). What is proven: replication into the vault and a
 * restore out of it work across accounts, verified; and a bucket of the same name owned by anyone
 * else (deleted and re-created elsewhere) receives nothing. The vault's bucket policy (what
 * production credentials may not do there) is checked on its template, not here: the local AWS
 * does not evaluate bucket policies.
 */
let t: StackUnderTest;
let dir: string;
const VAULT = '111122223333';
const SQUATTER = '999988887777';
const MiB = 1024 * 1024;
const vaultAssets = `
  - name: models
    kind: model-artifacts
    source: { bucket: it-source, prefix: models/, region: us-east-1 }
    replica: { bucket: it-vault, region: us-west-2, account: '${VAULT}' }
    rpoTargetSeconds: 3600
    rtoTargetSeconds: 14400
    tier: critical
  - name: lost-vault
    kind: model-artifacts
    source: { bucket: it-source, prefix: lost/, region: us-east-1 }
    replica: { bucket: it-vault-lost, region: us-west-2, account: '${VAULT}' }
    rpoTargetSeconds: 3600
    rtoTargetSeconds: 14400
    tier: critical
`;
const s3As = (account: string) => asAccount(new S3Client({ region: 'us-west-2', forcePathStyle: true }), account);
const keysIn = async (s3: S3Client, Bucket: string) =>
  ((await s3.send(new ListObjectVersionsCommand({ Bucket }))).Versions ?? []).map((v) => v.Key).sort();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vault-account-'));
  t = await startStack(lockedTestPolicy(dir, vaultAssets));
  await t.createVersionedBucket('it-restore');
}, 120_000);

afterAll(async () => {
  await t?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a replica in a vault account', () => {
  it('is the vault account’s bucket, not the stack’s', async () => {
    const names = async (s3: S3Client) => ((await s3.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name);
    expect(await names(s3As(VAULT))).toEqual(expect.arrayContaining(['it-vault', 'it-vault-lost']));
    expect(await names(t.s3)).not.toContain('it-vault');
    expect(t.stack.expectedBucketOwners).toEqual({ 'it-vault': VAULT, 'it-vault-lost': VAULT });
  });

  it('receives the stack’s replicas across accounts, whole and multipart, verified and locked', async () => {
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'models/m.bin', Body: Buffer.alloc(12 * MiB, 3) }));
    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'models/card.json', Body: '{"v":1}' }));
    await t.drain();
    expect((await t.ledger.entriesFor('models', 'models/m.bin')).map((e) => e.state)).toEqual(['replicated']);
    const rows = await t.report('models');
    expect(rows.map((r) => [r.key, r.verified])).toEqual([
      ['models/card.json', true],
      ['models/m.bin', true],
    ]);
    const vault = s3As(VAULT);
    expect(await keysIn(vault, 'it-vault')).toEqual(['models/card.json', 'models/m.bin']);
    const copy = await vault.send(new GetObjectCommand({ Bucket: 'it-vault', Key: 'models/card.json' }));
    expect(copy.ObjectLockMode).toBe('COMPLIANCE');
  });

  it('restores out of the vault across accounts, byte for byte', async () => {
    const { handler } = await import('../../functions/restore-data.js');
    const invoke = (payload: unknown) => handler(payload, localContext('restore-data')) as Promise<any>;
    const request = { asset: 'models', asOf: new Date().toISOString(), target: { bucket: 'it-restore', prefix: 'from-vault/' } };
    const { planToken } = await invoke({ ...request, dryRun: true });
    expect(await invoke({ ...request, planToken })).toMatchObject({ state: 'done', result: { restored: { objects: 2 }, failed: 0 } });
    const restored = await t.s3.send(new GetObjectCommand({ Bucket: 'it-restore', Key: 'from-vault/m.bin' }));
    expect(Buffer.from(await restored.Body!.transformToByteArray()).equals(Buffer.alloc(12 * MiB, 3))).toBe(true);
  });

  it('is never written once its name belongs to another account: the copy is refused, the version stays unreplicated', async () => {
    // The vault's empty bucket is deleted and its name taken by another account.
    await s3As(VAULT).send(new DeleteBucketCommand({ Bucket: 'it-vault-lost' }));
    const squatter = s3As(SQUATTER);
    await squatter.send(
      new CreateBucketCommand({ Bucket: 'it-vault-lost', CreateBucketConfiguration: { LocationConstraint: 'us-west-2' } }),
    );
    await squatter.send(new PutBucketVersioningCommand({ Bucket: 'it-vault-lost', VersioningConfiguration: { Status: 'Enabled' } }));

    await t.s3.send(new PutObjectCommand({ Bucket: 'it-source', Key: 'lost/weights.bin', Body: 'secret weights' }));
    const poll = await t.pollOnce();
    expect(poll.received).toBe(1);
    expect(await keysIn(squatter, 'it-vault-lost')).toEqual([]);
    expect(poll).toMatchObject({ failed: 1 });
    // S3 refused it for the owner condition (the squatter's bucket would otherwise have taken it: it is versioned and open to all here).
    expect((await t.ledger.entriesFor('lost-vault', 'lost/weights.bin')).map((e) => [e.state, e.lastError])).toEqual([
      ['failed', 'AccessDenied: Access Denied (HTTP 403)'],
    ]);
  });
});
