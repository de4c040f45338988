import type { AssetKind, ObjectAsset, Policy } from '../policy/schema.js';
import { replicatedAssets } from '../policy/assets.js';
import { PayloadError } from '../shared/payload.js';
import type { DatasetCatalog } from './dataset-catalog.js';

/**
 * Model records (docs/lineage.md#model-records): a model version linked to the dataset versions it
 * was trained on, the eval-set versions it was evaluated on and the versions of its artifacts,
 * each a complete dataset version pinned by its SHA-256, plus free metadata (code commit, registry
 * URI). A record is immutable: registering the same model version again with the same links is a
 * no-op; with other links it is refused. Stored in the ledger table beside the dataset catalog,
 * with one "use" item per linked dataset version so that "which models used D" is one query.
 */

/** A model links at most this many dataset versions (a record and its use items are one DynamoDB transaction of at most 100 writes). */
export const MAX_LINKS = 99;

/** A linked dataset version, as the record keeps it: which, and its digest when it was linked. */
export interface DatasetLink {
  asset: string;
  id: string;
  sha256: string;
}

export interface ModelRecord {
  name: string;
  version: string;
  registeredAt: string;
  trainedOn: DatasetLink[];
  evaluatedOn: DatasetLink[];
  artifacts: DatasetLink[];
  /** Dataset versions of eval-results assets: what evaluating this version produced (scores, outputs). */
  evalResults: DatasetLink[];
  metadata: Record<string, string>;
  /** When the model was retired (retire-model.ts): what only it linked is no longer held. */
  retiredAt?: string;
}

/** What a registration names (ids only; the digests are looked up). */
export interface ModelRegistration {
  name: string;
  version: string;
  trainedOn: { asset: string; id: string }[];
  evaluatedOn: { asset: string; id: string }[];
  artifacts: { asset: string; id: string }[];
  evalResults: { asset: string; id: string }[];
  metadata: Record<string, string>;
}

export interface ModelCatalog {
  /** Stores the record and its use items at once; false when the model version exists already. */
  register(record: ModelRecord): Promise<boolean>;
  get(name: string, version: string): Promise<ModelRecord | undefined>;
  /** The versions of a model, newest registration last. */
  versions(name: string): Promise<ModelRecord[]>;
  /** `name@version` of every model that links the dataset version, retired ones too. */
  usersOf(asset: string, id: string): Promise<string[]>;
  /** The same, without the retired ones: those that keep it held. */
  activeUsersOf(asset: string, id: string): Promise<string[]>;
  /** Marks a registered model retired, with its use items; false when it is retired already. */
  retire(record: ModelRecord, at: Date): Promise<boolean>;
}

/** Every dataset version a record links, once each (a model may be trained and evaluated on one). */
export const linksOf = (record: Pick<ModelRecord, 'trainedOn' | 'evaluatedOn' | 'artifacts' | 'evalResults'>): DatasetLink[] => [
  ...new Map(
    [...record.trainedOn, ...record.evaluatedOn, ...record.artifacts, ...record.evalResults].map((l) => [`${l.asset}#${l.id}`, l]),
  ).values(),
];

/** "<name>@<version>" (lineage-request.ts modelRef) into its parts. */
export function splitModelRef(ref: string): { name: string; version: string } {
  const at = ref.lastIndexOf('@');
  return { name: ref.slice(0, at), version: ref.slice(at + 1) };
}

/** Which kind of asset each list links. */
const KINDS: Record<'trainedOn' | 'evaluatedOn' | 'artifacts' | 'evalResults', AssetKind> = {
  trainedOn: 'training-data',
  evaluatedOn: 'eval-set',
  artifacts: 'model-artifacts',
  evalResults: 'eval-results',
};

const sameLinks = (a: ModelRecord, b: ModelRecord) =>
  JSON.stringify([a.trainedOn, a.evaluatedOn, a.artifacts, a.evalResults, a.metadata]) ===
  JSON.stringify([b.trainedOn, b.evaluatedOn, b.artifacts, b.evalResults, b.metadata]);

/**
 * Registers a model version: every linked dataset version must be complete and of an asset of the
 * list's kind (one PayloadError naming the field otherwise, nothing written). Returns the record,
 * and whether this call wrote it.
 */
export async function registerModel(
  registration: ModelRegistration,
  deps: { policy: Policy; datasets: Pick<DatasetCatalog, 'get'>; models: Pick<ModelCatalog, 'register' | 'get'>; now: () => Date },
): Promise<{ record: ModelRecord; registered: boolean }> {
  const assets = new Map<string, ObjectAsset>(replicatedAssets(deps.policy).map((a) => [a.name, a]));
  const resolve = async (list: keyof typeof KINDS): Promise<DatasetLink[]> => {
    const links: DatasetLink[] = [];
    for (const [i, { asset, id }] of registration[list].entries()) {
      const field = `registerModel.${list}[${i}]`;
      const kind = assets.get(asset)?.kind;
      if (kind !== KINDS[list]) {
        const is = kind ? `${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind} asset` : 'not an object asset of the policy';
        throw new PayloadError(`${field}.asset: "${asset}" is ${is}; ${list} links ${KINDS[list]} assets`);
      }
      const version = await deps.datasets.get(asset, id);
      if (!version) throw new PayloadError(`${field}.id: asset ${asset} has no dataset version "${id}"`);
      if (version.state !== 'complete' || !version.sha256) {
        throw new PayloadError(`${field}.id: dataset version "${id}" of ${asset} is ${version.state}; a model links only complete ones`);
      }
      links.push({ asset, id, sha256: version.sha256 });
    }
    return links;
  };
  const record: ModelRecord = {
    name: registration.name,
    version: registration.version,
    registeredAt: deps.now().toISOString(),
    trainedOn: await resolve('trainedOn'),
    evaluatedOn: await resolve('evaluatedOn'),
    artifacts: await resolve('artifacts'),
    evalResults: await resolve('evalResults'),
    metadata: registration.metadata,
  };
  if (await deps.models.register(record)) return { record, registered: true };
  const existing = (await deps.models.get(record.name, record.version))!;
  if (!sameLinks(existing, record)) {
    throw new PayloadError(
      `registerModel: ${record.name}@${record.version} is registered already (${existing.registeredAt}) with other links; a model version's record does not change: register a new version`,
    );
  }
  return { record: existing, registered: false };
}

/**
 * The eval results history of a model (`{"evalHistory": "<name>"}`): every version, oldest
 * registration first, with the eval-set versions it was evaluated on and its eval-results dataset
 * versions (as of when, how many objects and bytes).
 */
export async function evalHistory(name: string, deps: { models: Pick<ModelCatalog, 'versions'>; datasets: Pick<DatasetCatalog, 'get'> }) {
  const versions = await deps.models.versions(name);
  return {
    name,
    versions: await Promise.all(
      versions.map(async (r) => ({
        version: r.version,
        registeredAt: r.registeredAt,
        ...(r.retiredAt && { retiredAt: r.retiredAt }),
        evaluatedOn: r.evaluatedOn,
        evalResults: await Promise.all(
          r.evalResults.map(async (l) => {
            const entry = await deps.datasets.get(l.asset, l.id);
            return {
              ...l,
              ...(entry && {
                asOf: entry.asOf,
                keys: entry.keys,
                bytes: entry.bytes,
                prefix: entry.prefix,
                ...(entry.name && { name: entry.name }),
              }),
            };
          }),
        ),
      })),
    ),
  };
}
