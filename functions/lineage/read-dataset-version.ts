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
