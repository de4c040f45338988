import { hash } from 'node:crypto';
import { endianness } from 'node:os';
import { z } from 'zod';
import { canonicalJson } from '../shared/json.js';
import { engines, metrics, type Metadata, type VectorRecord } from './vector-store.js';

/**
 * The engine-neutral snapshot format, specified in docs/snapshot-format.md so another tool can read
 * it. A snapshot is a prefix in the DR bucket:
 *
 *   <replica prefix>snapshots/<snapshot id>/chunks/000000.ndjson.zst  records, zstd-compressed NDJSON
 *   <replica prefix>snapshots/<snapshot id>/manifest.json              written last
 *
 * Each chunk line is {"id": string, "vector": base64 of little-endian float32, "metadata": object}.
 * A snapshot without manifest.json is incomplete and never offered for restore.
 */

export const formatName = 'ai-data-dr/vector-snapshot';
/**
 * Version 1: one scan, gzip chunks. Version 2: a scan in parts (the manifest's `partitions`), gzip.
 * Version 3: chunks compressed as the manifest's `compression` says (zstd, as written since
 * 2026-12-07, or gzip), in parts or not. A reader refuses versions it does not know, so an older
 * reader refuses a newer snapshot by its version rather than calling it corrupt.
 */
export const formatVersions = [1, 2, 3] as const;
export type FormatVersion = (typeof formatVersions)[number];
export const formatVersionOf = (compression: Compression, partitioned: boolean): FormatVersion =>
  compression === 'zstd' ? 3 : partitioned ? 2 : 1;

export const compressions = ['gzip', 'zstd'] as const;
export type Compression = (typeof compressions)[number];
/** What new snapshots are written with: zstd at level 1, four times gzip's speed on base64 at the same size. */
export const writtenCompression: Compression = 'zstd';
const chunkExtension: Record<Compression, string> = { gzip: '.ndjson.gz', zstd: '.ndjson.zst' };

export const snapshotPrefix = (replicaPrefix: string, snapshotId: string) => `${replicaPrefix}snapshots/${snapshotId}/`;
export const chunkKey = (prefix: string, sequence: number, compression: Compression) =>
  `${prefix}chunks/${String(sequence).padStart(6, '0')}${chunkExtension[compression]}`;
export const manifestKey = (prefix: string) => `${prefix}manifest.json`;
/** A chunk of one part of a partitioned snapshot: chunks/p0003-000012.ndjson.zst. */
export const partChunkKey = (prefix: string, part: string, sequence: number, compression: Compression) =>
  `${prefix}chunks/p${part}-${String(sequence).padStart(6, '0')}${chunkExtension[compression]}`;
/** Part names sort in part order: "0000", "0001", ... */
export const partName = (part: number) => String(part).padStart(4, '0');

/** Snapshot ids sort by time: 2026-11-26T15-42-07Z (colons are awkward in S3 keys and URLs). */
export const snapshotIdAt = (at: Date) =>
  at
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replaceAll(':', '-');

const littleEndian = endianness() === 'LE';

/** The vector's float32 values, little-endian (a view of the same memory on little-endian hosts). */
export function vectorBytes(vector: Float32Array): Buffer {
  if (littleEndian) return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
  const bytes = Buffer.allocUnsafe(vector.length * 4);
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i]!, i * 4);
  return bytes;
}

export function vectorFromBytes(bytes: Buffer): Float32Array {
  if (bytes.length % 4 !== 0) throw new SnapshotFormatError(`a vector of ${bytes.length} bytes is not float32`);
  if (littleEndian) return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  const vector = new Float32Array(bytes.length / 4);
  for (let i = 0; i < vector.length; i++) vector[i] = bytes.readFloatLE(i * 4);
  return vector;
}

/** One chunk line (without the newline). */
export function encodeRecord(record: VectorRecord, metadataJson = canonicalJson(record.metadata)): string {
  return encodeLines([record], [metadataJson]).subarray(0, -1).toString('utf8');
}

/**
 * The chunk lines of a page of records, each ending in a newline, as UTF-8 bytes written straight
 * into one buffer: a third of the CPU of building each line as a string and joining them (the
 * string of a page is several megabytes, and was copied into bytes again for the compressor).
 * `metadataJsons[i]` is the canonical JSON of `records[i]`'s metadata.
 */
