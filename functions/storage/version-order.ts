import type { VersionEntry } from './versioned-store.js';

/**
 * S3 lists a key's versions and delete markers newest first, interleaved in one XML document, but
 * its LastModified has whole-second precision and the SDK splits the document into two arrays.
 * Chronological order is therefore: LastModified, then (for equal times) the document position,
 * newest first. `documentOrder` maps version id to its position in the listing; without it, the
 * version flagged IsLatest is last among equals and each array keeps its own order.
 */
export function chronological(
  entries: (VersionEntry & { arrayIndex: number })[],
  documentOrder?: ReadonlyMap<string, number>,
): VersionEntry[] {
  const position = (e: VersionEntry & { arrayIndex: number }) => documentOrder?.get(e.versionId) ?? e.arrayIndex;
  return [...entries]
    .sort(
      (a, b) => a.lastModified.getTime() - b.lastModified.getTime() || Number(a.isLatest) - Number(b.isLatest) || position(b) - position(a),
    )
    .map(({ arrayIndex: _ignored, ...entry }) => entry);
}

/** Version ids in the order the ListObjectVersions XML gives them (Version and DeleteMarker alike). */
export function versionIdsInDocumentOrder(xml: string): string[] {
  const ids: string[] = [];
  const element = /<(Version|DeleteMarker)>([\s\S]*?)<\/\1>/g;
  for (let m = element.exec(xml); m !== null; m = element.exec(xml)) {
    const id = /<VersionId>([^<]*)<\/VersionId>/.exec(m[2] ?? '');
    if (id?.[1] !== undefined) ids.push(id[1]);
  }
  return ids;
}
