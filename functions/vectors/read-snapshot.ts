import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import {
  decodeRecord,
  Fingerprint,
  manifestKey,
  parseManifest,
  SnapshotFormatError,
  type Manifest,
  type ManifestChunk,
} from './snapshot-format.js';
import type { SnapshotObjects } from './snapshot-objects.js';
import type { VectorRecord } from './vector-store.js';

const gunzipAsync = promisify(gunzip);

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
  chunk: ManifestChunk,
  dimensions: number,
): Promise<VectorRecord[]> {
  return decodeChunk(`${prefix}${chunk.key}`, await objects.get(`${prefix}${chunk.key}`), chunk, dimensions);
}

async function decodeChunk(key: string, body: Buffer | undefined, chunk: ManifestChunk, dimensions: number): Promise<VectorRecord[]> {
  if (!body) throw new SnapshotCorruptError(`${key}: chunk is missing`);
  const sha256 = createHash('sha256').update(body).digest('hex');
  if (sha256 !== chunk.sha256) throw new SnapshotCorruptError(`${key}: SHA-256 ${sha256} does not match the manifest's ${chunk.sha256}`);
  let text: string;
  try {
    text = (await gunzipAsync(body)).toString('utf8');
  } catch {
    throw new SnapshotCorruptError(`${key}: not gzip data`);
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
export type SnapshotContents = Pick<Manifest, 'chunks' | 'count' | 'dimensions'> & { fingerprint: { value: string } };

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
    for (const record of await decodeChunk(`${prefix}${chunk.key}`, body, chunk, manifest.dimensions)) {
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
