import { newestVerified, type SnapshotCatalogStore } from '../vectors/snapshot-catalog.js';

/**
 * The port through which the live RPO of a vector-index asset reads its recovery point: the time
 * its newest verified snapshot started (a snapshot taken over a window holds every record written
 * before the window started; see docs/snapshot-format.md).
 */
export interface SnapshotCatalog {
  newestVerifiedSnapshotAt(asset: string): Promise<Date | undefined>;
}

export function recoveryPointsFrom(catalog: SnapshotCatalogStore): SnapshotCatalog {
  return {
    async newestVerifiedSnapshotAt(asset) {
      const entry = await newestVerified(catalog, asset);
      return entry ? new Date(entry.startedAt) : undefined;
    },
  };
}