export function encodeLines(records: readonly VectorRecord[], metadataJsons: readonly string[]): Buffer {
  const heads = records.map((record) => `{"id":${JSON.stringify(record.id)},"vector":"`);
  // UTF-8 takes at most 3 bytes per UTF-16 code unit; base64, 4 characters per 3 bytes.
  let most = 0;
  for (let i = 0; i < records.length; i++) {
    most += 3 * heads[i]!.length + 4 * Math.ceil((4 * records[i]!.vector.length) / 3) + 3 * metadataJsons[i]!.length + 16;
  }
  const out = Buffer.allocUnsafe(most);
  let at = 0;
  for (let i = 0; i < records.length; i++) {
    at += out.write(heads[i]!, at, 'utf8');
    at += out.write(vectorBytes(records[i]!.vector).toString('base64'), at, 'latin1');
    at += out.write('","metadata":', at, 'latin1');
    at += out.write(metadataJsons[i]!, at, 'utf8');
    at += out.write('}\n', at, 'latin1');
  }
  return out.subarray(0, at);
}

/** One chunk line back into a record; checked by hand (a schema library per line costs more than the rest). */
export function decodeRecord(line: string, where: string): VectorRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new SnapshotFormatError(`${where}: not a JSON line`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new SnapshotFormatError(`${where}: not a JSON object`);
  const { id, vector, metadata, ...extra } = parsed as Record<string, unknown>;
  const unknown = Object.keys(extra);
  if (unknown.length > 0) throw new SnapshotFormatError(`${where}: unknown field ${unknown.map((k) => `"${k}"`).join(', ')}`);
  if (typeof id !== 'string') throw new SnapshotFormatError(`${where}: "id" must be a string`);
  // Buffer.from skips characters that are not base64, so a foreign character shows as a short result.
  if (typeof vector !== 'string') throw new SnapshotFormatError(`${where}: "vector" must be base64`);
  const bytes = Buffer.from(vector, 'base64');
  const padding = vector.endsWith('==') ? 2 : vector.endsWith('=') ? 1 : 0;
  if (vector.length % 4 !== 0 || bytes.length !== (vector.length / 4) * 3 - padding)
    throw new SnapshotFormatError(`${where}: "vector" must be base64`);
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
    throw new SnapshotFormatError(`${where}: "metadata" must be an object`);
  return { id, vector: vectorFromBytes(bytes), metadata: metadata as Metadata };
}

/**
 * The content fingerprint: order-independent, so two engines holding the same records agree however
 * they order a scan. Per record, SHA-256 over
 *   uint32BE(byte length of id) | id (UTF-8) | uint32BE(dimensions) | vector (float32 LE) | canonical JSON of metadata (UTF-8)
 * and the fingerprint is the sum of those digests, read as 256-bit big-endian unsigned integers,
 * modulo 2^256, as 64 hex digits. A sum, not an XOR: a duplicated record changes it.
 */
let digestInput = Buffer.allocUnsafe(64 * 1024);

/**
 * One record's SHA-256 for the fingerprint. `metadataJson`: its canonical JSON, where the caller has
 * it already (a snapshot writes the same text into the chunk). The input is assembled in one buffer
 * kept between calls: no allocation per record.
 */
export function recordDigest(record: VectorRecord, metadataJson = canonicalJson(record.metadata)): Buffer {
  // UTF-8 takes at most 3 bytes per UTF-16 code unit.
  const most = 8 + 3 * record.id.length + 4 * record.vector.length + 3 * metadataJson.length;
  if (most > digestInput.length) digestInput = Buffer.allocUnsafe(most * 2);
  const input = digestInput;
  const idBytes = input.write(record.id, 4, 'utf8');
  input.writeUInt32BE(idBytes, 0);
  let at = input.writeUInt32BE(record.vector.length, 4 + idBytes);
  at += vectorBytes(record.vector).copy(input, at);
  at += input.write(metadataJson, at, 'utf8');
  return hash('sha256', input.subarray(0, at), 'buffer');
}

