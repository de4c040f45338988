import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, zstdDecompress } from 'node:zlib';
import {
  type Compression,
  decodeRecord,
  Fingerprint,
  manifestKey,
  parseManifest,
  SnapshotFormatError,
  type Manifest,
  type ManifestChunk,
} from './snapshot-format.js';
import type { SnapshotObjects, StoredObject } from './snapshot-objects.js';
import type { VectorRecord } from './vector-store.js';

const decompress: Record<Compression, (body: Buffer) => Promise<Buffer>> = { gzip: promisify(gunzip), zstd: promisify(zstdDecompress) };

/** What reading a chunk needs from its manifest: how its records are compressed and how long a vector is. */
export type ChunkFormat = Pick<Manifest, 'compression' | 'dimensions'>;

/** A snapshot file is missing or does not match its manifest: the snapshot must not be used. */
export class SnapshotCorruptError extends Error {
  override readonly name = 'SnapshotCorruptError';
}

/** The manifest of the snapshot under `prefix`; undefined when there is none (an incomplete snapshot). */
export async function readManifest(objects: SnapshotObjects, prefix: string): Promise<Manifest | undefined> {
  const body = await objects.get(manifestKey(prefix));
  if (!body) return undefined;
  try {
    return parseManifest(body.toString('utf8'), manifestKey(prefix));
  } catch (error) {
    if (error instanceof SnapshotFormatError) throw new SnapshotCorruptError(error.message);
    throw error;
  }
}

/**
 * The records of one chunk, after checking its SHA-256 and record count against the manifest.
 * Memory holds one chunk at a time.
 */
export async function readChunk(
  objects: SnapshotObjects,
  prefix: string,
  format: ChunkFormat,
  chunk: ManifestChunk,
): Promise<VectorRecord[]> {
  return decodeChunk(`${prefix}${chunk.key}`, await objects.get(`${prefix}${chunk.key}`), format, chunk);
}

async function decodeChunk(
  key: string,
  body: Buffer | undefined,
  { compression, dimensions }: ChunkFormat,
  chunk: ManifestChunk,
): Promise<VectorRecord[]> {
  if (!body) throw new SnapshotCorruptError(`${key}: chunk is missing`);
  const sha256 = createHash('sha256').update(body).digest('hex');
  if (sha256 !== chunk.sha256) throw new SnapshotCorruptError(`${key}: SHA-256 ${sha256} does not match the manifest's ${chunk.sha256}`);
  let text: string;
  try {
    text = (await decompress[compression](body)).toString('utf8');
  } catch {
    throw new SnapshotCorruptError(`${key}: not ${compression} data`);
  }
  const lines = text.split('\n').filter((line) => line !== '');
  if (lines.length !== chunk.records) {
    throw new SnapshotCorruptError(`${key}: holds ${lines.length} records, the manifest says ${chunk.records}`);
  }
  return lines.map((line, i) => {
    let record: VectorRecord;
    try {
      record = decodeRecord(line, `${key} line ${i + 1}`);
    } catch (error) {
      if (error instanceof SnapshotFormatError) throw new SnapshotCorruptError(error.message);
      throw error;
    }
    if (record.vector.length !== dimensions) {
      throw new SnapshotCorruptError(
        `${key} line ${i + 1}: vector has ${record.vector.length} dimensions, the manifest says ${dimensions}`,
      );
    }
    return record;
  });
}

export interface VerifyProgress {
  nextChunk: number;
  count: number;
  fingerprint: string;
}

/** What a read-back checks: a whole snapshot's manifest, or the chunks of one part and its checkpoint. */
export type SnapshotContents = Pick<Manifest, 'chunks' | 'count'> & ChunkFormat & { fingerprint: { value: string } };

/**
 * Reads every chunk back, checks each SHA-256, and recomputes the count and content fingerprint.
 * Resumable: returns progress when `hasTime()` turns false before the last chunk.
 */
export async function verifySnapshotFiles(
  objects: SnapshotObjects,
  prefix: string,
  manifest: SnapshotContents,
  hasTime: () => boolean,
  from: VerifyProgress = { nextChunk: 0, count: 0, fingerprint: new Fingerprint().hex },
): Promise<{ done: true } | { done: false; progress: VerifyProgress }> {
  const fingerprint = new Fingerprint(from.fingerprint);
  let count = from.count;
  // The next chunk downloads while this one is checked.
  const fetch = (i: number) => {
    const body = i < manifest.chunks.length ? objects.get(`${prefix}${manifest.chunks[i]!.key}`) : Promise.resolve(undefined);
    body.catch(() => undefined);
    return body;
  };
  let next = fetch(from.nextChunk);
  for (let i = from.nextChunk; i < manifest.chunks.length; i++) {
    if (!hasTime()) return { done: false, progress: { nextChunk: i, count, fingerprint: fingerprint.hex } };
    const body = await next;
    next = fetch(i + 1);
    const chunk = manifest.chunks[i]!;
    for (const record of await decodeChunk(`${prefix}${chunk.key}`, body, manifest, chunk)) {
      fingerprint.add(record);
      count++;
    }
  }
  if (count !== manifest.count)
    throw new SnapshotCorruptError(`${prefix}: chunks hold ${count} records, the manifest says ${manifest.count}`);
  if (fingerprint.hex !== manifest.fingerprint.value) {
    throw new SnapshotCorruptError(
      `${prefix}: content fingerprint ${fingerprint.hex} does not match the manifest's ${manifest.fingerprint.value}`,
    );
  }
  return { done: true };
}

