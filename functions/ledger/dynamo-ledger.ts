import { createHash } from 'node:crypto';
import {
  BatchWriteCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeIf, writeOrBlocker } from '../shared/conditional-write.js';
import type { Ledger, LedgerEntry, PendingVersion, ReplicatedRecord, ReplicatedSummary, UploadProgress, VersionClaim } from './ledger.js';

/**
 * Table layout (see docs/ledger.md):
 *   pk = "K#<asset>#<sha256(key)>"  (keys are up to 1024 bytes; a hash keeps pk short and fixed)
 *   sk = "V#<source version id>"    one item per source version; while an invocation works on
 *                                   it, the item carries its claim (claimOwner, claimExpiresAt)
 *   sk = "KEY"                      a failure of the key before its versions were known
 *   sk = "UPLOAD#<source version>"  a multipart copy in progress (upload id, part size) and its
 *                                   verification: source part digests (binary, 32 bytes per part,
 *                                   zeros where unknown), the replica version under verification and
 *                                   a bitmap of its verified parts. At S3's 10,000 parts that is
 *                                   320 KB + 1.25 KB, inside DynamoDB's 400 KB item limit.
 * Sparse GSI "unreplicated": pendingAsset (= asset) + pendingSince (= source write time), present
 * only while an entry is pending or failed, so "oldest unreplicated change of asset X" is one
 * Query with Limit 1 whose cost does not grow with history.
 */
export const UNREPLICATED_INDEX = 'unreplicated';
export const REPLICATED_INDEX = 'replicated';

const partitionKey = (asset: string, key: string) => `K#${asset}#${createHash('sha256').update(key, 'utf8').digest('hex')}`;
const versionSortKey = (versionId: string) => `V#${versionId}`;
const KEY_FAILURE = 'KEY';
const UPLOAD = 'UPLOAD#';

const DIGEST_BYTES = 32;

/** BatchWriteItem takes at most 25 writes; what it leaves unprocessed (throttling) is sent again, at most this often. */
const BATCH_WRITE_LIMIT = 25;
const BATCH_WRITE_ATTEMPTS = 6;

/** Part digests as one binary value: part n at offset (n - 1) * 32, zeros where not known yet. */
function packDigests(byPart: Record<number, string>): Uint8Array | undefined {
  const numbers = Object.keys(byPart).map(Number);
  if (numbers.length === 0) return undefined;
  const packed = Buffer.alloc(Math.max(...numbers) * DIGEST_BYTES);
  for (const n of numbers) {
    const digest = Buffer.from(byPart[n]!, 'hex');
    if (!Number.isInteger(n) || n < 1 || digest.length !== DIGEST_BYTES) throw new Error(`part ${n}: not a SHA-256 digest: ${byPart[n]}`);
    digest.copy(packed, (n - 1) * DIGEST_BYTES);
  }
  return packed;
}

function unpackDigests(packed: Uint8Array): Record<number, string> {
  const bytes = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
  const byPart: Record<number, string> = {};
  for (let offset = 0; offset + DIGEST_BYTES <= bytes.length; offset += DIGEST_BYTES) {
    const digest = bytes.subarray(offset, offset + DIGEST_BYTES);
    if (digest.some((b) => b !== 0)) byPart[offset / DIGEST_BYTES + 1] = digest.toString('hex');
  }
  return byPart;
}

/** A set of part numbers as a bitmap (bit n - 1 for part n). */
function packPartSet(parts: number[]): Uint8Array | undefined {
  if (parts.length === 0) return undefined;
  const bitmap = Buffer.alloc(Math.ceil(Math.max(...parts) / 8));
  for (const n of parts) bitmap[(n - 1) >> 3]! |= 1 << ((n - 1) & 7);
  return bitmap;
}

function unpackPartSet(bitmap: Uint8Array): number[] {
  const parts: number[] = [];
  for (let i = 0; i < bitmap.length * 8; i++) if (bitmap[i >> 3]! & (1 << (i & 7))) parts.push(i + 1);
  return parts;
}

/** A version entry's keys and identifying attributes: the start of every whole-item write of it. */
const versionItem = (v: PendingVersion) => ({ pk: partitionKey(v.asset, v.key), sk: versionSortKey(v.sourceVersionId), ...v });

/** The attributes that identify a version entry, written by every update so any of them can create it. */
const IDENTITY = 'asset = :asset, #key = :key, sourceVersionId = :vid, entryType = :type, sourceLastModified = :lm, #size = :size';
const NAMES = { '#key': 'key', '#state': 'state', '#size': 'size' };
const identityValues = (v: PendingVersion) => ({
  ':asset': v.asset,
  ':key': v.key,
  ':vid': v.sourceVersionId,
  ':type': v.entryType,
  ':lm': v.sourceLastModified,
  ':size': v.size,
});

