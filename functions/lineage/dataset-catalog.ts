import type { ManifestPart } from './dataset-manifest.js';

/** A dataset version in the catalog (the ledger table, pk "DATASET#<asset>", sk its id). */
export interface DatasetVersionEntry {
  asset: string;
  id: string;
  name?: string;
  prefix: string;
  asOf: string;
  /** building: parts are being written; complete: manifest.json is written; refused: a version in it is not verified in the replica. */
  state: 'building' | 'complete' | 'refused';
  createdAt: string;
  finishedAt?: string;
  keys: number;
  bytes: number;
  /** The parts written so far, in order (their S3 version ids pin them). */
  parts: ManifestPart[];
  /** Steps committed so far (one per invocation that saved progress): two invocations of one build never both commit one. */
  steps: number;
  /** The replica key after which the build continues. */
  afterKey?: string;
  /** Where the dataset version is: the replica bucket and manifest.json's key and version. */
  bucket: string;
  manifestKey?: string;
  manifestVersionId?: string;
  /** SHA-256 of manifest.json: the dataset version's own digest. */
  sha256?: string;
  /**
   * Versions as of the time the replica cannot vouch for (a refused build): `pending` in the
   * ledger (not replicated yet, or failed), or replicated `withoutDigest` (no SHA-256 the DR region
   * can check: a large object replicated while the ledger was lost).
   */
  unverified?: { pending: number; withoutDigest: number; examples: string[] };
  reason?: string;
}

export interface DatasetCatalog {
  /** Adds an entry; false when one with its id exists. */
  begin(entry: DatasetVersionEntry): Promise<boolean>;
  /** Starts a refused entry again (replication may have caught up); false when it is no longer refused. */
  restart(entry: DatasetVersionEntry): Promise<boolean>;
  /**
   * Replaces a building entry with `entry` (its next step: progress, complete or refused) only if
   * no other invocation committed a step since (`entry.steps` is one more than the stored one's); false otherwise.
   */
  commit(entry: DatasetVersionEntry): Promise<boolean>;
  get(asset: string, id: string): Promise<DatasetVersionEntry | undefined>;
  /** The asset's dataset versions, newest id first. */
  list(asset: string): Promise<DatasetVersionEntry[]>;
}
