import {
  datasetManifestSchema,
  manifestLineSchema,
  sha256Of,
  type DatasetManifest,
  type ManifestLine,
  type ManifestPart,
} from './dataset-manifest.js';
import type { DatasetObjects } from './dataset-objects.js';

/**
 * Reading a dataset version back from the replica bucket (dataset-manifest.ts), each file by the
 * version id that pins it and checked against its digest: manifest.json against the digest a model
 * record keeps, each part against manifest.json. A file that does not match is never used.
 */
export class DatasetVersionIntegrityError extends Error {
  override readonly name = 'DatasetVersionIntegrityError';
}

/** Where a dataset version's manifest is, and the digest it must have. */
export interface ManifestRef {
  asset: string;
  id: string;
  manifestKey: string;
  manifestVersionId: string;
  sha256: string;
}

/** A complete catalog entry's manifest, as the entry names it. */
export const manifestRefOf = (entry: {
  asset: string;
  id: string;
  manifestKey?: string;
  manifestVersionId?: string;
  sha256?: string;
}): ManifestRef => ({
  asset: entry.asset,
  id: entry.id,
  manifestKey: entry.manifestKey!,
  manifestVersionId: entry.manifestVersionId!,
  sha256: entry.sha256!,
});

export async function readManifest(objects: DatasetObjects, ref: ManifestRef): Promise<DatasetManifest> {
  const where = `dataset version ${ref.asset}/${ref.id} (s3://${objects.bucket}/${ref.manifestKey} version ${ref.manifestVersionId})`;
  const body = await objects.get(ref.manifestKey, ref.manifestVersionId);
  const actual = sha256Of(body);
  if (actual !== ref.sha256) throw new DatasetVersionIntegrityError(`${where}: manifest.json has SHA-256 ${actual}, not ${ref.sha256}`);
  const parsed = datasetManifestSchema.safeParse(JSON.parse(body.toString('utf8')));
  if (!parsed.success) throw new DatasetVersionIntegrityError(`${where}: manifest.json is not a dataset version: ${parsed.error.message}`);
  if (parsed.data.asset !== ref.asset || parsed.data.id !== ref.id)
    throw new DatasetVersionIntegrityError(`${where}: manifest.json is of ${parsed.data.asset}/${parsed.data.id}`);
  return parsed.data;
}

/** The lines of one part of a manifest read by readManifest (about 10 MB at most: 50,000 lines). */
export async function readPart(objects: DatasetObjects, ref: ManifestRef, part: ManifestPart): Promise<ManifestLine[]> {
  const key = ref.manifestKey.replace(/manifest\.json$/, '') + part.key;
  const where = `dataset version ${ref.asset}/${ref.id}: part s3://${objects.bucket}/${key} version ${part.versionId}`;
  const body = await objects.get(key, part.versionId);
  const actual = sha256Of(body);
  if (actual !== part.sha256) throw new DatasetVersionIntegrityError(`${where} has SHA-256 ${actual}, not ${part.sha256}`);
  const lines = body.toString('utf8').split('\n').slice(0, -1);
  if (lines.length !== part.lines) throw new DatasetVersionIntegrityError(`${where} has ${lines.length} lines, not ${part.lines}`);
  return lines.map((line, i) => {
    const parsed = manifestLineSchema.safeParse(JSON.parse(line));
    if (!parsed.success) throw new DatasetVersionIntegrityError(`${where}, line ${i + 1}: ${parsed.error.message}`);
    return parsed.data;
  });
}

/** Where a walk of one dataset version's lines stands: the next line. */
export interface ManifestPosition {
  part: number;
  line: number;
}

/**
 * Walks a dataset version's lines from `from`, `batchSize` at a time, a part in memory at a time.
 * `handle` returns how many lines of its batch it finished (fewer: stop there, to go on later);
 * the walk also stops, before a part or batch, when `short()` says the invocation runs short.
 */
export async function walkManifest(
  objects: DatasetObjects,
  ref: ManifestRef,
  from: ManifestPosition,
  batchSize: number,
  short: () => boolean,
  handle: (batch: ManifestLine[], at: ManifestPosition) => Promise<number>,
): Promise<{ done: boolean; at: ManifestPosition }> {
  const manifest = await readManifest(objects, ref);
  let at = { ...from };
  while (at.part < manifest.parts.length) {
    if (short()) return { done: false, at };
    const lines = await readPart(objects, ref, manifest.parts[at.part]!);
    while (at.line < lines.length) {
      if (short()) return { done: false, at };
      const batch = lines.slice(at.line, at.line + batchSize);
      const finished = await handle(batch, at);
      at = { ...at, line: at.line + finished };
      if (finished < batch.length) return { done: false, at };
    }
    at = { part: at.part + 1, line: 0 };
  }
  return { done: true, at };
}

/**
 * Reads a dataset version's lines forward in key order (as a manifest holds them), a part in
 * memory at a time: `find(key)` answers the line of `key` if the version has one, for keys asked in
 * ascending order. Used to tell whether another dataset version names the same replica version.
 */
export class ManifestCursor {
  private manifest?: DatasetManifest;
  private lines: ManifestLine[] = [];
  private part = -1;
  private index = 0;

  constructor(
    private readonly objects: DatasetObjects,
    readonly ref: ManifestRef,
  ) {}

  async find(key: string): Promise<ManifestLine | undefined> {
    this.manifest ??= await readManifest(this.objects, this.ref);
    for (;;) {
      while (this.index < this.lines.length) {
        const line = this.lines[this.index]!;
        const order = Buffer.compare(Buffer.from(line.key), Buffer.from(key)); // S3's order: UTF-8 bytes
        if (order === 0) return line;
        if (order > 0) return undefined;
        this.index++;
      }
      if (this.part + 1 >= this.manifest.parts.length) return undefined;
      this.part++;
      this.lines = await readPart(this.objects, this.ref, this.manifest.parts[this.part]!);
      this.index = 0;
    }
  }
}
