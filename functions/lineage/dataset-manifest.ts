import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * A dataset version (docs/lineage.md): an immutable manifest of an object asset, or a prefix of it,
 * as of a time. Files in the asset's replica bucket, under the policy's lineage prefix:
 *
 *   <lineage prefix>datasets/<asset>/<id>/part-000000.ndjson   one line per key, in key order
 *   <lineage prefix>datasets/<asset>/<id>/manifest.json        written last: totals and every part
 *
 * A line names a key's version as of the time: its source version id, the replica version that
 * holds it, its size and SHA-256 as verified in the replica (for a large object whose source
 * stored no full-object checksum, the SHA-256 of its parts' SHA-256s and the part size, as the
 * ledger keeps it: docs/architecture.md#large-objects). manifest.json names each part by key,
 * S3 version id and SHA-256; the dataset version's own SHA-256 is that of manifest.json's bytes, so
 * it changes if any line of any part does. Nothing else is needed to read it: it is readable with
 * the primary region down.
 */

export const formatName = 'ai-data-dr/dataset-version';
export const formatVersion = 1;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

export const manifestLineSchema = z
  .strictObject({
    key: z.string(),
    sourceVersionId: z.string(),
    replicaKey: z.string(),
    replicaVersionId: z.string(),
    size: z.number().int().nonnegative(),
    /** SHA-256 of the whole object; or, for a large object whose source stored none, the ledger's composite of its parts. */
    sha256: sha256Hex.optional(),
    /** `<hex SHA-256 of the parts' SHA-256s>-<parts>`, as the ledger keeps it. */
    sha256Composite: z
      .string()
      .regex(/^[0-9a-f]{64}-\d+$/)
      .optional(),
    partSizeBytes: z.number().int().positive().optional(),
  })
  .refine(
    (l) => l.sha256 !== undefined || (l.sha256Composite !== undefined && l.partSizeBytes !== undefined),
    'needs sha256, or sha256Composite and partSizeBytes',
  );
export type ManifestLine = z.infer<typeof manifestLineSchema>;

export const partSchema = z.strictObject({
  key: z.string(),
  versionId: z.string(),
  lines: z.number().int().positive(),
  sha256: sha256Hex,
});
export type ManifestPart = z.infer<typeof partSchema>;

export const datasetManifestSchema = z.strictObject({
  format: z.literal(formatName),
  formatVersion: z.literal(formatVersion),
  id: z.string(),
  asset: z.string(),
  name: z.string().optional(),
  /** The source prefix the version covers (the asset's whole prefix, or one inside it). */
  prefix: z.string(),
  asOf: z.iso.datetime(),
  createdAt: z.iso.datetime(),
  keys: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  parts: z.array(partSchema),
});
export type DatasetManifest = z.infer<typeof datasetManifestSchema>;

export const datasetFolder = (lineagePrefix: string, asset: string, id: string) => `${lineagePrefix}datasets/${asset}/${id}/`;
export const partKey = (folder: string, index: number) => `${folder}part-${String(index).padStart(6, '0')}.ndjson`;
export const manifestKey = (folder: string) => `${folder}manifest.json`;

export const sha256Of = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** A part's bytes: one JSON line per key. */
export const encodePart = (lines: readonly ManifestLine[]) => Buffer.from(lines.map((l) => `${JSON.stringify(l)}\n`).join(''), 'utf8');

/**
 * A dataset version's id, from what it is of: the same request names the same version (a retry
 * continues it rather than starting another). `<asOf, compact>-<8 hex digits of the request>`.
 */
export function datasetVersionId(request: { asset: string; prefix: string; asOf: string; name?: string }): string {
  const digest = sha256Of(Buffer.from(JSON.stringify([request.asset, request.prefix, request.asOf, request.name ?? null]))).slice(0, 8);
  return `${request.asOf.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${digest}`;
}