export class DynamoLedger implements Ledger {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async entriesFor(asset: string, key: string): Promise<LedgerEntry[]> {
    const items = await this.query<Record<string, unknown>>({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': partitionKey(asset, key) },
      ConsistentRead: true,
    });
    // The partition holds the key's UPLOAD# items too: which versions have saved progress costs no extra read.
    const uploads = new Set(
      items
        .map((item) => String(item.sk))
        .filter((sk) => sk.startsWith(UPLOAD))
        .map((sk) => sk.slice(UPLOAD.length)),
    );
    const entries = items.filter((item) => item.sk === KEY_FAILURE || String(item.sk).startsWith('V#')) as unknown as LedgerEntry[];
    return entries.map((e) => (e.entryType !== 'key' && uploads.has(e.sourceVersionId) ? { ...e, uploadSaved: true } : e));
  }

  async markPending(versions: PendingVersion[], now: Date, recorded?: ReadonlySet<string>): Promise<void> {
    for (const v of versions) {
      // A version seen for the first time is one conditional Put; an existing entry (a retry, or one
      // reconcile recorded) is updated in place, keeping its attempts and last error.
      if (!recorded?.has(v.sourceVersionId) && (await this.putIfAbsent(v, now))) continue;
      await this.updateUnlessReplicated(
        v,
        '#state = if_not_exists(#state, :pending), attempts = if_not_exists(attempts, :zero)',
        { ':pending': 'pending', ':zero': 0 },
        now,
      );
    }
  }

