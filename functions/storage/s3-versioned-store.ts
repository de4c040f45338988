import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectTaggingCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandInput,
  type ListObjectVersionsCommandOutput,
  S3ServiceException,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { DeserializeMiddleware } from '@smithy/types';
import { commonPrefix, compareKeys, decodeFormKey, keyBefore } from '../shared/s3-keys.js';
import { sha256Of } from './hashing.js';
import { bucketLock, lockHeaders, type ObjectLock } from './object-lock.js';
import { chronological, versionIdsInDocumentOrder } from './version-order.js';
import type {
  CopiedPart,
  CopyRequest,
  CopyResult,
  KeyHistory,
  KeyRangeHistories,
  ObjectRef,
  PartRange,
  VersionDetails,
  VersionEntry,
  VersionedStore,
} from './versioned-store.js';

export class BucketNotVersionedError extends Error {
  override readonly name = 'BucketNotVersionedError';
}

const base64ToHex = (b64: string) => Buffer.from(b64, 'base64').toString('hex');
const retriesOf = (output: { $metadata?: { attempts?: number } }) => Math.max(0, (output.$metadata?.attempts ?? 1) - 1);

type ObjectHeaders = {
  ContentLength?: number;
  ChecksumSHA256?: string;
  ChecksumType?: string;
  ETag?: string;
  ContentType?: string;
  CacheControl?: string;
  ContentDisposition?: string;
  ContentEncoding?: string;
  ContentLanguage?: string;
  Expires?: Date;
  Metadata?: Record<string, string>;
  TagCount?: number;
};

/** A version's details from a HEAD or GET: a SHA-256 checksum counts only if it is full-object. */
function detailsOf(head: ObjectHeaders): VersionDetails {
  const checksum = head.ChecksumSHA256;
  const composite =
    head.ChecksumType === 'COMPOSITE' ||
    (checksum?.includes('-') ?? false) ||
    (head.ChecksumType !== 'FULL_OBJECT' && isMultipartEtag(head.ETag));
  return {
    size: head.ContentLength ?? 0,
    fullObjectSha256: checksum && !composite ? base64ToHex(checksum) : undefined,
    etag: head.ETag,
    contentType: head.ContentType,
    cacheControl: head.CacheControl,
    contentDisposition: head.ContentDisposition,
    contentEncoding: head.ContentEncoding,
    contentLanguage: head.ContentLanguage,
    expires: head.Expires instanceof Date && !Number.isNaN(head.Expires.getTime()) ? head.Expires : undefined,
    metadata: head.Metadata ?? {},
    ...(head.TagCount && { tagCount: head.TagCount }),
  };
}

/** CopySource of a version: the key URL-encoded segment by segment. */
const copySource = (source: ObjectRef) =>
  `${source.bucket}/${source.key.split('/').map(encodeURIComponent).join('/')}?versionId=${encodeURIComponent(source.versionId)}`;

/** The headers a version is written with: the source's, the replicator's metadata, and its lock where the bucket has Object Lock. */
const objectHeaders = ({ details, metadata, storageClass, lock }: CopyRequest, locked: boolean) => ({
  ...(locked && lockHeaders(lock)),
  Metadata: metadata,
  ContentType: details.contentType,
  CacheControl: details.cacheControl,
  ContentDisposition: details.contentDisposition,
  ContentEncoding: details.contentEncoding,
  ContentLanguage: details.contentLanguage,
  Expires: details.expires,
  StorageClass: storageClass as never,
});

/** The fields of a listed Version or DeleteMarker that ordering needs. */
type ListedVersion = { Key?: string; VersionId?: string; LastModified?: Date; IsLatest?: boolean; Size?: number };
type ListedEntry = VersionEntry & { arrayIndex: number };

/** A multipart upload's ETag is "<md5 of part md5s>-<parts>": not an MD5 of the object. */
const isMultipartEtag = (etag: string | undefined) => etag !== undefined && /-\d+"?$/.test(etag);

/**
 * Keeps the raw ListObjectVersions XML of one call, so versions and delete markers can be put in
 * the order S3 listed them (the SDK splits them into two arrays). Runs inside the deserializer.
 */
function captureRawBody<I extends object, O extends object>(sink: (text: string) => void): DeserializeMiddleware<I, O> {
  return (next) => async (args) => {
    const result = await next(args);
    const response = result.response as { body?: unknown };
    const body = response.body;
    if (body && typeof (body as Readable)[Symbol.asyncIterator] === 'function') {
      const chunks: Buffer[] = [];
      for await (const chunk of body as Readable) chunks.push(Buffer.from(chunk as Uint8Array));
      const bytes = Buffer.concat(chunks);
      sink(bytes.toString('utf8'));
      response.body = bytes;
    }
    return result;
  };
}