const hexOf256 = /^[0-9a-f]{64}$/i;

/** The sum, as eight 32-bit limbs, most significant first: additions with carries, no BigInt per record. */
export class Fingerprint {
  private readonly limbs = new Uint32Array(8);
  constructor(hex = '0'.repeat(64)) {
    this.addHex(hex);
  }
  /** `metadataJson`: the record's canonical metadata JSON, where the caller has it already. */
  add(record: VectorRecord, metadataJson?: string): void {
    const digest = recordDigest(record, metadataJson);
    let carry = 0;
    for (let i = 7; i >= 0; i--) {
      const sum = this.limbs[i]! + digest.readUInt32BE(i * 4) + carry;
      this.limbs[i] = sum; // modulo 2^32
      carry = sum > 0xffffffff ? 1 : 0;
    }
    // A carry out of the top limb is dropped: modulo 2^256.
  }
  /** Adds the fingerprint of other records (a part of a partitioned scan): the sum of both sets'. */
  merge(hex: string): void {
    this.addHex(hex);
  }
  get hex(): string {
    return Array.from(this.limbs, (limb) => limb.toString(16).padStart(8, '0')).join('');
  }
  private addHex(hex: string): void {
    if (!hexOf256.test(hex)) throw new SnapshotFormatError(`a fingerprint must be 64 hex digits, not ${JSON.stringify(hex.slice(0, 80))}`);
    let carry = 0;
    for (let i = 7; i >= 0; i--) {
      const sum = this.limbs[i]! + parseInt(hex.slice(i * 8, i * 8 + 8), 16) + carry;
      this.limbs[i] = sum;
      carry = sum > 0xffffffff ? 1 : 0;
    }
  }
}

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');
const isoTime = z.iso.datetime();

export const manifestSchema = z
  .strictObject({
    format: z.literal(formatName),
    formatVersion: z.literal(formatVersions),
    snapshotId: z.string(),
    asset: z.string(),
    engine: z.enum(engines),
    index: z.string(),
    dimensions: z.number().int().positive(),
    metric: z.enum(metrics),
    count: z.number().int().nonnegative(),
    bytes: z.number().int().nonnegative(),
    fingerprint: z.strictObject({ algorithm: z.literal('sha256-sum-mod-2^256'), value: sha256Hex }),
    embedding: z.strictObject({ model: z.string(), version: z.string() }),
    /** What the snapshot means while writes continued: see docs/snapshot-format.md. */
    consistency: z.enum(['point-in-time', 'window']),
    window: z.strictObject({ startedAt: isoTime, finishedAt: isoTime }),
    createdAt: isoTime,
    compression: z.enum(compressions),
    /** The scan ran in this many parts in parallel (the chunks of part N are named pNNNN-...); absent: one scan. */
    partitions: z.number().int().min(2).optional(),
    chunks: z.array(
      z.strictObject({
        key: z.string(),
        records: z.number().int().positive(),
        bytes: z.number().int().positive(),
        sha256: sha256Hex,
      }),
    ),
    native: z
      .strictObject({
        format: z.string(),
        id: z.string(),
        details: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
        key: z.string().optional(),
        bytes: z.number().int().nonnegative().optional(),
        sha256: sha256Hex.optional(),
      })
      .optional(),
  })
  .refine((m) => m.formatVersion === 3 || (m.partitions !== undefined) === (m.formatVersion === 2), {
    message: '"partitions" comes with formatVersion 2 or 3; formatVersion 2 comes with "partitions"',
    path: ['formatVersion'],
  })
  .refine((m) => m.formatVersion === 3 || m.compression === 'gzip', {
    message: 'zstd chunks come with formatVersion 3',
    path: ['compression'],
  });
export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestChunk = Manifest['chunks'][number];

export class SnapshotFormatError extends Error {
  override readonly name = 'SnapshotFormatError';
}

export function parseManifest(text: string, where: string): Manifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SnapshotFormatError(`${where}: manifest is not JSON`);
  }
  const result = manifestSchema.safeParse(parsed);
  if (!result.success) throw new SnapshotFormatError(`${where}: ${z.prettifyError(result.error).replaceAll('\n', ' ')}`);
  return result.data;
}
