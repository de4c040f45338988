import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../functions/shared/json.js';
import {
  chunkKey,
  decodeRecord,
  encodeLines,
  encodeRecord,
  Fingerprint,
  formatVersionOf,
  parseManifest,
  partChunkKey,
  SnapshotFormatError,
  snapshotIdAt,
} from '../../../functions/vectors/snapshot-format.js';
import type { VectorRecord } from '../../../functions/vectors/vector-store.js';

const records: VectorRecord[] = [
  { id: 'doc-1', vector: new Float32Array([1, -2, 0.5]), metadata: { title: 'Ünïcode', lang: 'en' } },
  { id: '42', vector: new Float32Array([0.25, 0, -0.125]), metadata: { tags: ['a', 'b'], n: { z: 1, a: 2 } } },
];

const fingerprintOf = (list: VectorRecord[]) => {
  const fingerprint = new Fingerprint();
  list.forEach((r) => fingerprint.add(r));
  return fingerprint.hex;
};

describe('the snapshot format', () => {
  it('computes the fingerprint docs/snapshot-format.md specifies (cross-checked with Python hashlib and struct)', () => {
    // python3: sum(sha256(>I len(id) | id | >I dims | <f... | json.dumps(meta, sort_keys, compact)) ) mod 2^256
    expect(fingerprintOf(records)).toBe('827397189906e205bef9dffc9d4f87a56419498696b68338ea582bea8e871594');
    expect(fingerprintOf(records.slice(0, 1))).toBe('9de223ec00cdd576a4bf27960605418fa6375f7eb8776df504241238396e9c38');
  });

  it('is independent of order, and changes with a duplicate, a flipped bit, or other metadata', () => {
    const base = fingerprintOf(records);
    expect(fingerprintOf([...records].reverse())).toBe(base);
    expect(fingerprintOf([...records, records[0]!])).not.toBe(base);
    const flipped = new Float32Array(records[0]!.vector);
    new Uint32Array(flipped.buffer)[2]! ^= 1;
    expect(fingerprintOf([{ ...records[0]!, vector: flipped }, records[1]!])).not.toBe(base);
    expect(fingerprintOf([{ ...records[0]!, metadata: { title: 'Ünïcode', lang: 'de' } }, records[1]!])).not.toBe(base);
    expect(new Fingerprint().hex).toBe('0'.repeat(64));
  });

  it('adds modulo 2^256 with every carry, as BigInt arithmetic does, and refuses a fingerprint that is not 64 hex digits', () => {
    const big = (hex: string) => BigInt(`0x${hex}`);
    const max = 'f'.repeat(64);
    const wrapped = new Fingerprint(max);
    wrapped.merge(`${'0'.repeat(63)}1`);
    expect(wrapped.hex).toBe('0'.repeat(64));
    // Carries through limbs (0x…ffffffff + 1 at every 32-bit boundary), then the records on top.
    const a = '00000001ffffffff00000000ffffffffffffffff0000000100000002ffffffff';
    const b = 'ffffffff00000001ffffffff000000010000000100000000fffffffe00000001';
    const sum = new Fingerprint(a);
    sum.merge(b);
    expect(sum.hex).toBe(((big(a) + big(b)) % (1n << 256n)).toString(16).padStart(64, '0'));
    records.forEach((r) => sum.add(r));
    expect(sum.hex).toBe(((big(a) + big(b) + big(fingerprintOf(records))) % (1n << 256n)).toString(16).padStart(64, '0'));
    expect(() => new Fingerprint('xyz')).toThrow(SnapshotFormatError);
    expect(() => sum.merge('0'.repeat(63))).toThrow(/a fingerprint must be 64 hex digits/);
  });

  it('resumes a fingerprint from its hex, as a checkpoint does', () => {
    const first = new Fingerprint();
    first.add(records[0]!);
    const resumed = new Fingerprint(first.hex);
    resumed.add(records[1]!);
    expect(resumed.hex).toBe(fingerprintOf(records));
  });

  it('writes lines with sorted metadata keys and reads them back exactly, -0 and subnormals included', () => {
    const odd: VectorRecord = {
      id: 'x',
      vector: new Float32Array([-0, 1e-45, 3.4028234663852886e38]),
      metadata: { b: 1, a: [true, null] },
    };
    const line = encodeRecord(odd);
    expect(line).toBe(`{"id":"x","vector":"${Buffer.from(odd.vector.buffer).toString('base64')}","metadata":{"a":[true,null],"b":1}}`);
    const back = decodeRecord(line, 'line 1');
    expect(new Uint32Array(back.vector.buffer)).toEqual(new Uint32Array(odd.vector.buffer));
    expect(back.metadata).toEqual(odd.metadata);
    expect(canonicalJson({ z: { y: 1, x: [{ b: 2, a: 1 }] }, a: 'é' })).toBe('{"a":"é","z":{"x":[{"a":1,"b":2}],"y":1}}');
  });

  it('writes a page as its lines, each ending in a newline, in UTF-8: ids and metadata beyond ASCII, escapes and odd vector lengths', () => {
    const page: VectorRecord[] = [
      ...records,
      { id: 'ü"\\/\n€😀', vector: new Float32Array([1, 2]), metadata: { ключ: 'värde 😀', q: '"\u0001' } },
      { id: '', vector: new Float32Array([0.1]), metadata: {} },
    ];
    const jsons = page.map((r) => canonicalJson(r.metadata));
    const lines = page.map(
      (r) =>
        `{"id":${JSON.stringify(r.id)},"vector":"${Buffer.from(r.vector.buffer).toString('base64')}","metadata":${canonicalJson(r.metadata)}}`,
    );
    expect(encodeLines(page, jsons).toString('utf8')).toBe(`${lines.join('\n')}\n`);
    expect(encodeLines(page, jsons).equals(Buffer.from(`${lines.join('\n')}\n`, 'utf8'))).toBe(true);
    expect(page.map((r) => encodeRecord(r))).toEqual(lines);
    expect(encodeLines([], []).length).toBe(0);
    const back = decodeRecord(encodeRecord(page[2]!), 'line 3');
    expect(back).toEqual({ ...page[2]!, vector: page[2]!.vector });
  });

  it('refuses a malformed line with one error naming where and what', () => {
    const good = encodeRecord(records[0]!);
    const cases: [string, string][] = [
      ['not json', 'chunks/000001.ndjson.zst line 7: not a JSON line'],
      ['[1,2]', 'chunks/000001.ndjson.zst line 7: not a JSON object'],
      [good.replace('"id":"doc-1"', '"id":1'), '"id" must be a string'],
      [good.replace('"vector":"', '"vector":"#'), '"vector" must be base64'],
      [good.replace('"vector":"', '"vector":"A'), '"vector" must be base64'],
      [good.replace('"metadata":{', '"extra":1,"metadata":{'), 'unknown field "extra"'],
      [good.replace(/"metadata":\{.*\}\}$/, '"metadata":[]}'), '"metadata" must be an object'],
    ];
    for (const [line, message] of cases) {
      expect(() => decodeRecord(line, 'chunks/000001.ndjson.zst line 7')).toThrow(SnapshotFormatError);
      expect(() => decodeRecord(line, 'chunks/000001.ndjson.zst line 7')).toThrow(message);
    }
  });

  it('refuses a manifest of another format version, naming the field', () => {
    expect(() => parseManifest('{"format":"ai-data-dr/vector-snapshot","formatVersion":4}', 'snapshots/x/manifest.json')).toThrow(
      /snapshots\/x\/manifest.json: .*formatVersion/,
    );
    expect(() => parseManifest('nope', 'm.json')).toThrow('m.json: manifest is not JSON');
  });

  it('reads versions 1 and 2 (gzip, one scan or parts) and 3 (gzip or zstd, either), and refuses a version that does not match its fields', () => {
    const manifest = (fields: Record<string, unknown>) =>
      JSON.stringify({
        format: 'ai-data-dr/vector-snapshot',
        snapshotId: '2026-11-26T15-42-07Z',
        asset: 'kb',
        engine: 'lancedb',
        index: 'kb',
        dimensions: 3,
        metric: 'cosine',
        count: 0,
        bytes: 0,
        fingerprint: { algorithm: 'sha256-sum-mod-2^256', value: '0'.repeat(64) },
        embedding: { model: 'e5', version: 'v1' },
        consistency: 'point-in-time',
        window: { startedAt: '2026-11-26T15:42:07Z', finishedAt: '2026-11-26T15:43:07Z' },
        createdAt: '2026-11-26T15:43:07Z',
        chunks: [],
        ...fields,
      });
    const read = (fields: Record<string, unknown>) => parseManifest(manifest(fields), 'm.json');
    for (const fields of [
      { formatVersion: 1, compression: 'gzip' },
      { formatVersion: 2, compression: 'gzip', partitions: 4 },
      { formatVersion: 3, compression: 'zstd' },
      { formatVersion: 3, compression: 'zstd', partitions: 4 },
      { formatVersion: 3, compression: 'gzip' },
    ]) {
      expect(read(fields)).toMatchObject(fields);
    }
    expect(() => read({ formatVersion: 1, compression: 'zstd' })).toThrow(/m\.json: .*zstd chunks come with formatVersion 3.*compression/);
    expect(() => read({ formatVersion: 2, compression: 'zstd', partitions: 4 })).toThrow(/zstd chunks come with formatVersion 3/);
    expect(() => read({ formatVersion: 1, compression: 'gzip', partitions: 4 })).toThrow(/"partitions" comes with formatVersion 2 or 3/);
    expect(() => read({ formatVersion: 2, compression: 'gzip' })).toThrow(/formatVersion 2 comes with "partitions"/);
    expect(() => read({ formatVersion: 3, compression: 'brotli' })).toThrow(/m\.json: .*compression/);
  });

  it('names chunks by their compression', () => {
    expect(chunkKey('p/', 12, 'zstd')).toBe('p/chunks/000012.ndjson.zst');
    expect(chunkKey('p/', 12, 'gzip')).toBe('p/chunks/000012.ndjson.gz');
    expect(partChunkKey('p/', '0003', 1, 'zstd')).toBe('p/chunks/p0003-000001.ndjson.zst');
    expect(formatVersionOf('zstd', false)).toBe(3);
    expect(formatVersionOf('gzip', true)).toBe(2);
    expect(formatVersionOf('gzip', false)).toBe(1);
  });

  it('names snapshots by their start time, sortable and free of colons', () => {
    expect(snapshotIdAt(new Date('2026-11-26T15:42:07.123Z'))).toBe('2026-11-26T15-42-07Z');
  });
});