/** What a write target's check found (S3VersionedStore.checkTarget). */
type TargetState = 'locked' | 'unlocked' | 'lock unreadable';

/**
 * S3 adapter of the VersionedStore port, one per region. Writes that create a version
 * (CopyObject, DeleteObject, CompleteMultipartUpload) go through the `writes` client, which does not
 * retry an ambiguous failure (a retry after a lost response would add a second replica version or
 * delete marker); the next attempt adopts a copy that did land (replicate-key.ts). Part copies are
 * idempotent (a part number written twice is replaced) and use the retrying client.
 */
export class S3VersionedStore implements VersionedStore {
  /** One batch's store (forOneBatch): the checks of the write targets its writes share, by bucket. */
  private readonly checked?: Map<string, Promise<TargetState>>;

  constructor(
    private readonly s3: S3Client,
    private readonly writes: S3Client = s3,
    {
      oneBatch = false,
      locked = new Set<string>(),
    }: {
      oneBatch?: boolean;
      /** Buckets found with Object Lock on, shared by the batches of one store: it can never be turned off. */
      locked?: Set<string>;
    } = {},
  ) {
    if (oneBatch) this.checked = new Map();
    this.locked = locked;
  }

  private readonly locked: Set<string>;

  forOneBatch(): VersionedStore {
    return new S3VersionedStore(this.s3, this.writes, { oneBatch: true, locked: this.locked });
  }

  prepareWrites(bucket: string): void {
    if (this.checked) this.writeTarget(bucket).catch(() => undefined);
  }

  async listVersions(bucket: string, key: string): Promise<VersionEntry[]> {
    for await (const history of this.histories(bucket, key, undefined, (k) => k === key)) return history.versions;
    return [];
  }

  keysUnder(bucket: string, prefix: string, startAfterKey?: string): AsyncIterable<KeyHistory> {
    return this.histories(bucket, prefix, startAfterKey);
  }

  async historiesInRange(bucket: string, firstKey: string, lastKey: string, maxEntries: number): Promise<KeyRangeHistories> {
    const histories = new Map<string, VersionEntry[]>();
    // Keys sort as UTF-8 bytes: the walk starts after a prefix of the first key (which sorts before
    // it) and lists only keys that share the range's common prefix.
    const walk = this.histories(bucket, commonPrefix(firstKey, lastKey), keyBefore(firstKey), (k) => compareKeys(k, lastKey) <= 0, {
      maxKeys: maxEntries,
      maxPages: 1,
    });
    let last: string | undefined;
    for (let next = await walk.next(); ; next = await walk.next()) {
      if (next.done) return { histories, through: next.value === 'complete' ? lastKey : last };
      histories.set(next.value.key, next.value.versions);
      last = next.value.key;
    }
  }