/** The chunks' heads (S3's SHA-256, size, what the writer recorded), 16 requests at a time; undefined: no such object. */
export async function headChunks(objects: SnapshotObjects, keys: string[]): Promise<(StoredObject | undefined)[]> {
  const heads: (StoredObject | undefined)[] = new Array(keys.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < keys.length; i = next++) heads[i] = await objects.head(keys[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(16, keys.length) }, worker));
  return heads;
}

/**
 * Verifies the snapshot (or part) from what S3 stores of each chunk, without downloading it all again:
 * - S3's own SHA-256 of each chunk's bytes, computed when it was written (a PutObject whose bytes do
 *   not hash to the SHA-256 it names is refused: BadDigest), equals the manifest's, and so does its size;
 * - the record counts and content fingerprints the writer stored with each chunk add up to the
 *   manifest's count and fingerprint (the scan's, summed as it went);
 * - one chunk, chosen by the prefix (so successive snapshots check different positions), is
 *   downloaded, hashed and decoded, and its records give its stored count and fingerprint: the
 *   encoding is checked against real output on every snapshot.
 * Returns false, having found nothing wrong, when a chunk lacks S3's SHA-256 or its stored
 * fingerprint (a store that keeps no checksums, chunks written before fingerprints were stored):
 * such a snapshot is read back whole (verifySnapshotFiles). Throws SnapshotCorruptError otherwise.
 */
export async function checkStoredChunks(objects: SnapshotObjects, prefix: string, contents: SnapshotContents): Promise<boolean> {
  const heads = await headChunks(
    objects,
    contents.chunks.map((chunk) => `${prefix}${chunk.key}`),
  );
  const fingerprint = new Fingerprint();
  let count = 0;
  for (const [i, chunk] of contents.chunks.entries()) {
    const key = `${prefix}${chunk.key}`;
    const head = heads[i];
    if (!head) throw new SnapshotCorruptError(`${key}: chunk is missing`);
    if (!head.sha256 || !head.metadata.fingerprint) return false;
    if (head.sha256 !== chunk.sha256)
      throw new SnapshotCorruptError(
        `${key}: S3's SHA-256 of the stored chunk ${head.sha256} does not match the manifest's ${chunk.sha256}`,
      );
    if (head.bytes !== chunk.bytes || Number(head.metadata.records) !== chunk.records)
      throw new SnapshotCorruptError(
        `${key}: stored as ${head.bytes} bytes of ${head.metadata.records} records, the manifest says ${chunk.bytes} bytes of ${chunk.records}`,
      );
    fingerprint.merge(head.metadata.fingerprint);
    count += chunk.records;
  }
  if (count !== contents.count)
    throw new SnapshotCorruptError(`${prefix}: chunks hold ${count} records, the manifest says ${contents.count}`);
  if (fingerprint.hex !== contents.fingerprint.value)
    throw new SnapshotCorruptError(
      `${prefix}: the chunks' fingerprints sum to ${fingerprint.hex}, not the manifest's ${contents.fingerprint.value}`,
    );
  if (contents.chunks.length > 0) {
    const i = createHash('sha256').update(prefix).digest().readUInt32BE(0) % contents.chunks.length;
    const chunk = contents.chunks[i]!;
    const sampled = new Fingerprint();
    for (const record of await readChunk(objects, prefix, contents, chunk)) sampled.add(record);
    if (sampled.hex !== heads[i]!.metadata.fingerprint)
      throw new SnapshotCorruptError(
        `${prefix}${chunk.key}: its records' fingerprint ${sampled.hex} does not match the one stored with it, ${heads[i]!.metadata.fingerprint}`,
      );
  }
  return true;
}

/**
 * Verifies a snapshot (or part): from S3's stored checksums and one chunk read back
 * (checkStoredChunks), or, where the store does not allow that or a whole read-back is under way
 * (`from`), by reading every chunk back (verifySnapshotFiles). Not done without `progress`: no time
 * was left to start (the next invocation starts over).
 */
export async function verifySnapshot(
  objects: SnapshotObjects,
  prefix: string,
  contents: SnapshotContents,
  hasTime: () => boolean,
  from?: VerifyProgress,
): Promise<{ done: true } | { done: false; progress?: VerifyProgress }> {
  if (!from) {
    if (!hasTime()) return { done: false };
    if (await checkStoredChunks(objects, prefix, contents)) return { done: true };
  }
  return verifySnapshotFiles(objects, prefix, contents, hasTime, from);
}
