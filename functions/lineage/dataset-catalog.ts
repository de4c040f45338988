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
  /** The replica key after which the build continues. */
  afterKey?: string;
  /** Where the dataset version is: the replica bucket and manifest.json's key and version. */
  bucket: string;
  manifestKey?: string;
  manifestVersionId?: string;
  /** SHA-256 of manifest.json: the dataset version's own digest. */
  sha256?: string;
  /** Versions as of the time that are not verified in the replica (a refused build). */
  unverified?: { count: number; examples: string[] };
  reason?: string;
}

export interface DatasetCatalog {
  /** Adds an entry; false when one with its id exists. */
  begin(entry: DatasetVersionEntry): Promise<boolean>;
  /** Saves a build's progress only if no other invocation saved parts since (`expectedParts`); false otherwise. */
  saveProgress(entry: DatasetVersionEntry, expectedParts: number): Promise<boolean>;
  /** Replaces the entry (a refused build, a refused one started again). */
  put(entry: DatasetVersionEntry): Promise<void>;
  /** Replaces a building entry with its complete one, only if no other invocation saved parts since; false otherwise. */
  finish(entry: DatasetVersionEntry, expectedParts: number): Promise<boolean>;
  get(asset: string, id: string): Promise<DatasetVersionEntry | undefined>;
  /** The asset's dataset versions, newest id first. */
  list(asset: string): Promise<DatasetVersionEntry[]>;
}