  /**
   * Walks ListObjectVersions under a prefix and yields each key's history once all of it is read
   * (a key's versions may span pages). `accept` stops the walk at the first key it refuses: a
   * listing by a key as prefix also returns longer keys, which sort after the key itself. With
   * `maxPages`, the walk stops after that many pages without yielding the key it was reading (its
   * history may go on), and returns "partial"; otherwise it returns "complete".
   */
  private async *histories(
    bucket: string,
    prefix: string,
    startAfterKey?: string,
    accept: (key: string) => boolean = () => true,
    { maxKeys, maxPages = Infinity }: { maxKeys?: number; maxPages?: number } = {},
  ): AsyncGenerator<KeyHistory, 'complete' | 'partial'> {
    let current: { key: string; entries: ListedEntry[]; order: Map<string, number> } | undefined;
    const finish = (c: NonNullable<typeof current>): KeyHistory => ({
      key: c.key,
      versions: chronological(c.entries, c.order.size > 0 ? c.order : undefined),
    });
    let keyMarker = startAfterKey || undefined;
    let versionIdMarker: string | undefined;
    // Positions run on across pages: a later page lists older versions.
    let base = 0;
    for (;;) {
      const command = new ListObjectVersionsCommand({
        Bucket: bucket,
        Prefix: prefix,
        // Keys come back URL-encoded: XML cannot carry every character a key may hold (e.g. CR).
        EncodingType: 'url',
        KeyMarker: keyMarker,
        VersionIdMarker: versionIdMarker,
        MaxKeys: maxKeys,
      });
      let raw = '';
      command.middlewareStack.add(
        captureRawBody<ListObjectVersionsCommandInput, ListObjectVersionsCommandOutput>((text) => (raw = text)),
        {
          step: 'deserialize',
          priority: 'low',
          name: 'drCaptureVersionListing',
        },
      );
      const page = await this.s3.send(command);
      const documentOrder = new Map(versionIdsInDocumentOrder(raw).map((id, i) => [id, i] as const));
      const decode = (k: string | undefined) => (k !== undefined && page.EncodingType === 'url' ? (decodeFormKey(k) ?? k) : (k ?? ''));
      const listed: (ListedEntry & { key: string })[] = [];
      const add = (kind: VersionEntry['kind'], items: ListedVersion[], offset: number) =>
        items.forEach((item, i) =>
          listed.push({
            key: decode(item.Key),
            kind,
            versionId: item.VersionId ?? 'null',
            lastModified: item.LastModified ?? new Date(0),
            size: item.Size ?? 0,
            isLatest: item.IsLatest ?? false,
            arrayIndex: base + offset + i,
          }),
        );
      add('object', page.Versions ?? [], 0);
      add('delete-marker', page.DeleteMarkers ?? [], page.Versions?.length ?? 0);
      // Versions and delete markers come in two arrays; within the page, keys are in order.
      listed.sort((a, b) => compareKeys(a.key, b.key));
      for (const { key, ...entry } of listed) {
        if (!accept(key)) {
          if (current) yield finish(current);
          return 'complete';
        }
        if (current && current.key !== key) {
          yield finish(current);
          current = undefined;
        }
        current ??= { key, entries: [], order: new Map() };
        current.entries.push(entry);
        const position = documentOrder.get(entry.versionId);
        if (position !== undefined) current.order.set(entry.versionId, base + position);
      }
      base += listed.length;
      if (!page.IsTruncated) break;
      if (--maxPages <= 0) return 'partial';
      keyMarker = decode(page.NextKeyMarker);
      versionIdMarker = page.NextVersionIdMarker;
    }
    if (current) yield finish(current);
    return 'complete';
  }

  async describe(ref: ObjectRef): Promise<VersionDetails> {
    const head = await this.s3.send(
      new HeadObjectCommand({ Bucket: ref.bucket, Key: ref.key, VersionId: ref.versionId, ChecksumMode: 'ENABLED' }),
    );
    return detailsOf(head);
  }

  async current(bucket: string, key: string) {
    try {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
      return { ...detailsOf(head), versionId: head.VersionId ?? 'null', lastModified: head.LastModified ?? new Date(0) };
    } catch (error) {
      // 404: no such key, or its current version is a delete marker.
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
      throw error;
    }
  }