  private putIfAbsent(v: PendingVersion, now: Date): Promise<boolean> {
    return writeIf(() =>
      this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            ...versionItem(v),
            state: 'pending',
            attempts: 0,
            firstSeenAt: now.toISOString(),
            pendingAsset: v.asset,
            pendingSince: v.sourceLastModified,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
  }

  /**
   * A Put of each whole entry, 25 to a BatchWriteItem: the claim holder knows it (attempts and
   * first-seen time come from the entry it claimed), and a Put leaves the entry off the
   * unreplicated index and drops the claim. Writes left unprocessed are sent again with backoff;
   * what is still unwritten after that fails the call.
   */
  async markReplicated(records: ReplicatedRecord[]): Promise<void> {
    for (let i = 0; i < records.length; i += BATCH_WRITE_LIMIT) {
      let requests = records.slice(i, i + BATCH_WRITE_LIMIT).map(({ version: v, result: r }) => ({
        PutRequest: {
          Item: {
            ...versionItem(v),
            state: 'replicated',
            replicaKey: r.replicaKey,
            replicaVersionId: r.replicaVersionId,
            replicatedAt: r.replicatedAt,
            lagSeconds: r.lagSeconds,
            attempts: r.attempts,
            firstSeenAt: r.firstSeenAt,
            lastAttemptAt: r.replicatedAt,
            ...(r.sha256 && { sha256: r.sha256 }),
            ...(r.sha256Composite && { sha256Composite: r.sha256Composite, partSizeBytes: r.partSizeBytes }),
            ...(r.copyRetries !== undefined && { copyRetries: r.copyRetries }),
          },
        },
      }));
      for (let attempt = 1; requests.length > 0; attempt++) {
        if (attempt > BATCH_WRITE_ATTEMPTS) {
          throw new Error(
            `ledger: ${requests.length} replicated entries left unprocessed by DynamoDB after ${BATCH_WRITE_ATTEMPTS} attempts`,
          );
        }
        if (attempt > 1) await sleep(25 * 2 ** attempt * Math.random());
        const { UnprocessedItems } = await this.db.send(new BatchWriteCommand({ RequestItems: { [this.table]: requests } }));
        requests = (UnprocessedItems?.[this.table] ?? []) as typeof requests;
      }
    }
  }

  async markFailed(v: PendingVersion, error: string, now: Date): Promise<void> {
    await this.updateUnlessReplicated(
      v,
      '#state = :failed, lastError = :error, lastAttemptAt = :now, attempts = if_not_exists(attempts, :zero) + :one',
      { ':failed': 'failed', ':error': error, ':zero': 0, ':one': 1 },
      now,
      ' REMOVE claimOwner, claimExpiresAt',
    );
  }

  /**
   * One UpdateItem: creates the entry as pending (or keeps it failed, with its attempts), unless it
   * is replicated, its source version is gone, or another owner holds an unexpired claim; then
   * DynamoDB returns the entry that blocked it with the refusal, at no read cost.
   */
  async claimVersion(v: PendingVersion, owner: string, now: Date, ttlSeconds: number): Promise<VersionClaim> {
    const write = await writeOrBlocker(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: partitionKey(v.asset, v.key), sk: versionSortKey(v.sourceVersionId) },
          UpdateExpression:
            'SET asset = :asset, #key = :key, sourceVersionId = :vid, entryType = :type, #size = :size, ' +
            'sourceLastModified = if_not_exists(sourceLastModified, :lm), #state = if_not_exists(#state, :pending), ' +
            'attempts = if_not_exists(attempts, :zero), firstSeenAt = if_not_exists(firstSeenAt, :now), ' +
            'pendingAsset = :asset, pendingSince = if_not_exists(pendingSince, :lm), claimOwner = :owner, claimExpiresAt = :until',
          ConditionExpression:
            'attribute_not_exists(pk) OR ((#state = :pending OR #state = :failed) AND ' +
            '(attribute_not_exists(claimExpiresAt) OR claimExpiresAt < :nowMs))',
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: {
            ...identityValues(v),
            ':pending': 'pending',
            ':failed': 'failed',
            ':zero': 0,
            ':now': now.toISOString(),
            ':nowMs': now.getTime(),
            ':owner': owner,
            ':until': now.getTime() + ttlSeconds * 1000,
          },
          ReturnValues: 'ALL_OLD',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      ),
    );
    if (write.written) return { claimed: true, ...(write.result.Attributes && { previous: write.result.Attributes as LedgerEntry }) };
    if (!write.blocker) throw new Error(`ledger: claim of ${v.sourceVersionId} refused without the entry that blocked it`);
    return { claimed: false, entry: write.blocker as unknown as LedgerEntry };
  }

  async claimRestate(entry: LedgerEntry, owner: string, now: Date, ttlSeconds: number): Promise<LedgerEntry | undefined> {
    const write = await writeOrBlocker(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: partitionKey(entry.asset, entry.key), sk: versionSortKey(entry.sourceVersionId) },
          UpdateExpression: 'SET claimOwner = :owner, claimExpiresAt = :until',
          ConditionExpression: '#state = :replicated AND (attribute_not_exists(claimExpiresAt) OR claimExpiresAt < :nowMs)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':replicated': 'replicated',
            ':owner': owner,
            ':nowMs': now.getTime(),
            ':until': now.getTime() + ttlSeconds * 1000,
          },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return write.written ? (write.result.Attributes as LedgerEntry) : undefined;
  }

  async releaseClaim(v: PendingVersion, owner: string): Promise<void> {
    // Not ours any more (expired and taken over, or written meanwhile): nothing to let go.
    await writeIf(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: partitionKey(v.asset, v.key), sk: versionSortKey(v.sourceVersionId) },
          UpdateExpression: 'REMOVE claimExpiresAt',
          ConditionExpression: 'claimOwner = :owner AND attribute_exists(claimExpiresAt)',
          ExpressionAttributeValues: { ':owner': owner },
        }),
      ),
    );
  }

  /**
   * Creates or updates a version entry as unreplicated (on the sparse index), unless it is already
   * replicated: a late duplicate or a retry never turns a verified copy back into pending work.
   */
  private async updateUnlessReplicated(v: PendingVersion, set: string, values: Record<string, unknown>, now: Date, remove = '') {
    await writeIf(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: partitionKey(v.asset, v.key), sk: versionSortKey(v.sourceVersionId) },
          UpdateExpression: `SET ${IDENTITY}, ${set}, firstSeenAt = if_not_exists(firstSeenAt, :now), pendingAsset = :asset, pendingSince = :lm${remove}`,
          ConditionExpression: 'attribute_not_exists(pk) OR #state <> :replicated',
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: { ...identityValues(v), ...values, ':replicated': 'replicated', ':now': now.toISOString() },
        }),
      ),
    );
  }

  /** Leaves a replicated entry alone (a copy that landed meanwhile stays the record), and another owner's live claim. */
  async markSourceDeleted(entry: LedgerEntry, now: Date, owner = ''): Promise<void> {
    await writeIf(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: partitionKey(entry.asset, entry.key), sk: versionSortKey(entry.sourceVersionId) },
          UpdateExpression:
            'SET #state = :gone, lastAttemptAt = :now, lastError = :why REMOVE pendingAsset, pendingSince, claimOwner, claimExpiresAt',
          ConditionExpression:
            '#state <> :replicated AND (attribute_not_exists(claimExpiresAt) OR claimExpiresAt < :nowMs OR claimOwner = :owner)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':gone': 'source-deleted',
            ':replicated': 'replicated',
            ':now': now.toISOString(),
            ':nowMs': now.getTime(),
            ':owner': owner,
            ':why': 'version was permanently deleted from the source before it was copied',
          },
        }),
      ),
    );
  }

  async unreplicated(asset: string, limit?: number): Promise<LedgerEntry[]> {
    return this.queryIndex<LedgerEntry>(UNREPLICATED_INDEX, 'pendingAsset = :asset', { ':asset': asset }, true, limit);
  }

  async replicatedSince(asset: string, since: Date, limit: number): Promise<ReplicatedSummary[]> {
    return this.queryIndex<ReplicatedSummary>(
      REPLICATED_INDEX,
      'asset = :asset AND replicatedAt >= :since',
      { ':asset': asset, ':since': since.toISOString() },
      false,
      limit,
    );
  }

  async lastReplicated(asset: string): Promise<ReplicatedSummary | undefined> {
    const [item] = await this.queryIndex<ReplicatedSummary>(REPLICATED_INDEX, 'asset = :asset', { ':asset': asset }, false, 1);
    return item;
  }

  /** Pages through an index query; stops at `limit` items when given. */
  private queryIndex<T>(index: string, condition: string, values: Record<string, unknown>, ascending: boolean, limit?: number) {
    return this.query<T>(
      { IndexName: index, KeyConditionExpression: condition, ExpressionAttributeValues: values, ScanIndexForward: ascending },
      limit,
    );
  }

  /** Pages through a query of the table or an index; stops at `limit` items when given. */
  private async query<T>(input: Omit<QueryCommandInput, 'TableName'>, limit?: number): Promise<T[]> {
    const items: T[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          ...input,
          TableName: this.table,
          ExclusiveStartKey: start,
          ...(limit !== undefined ? { Limit: limit - items.length } : {}),
        }),
      );
      items.push(...((page.Items ?? []) as T[]));
      start = page.LastEvaluatedKey;
    } while (start && (limit === undefined || items.length < limit));
    return items;
  }

  async upload(asset: string, key: string, sourceVersionId: string): Promise<UploadProgress | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: partitionKey(asset, key), sk: `${UPLOAD}${sourceVersionId}` },
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    return {
      uploadId: Item.uploadId as string,
      partSizeBytes: Item.partSizeBytes as number,
      startedAt: Item.startedAt as string,
      ...(typeof Item.sourceEtag === 'string' && { sourceEtag: Item.sourceEtag }),
      ...(Item.sourcePartSha256 instanceof Uint8Array && { sourcePartSha256: unpackDigests(Item.sourcePartSha256) }),
      ...(typeof Item.replicaVersionId === 'string' && { replicaVersionId: Item.replicaVersionId }),
      ...(Item.verifiedParts instanceof Uint8Array && { verifiedParts: unpackPartSet(Item.verifiedParts) }),
      ...(Item.adopted === true && { adopted: true }),
    };
  }

  async saveUpload(asset: string, key: string, sourceVersionId: string, progress: UploadProgress): Promise<void> {
    const digests = progress.sourcePartSha256 && packDigests(progress.sourcePartSha256);
    const verified = progress.verifiedParts && packPartSet(progress.verifiedParts);
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: partitionKey(asset, key),
          sk: `${UPLOAD}${sourceVersionId}`,
          uploadId: progress.uploadId,
          partSizeBytes: progress.partSizeBytes,
          startedAt: progress.startedAt,
          ...(progress.sourceEtag && { sourceEtag: progress.sourceEtag }),
          ...(digests && { sourcePartSha256: digests }),
          ...(progress.replicaVersionId && { replicaVersionId: progress.replicaVersionId }),
          ...(verified && { verifiedParts: verified }),
          ...(progress.adopted && { adopted: true }),
        },
      }),
    );
  }

  async clearUpload(asset: string, key: string, sourceVersionId: string): Promise<void> {
    await this.db.send(
      new DeleteCommand({ TableName: this.table, Key: { pk: partitionKey(asset, key), sk: `${UPLOAD}${sourceVersionId}` } }),
    );
  }

  async markKeyFailed(asset: string, key: string, error: string, now: Date): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: partitionKey(asset, key), sk: KEY_FAILURE },
        UpdateExpression:
          'SET asset = :asset, #key = :key, sourceVersionId = :none, entryType = :type, #state = :failed, #size = :zero, ' +
          'sourceLastModified = if_not_exists(sourceLastModified, :now), pendingAsset = :asset, ' +
          'pendingSince = if_not_exists(pendingSince, :now), lastError = :error, lastAttemptAt = :now, ' +
          'attempts = if_not_exists(attempts, :zero) + :one',
        ExpressionAttributeNames: NAMES,
        ExpressionAttributeValues: {
          ':asset': asset,
          ':key': key,
          ':none': '(unknown)',
          ':type': 'key',
          ':failed': 'failed',
          ':zero': 0,
          ':one': 1,
          ':now': now.toISOString(),
          ':error': error,
        },
      }),
    );
  }

  async clearKeyFailure(asset: string, key: string): Promise<void> {
    await this.db.send(new DeleteCommand({ TableName: this.table, Key: { pk: partitionKey(asset, key), sk: KEY_FAILURE } }));
  }
}
