/**
 * The port through which the live RPO of a vector-index asset reads the time of its newest verified
 * snapshot. The snapshot release provides the catalog; until then no snapshot is ever verified,
 * which is the honest answer: such an asset has no recovery point.
 */
export interface SnapshotCatalog {
  newestVerifiedSnapshotAt(asset: string): Promise<Date | undefined>;
}

export const noSnapshotsYet: SnapshotCatalog = {
  newestVerifiedSnapshotAt: async () => undefined,
};