  async describeAndHash(ref: ObjectRef): Promise<VersionDetails & { sha256: string }> {
    // One request instead of HEAD then GET: the GET's headers are the HEAD's. The body is always
    // hashed, even where S3 stores a full-object SHA-256: what a copy reports may be that stored
    // value copied across, and a verification must never compare a value with itself.
    const object = await this.s3.send(
      new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key, VersionId: ref.versionId, ChecksumMode: 'ENABLED' }),
    );
    return { ...detailsOf(object), sha256: await sha256Of(object.Body as Readable) };
  }

  async sha256(ref: ObjectRef): Promise<string> {
    return sha256Of(await this.openRange(ref));
  }

  async copy(request: CopyRequest): Promise<CopyResult> {
    const locked = await this.writeTarget(request.target.bucket, request.lock);
    const { target } = request;
    const result = await this.writes.send(
      new CopyObjectCommand({
        Bucket: target.bucket,
        Key: target.key,
        CopySource: copySource(request.source),
        MetadataDirective: 'REPLACE',
        ...objectHeaders(request, locked),
        TaggingDirective: 'COPY',
        ChecksumAlgorithm: 'SHA256',
      }),
    );
    if (!result.VersionId || result.VersionId === 'null') {
      throw new BucketNotVersionedError(`copy into ${target.bucket} created no new version (versioning changed during the copy?)`);
    }
    const checksum = result.CopyObjectResult?.ChecksumSHA256;
    return { versionId: result.VersionId, sha256: checksum ? base64ToHex(checksum) : undefined, retries: retriesOf(result) };
  }

  async addDeleteMarker(bucket: string, key: string): Promise<string> {
    // Without a VersionId a delete on a versioned bucket only adds a marker; nothing is destroyed.
    await this.writeTarget(bucket);
    const result = await this.writes.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    if (!result.VersionId || result.VersionId === 'null' || result.DeleteMarker !== true) {
      throw new BucketNotVersionedError(`delete in ${bucket} did not create a delete marker`);
    }
    return result.VersionId;
  }

  async sha256Range(ref: ObjectRef, start: number, end: number): Promise<string> {
    return sha256Of(await this.openRange(ref, start, end));
  }

  async tagging(ref: ObjectRef, details: VersionDetails): Promise<string> {
    // S3 (and SeaweedFS, and the local AWS) count a version's tags in its HEAD and GET answers.
    if (!details.tagCount) return '';
    const { TagSet = [] } = await this.s3.send(new GetObjectTaggingCommand({ Bucket: ref.bucket, Key: ref.key, VersionId: ref.versionId }));
    return TagSet.map((t) => `${encodeURIComponent(t.Key ?? '')}=${encodeURIComponent(t.Value ?? '')}`).join('&');
  }

  async openRange(ref: ObjectRef, start?: number, end?: number): Promise<Readable> {
    const object = await this.s3.send(
      new GetObjectCommand({
        Bucket: ref.bucket,
        Key: ref.key,
        VersionId: ref.versionId,
        ...(start !== undefined && end !== undefined ? { Range: `bytes=${start}-${end}` } : {}),
      }),
    );
    return object.Body as Readable;
  }

  async put(request: CopyRequest & { tagging: string }, body: Readable, length: number): Promise<CopyResult> {
    const locked = await this.writeTarget(request.target.bucket, request.lock);
    const result = await this.writes.send(
      new PutObjectCommand({
        Bucket: request.target.bucket,
        Key: request.target.key,
        Body: body,
        ContentLength: length,
        ...objectHeaders(request, locked),
        ...(request.tagging ? { Tagging: request.tagging } : {}),
      }),
    );
    if (!result.VersionId || result.VersionId === 'null') {
      throw new BucketNotVersionedError(
        `write into ${request.target.bucket} created no new version (versioning changed during the write?)`,
      );
    }
    return { versionId: result.VersionId, retries: retriesOf(result) };
  }

  async uploadPart(target: { bucket: string; key: string }, uploadId: string, part: PartRange, body: Readable): Promise<CopiedPart> {
    // One attempt: a stream cannot be replayed. A failed part fails the attempt; the next one
    // resumes the upload and sends this part again (a part number written twice is replaced).
    const output = await this.writes.send(
      new UploadPartCommand({
        Bucket: target.bucket,
        Key: target.key,
        UploadId: uploadId,
        PartNumber: part.partNumber,
        Body: body,
        ContentLength: part.end - part.start + 1,
      }),
    );
    if (!output.ETag) throw new Error(`UploadPart of part ${part.partNumber} returned no ETag`);
    return { partNumber: part.partNumber, etag: output.ETag, retries: retriesOf(output) };
  }

  async createUpload(request: CopyRequest & { tagging: string; checksums: boolean }): Promise<string> {
    const locked = await this.writeTarget(request.target.bucket, request.lock);
    const { UploadId } = await this.writes.send(
      new CreateMultipartUploadCommand({
        Bucket: request.target.bucket,
        Key: request.target.key,
        ...objectHeaders(request, locked),
        ...(request.tagging ? { Tagging: request.tagging } : {}),
        ...(request.checksums ? { ChecksumAlgorithm: 'SHA256' as const } : {}),
      }),
    );
    if (!UploadId) throw new Error(`CreateMultipartUpload on ${request.target.bucket} returned no upload id`);
    return UploadId;
  }

  async copyPart(request: CopyRequest, uploadId: string, part: PartRange): Promise<CopiedPart> {
    const output = await this.s3.send(
      new UploadPartCopyCommand({
        Bucket: request.target.bucket,
        Key: request.target.key,
        UploadId: uploadId,
        PartNumber: part.partNumber,
        CopySource: copySource(request.source),
        CopySourceRange: `bytes=${part.start}-${part.end}`,
      }),
    );
    const { CopyPartResult } = output;
    if (!CopyPartResult?.ETag) throw new Error(`UploadPartCopy of part ${part.partNumber} returned no ETag`);
    const checksum = CopyPartResult.ChecksumSHA256;
    return {
      partNumber: part.partNumber,
      etag: CopyPartResult.ETag,
      retries: retriesOf(output),
      ...(checksum && { sha256: base64ToHex(checksum) }),
    };
  }

  async listParts(target: { bucket: string; key: string }, uploadId: string): Promise<CopiedPart[]> {
    const parts: CopiedPart[] = [];
    let marker: string | undefined;
    for (;;) {
      const page = await this.s3.send(
        new ListPartsCommand({ Bucket: target.bucket, Key: target.key, UploadId: uploadId, PartNumberMarker: marker }),
      );
      for (const p of page.Parts ?? []) {
        if (p.PartNumber === undefined || !p.ETag) continue;
        parts.push({ partNumber: p.PartNumber, etag: p.ETag, ...(p.ChecksumSHA256 && { sha256: base64ToHex(p.ChecksumSHA256) }) });
      }
      if (!page.IsTruncated) return parts;
      marker = page.NextPartNumberMarker;
    }
  }

  async completeUpload(target: { bucket: string; key: string }, uploadId: string, parts: CopiedPart[]): Promise<CopyResult> {
    const result = await this.writes.send(
      new CompleteMultipartUploadCommand({
        Bucket: target.bucket,
        Key: target.key,
        UploadId: uploadId,
        MultipartUpload: {
          Parts: [...parts]
            .sort((a, b) => a.partNumber - b.partNumber)
            .map((p) => ({
              PartNumber: p.partNumber,
              ETag: p.etag,
              ...(p.sha256 && { ChecksumSHA256: Buffer.from(p.sha256, 'hex').toString('base64') }),
            })),
        },
      }),
    );
    if (!result.VersionId || result.VersionId === 'null') {
      throw new BucketNotVersionedError(
        `multipart copy into ${target.bucket} created no new version (versioning changed during the copy?)`,
      );
    }
    return { versionId: result.VersionId, retries: retriesOf(result) };
  }

  async abortUpload(target: { bucket: string; key: string }, uploadId: string): Promise<void> {
    await this.writes.send(new AbortMultipartUploadCommand({ Bucket: target.bucket, Key: target.key, UploadId: uploadId }));
  }

  /**
   * Refuses to write into a bucket whose versioning is not Enabled: a write there could replace the
   * "null" version. A bucket with Object Lock on cannot have its versioning suspended (S3 refuses),
   * nor Object Lock turned off, so it is checked once per store (one GetObjectLockConfiguration)
   * and its writes carry their lock; any other bucket's versioning is checked before every write,
   * except in one batch's store (forOneBatch), whose writes share one check per bucket (concurrent
   * ones wait for the same requests); a failed check is made again. Versioning can be suspended at
   * any time: a write in between still gets no new version id back, and fails (every write checks
   * its answer), so nothing recorded as replicated can be replaced. True: Object Lock is on.
   */
  private async writeTarget(bucket: string, lock?: ObjectLock): Promise<boolean> {
    if (this.locked.has(bucket)) return true;
    let check: Promise<TargetState> | undefined = this.checked?.get(bucket);
    if (!check) {
      check = this.checkTarget(bucket);
      if (this.checked) {
        this.checked.set(bucket, check);
        check.catch(() => this.checked!.delete(bucket));
      }
    }
    const state = await check;
    if (state === 'lock unreadable' && lock) {
      throw new Error(
        `cannot read the Object Lock configuration of ${bucket} (access denied); refusing to write a version that must be locked`,
      );
    }
    return state === 'locked';
  }

  /**
   * A bucket whose Object Lock configuration this role may not read (a restore target of another
   * account, whose bucket policy grants less) is treated as unlocked and its versioning checked: fine
   * for writes that carry no lock, refused (writeTarget) for those that must be locked.
   */
  private async checkTarget(bucket: string): Promise<TargetState> {
    const lock = await bucketLock(this.s3, bucket).catch((error: unknown) => {
      if (error instanceof S3ServiceException && error.name === 'AccessDenied') return undefined;
      throw error;
    });
    if (lock?.enabled) {
      this.locked.add(bucket);
      return 'locked';
    }
    const { Status } = await this.s3.send(new GetBucketVersioningCommand({ Bucket: bucket }));
    if (Status !== 'Enabled') {
      throw new BucketNotVersionedError(
        `replica bucket ${bucket} has versioning ${Status ?? 'never enabled'}; refusing to write (overwrites would destroy data)`,
      );
    }
    return lock ? 'unlocked' : 'lock unreadable';
  }
}
