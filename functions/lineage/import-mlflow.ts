import { lineagePrefix, replicatedAssets } from '../policy/assets.js';
import type { Policy } from '../policy/schema.js';
import { PayloadError } from '../shared/payload.js';
import type { DatasetCatalog } from './dataset-catalog.js';
import { registrationSchema } from './lineage-request.js';
import { digestMismatch, importModelVersions, type ModelRegistrySource } from './mlflow-registry.js';
import { linksOf, registerModel, type ModelCatalog, type ModelRecord } from './model-records.js';

/**
 * Importing model records from MLflow's Model Registry (docs/lineage.md#mlflow): each version of a
 * registered model (or the one named) becomes a model record over the dataset versions its run's
 * inputs name (mlflow-registry.ts maps them), registered exactly as `registerModel` registers one
 * and then held. A version is imported on its own: one that cannot be (no run, an input that is
 * not a dataset version of the replica, a digest MLflow recorded that is not the dataset version's
 * SHA-256, a dataset version not complete) is listed with the reason, and the others go on.
 * Importing again changes nothing: a record does not change.
 */
export interface ImportDeps {
  policy: Policy;
  registry: ModelRegistrySource;
  datasets: Pick<DatasetCatalog, 'get'>;
  models: ModelCatalog;
  now: () => Date;
  /** Holds what a registered record links (legal-holds.ts), as registration does. */
  hold: (record: ModelRecord) => Promise<unknown[]>;
}

export interface ImportResult {
  model: string;
  imported: { model: string; registered: boolean; trainedOn: number; evaluatedOn: number; holds: unknown[]; ignoredInputs: number }[];
  refused: { model: string; reason: string }[];
}

export async function importFromMlflow(
  call: { model: string; version?: string; ignoreForeignInputs: boolean },
  deps: ImportDeps,
): Promise<ImportResult> {
  const mapped = await importModelVersions(deps.registry, call.model, {
    lineagePrefix: lineagePrefix(deps.policy),
    replicaBuckets: new Set(replicatedAssets(deps.policy).map((a) => a.replica.bucket)),
    ignoreForeignInputs: call.ignoreForeignInputs,
    ...(call.version !== undefined && { version: call.version }),
  });
  const result: ImportResult = { model: call.model, imported: [], refused: [] };
  for (const item of mapped) {
    if (item.kind === 'refused') {
      result.refused.push({ model: `${item.name}@${item.version}`, reason: item.reason });
      continue;
    }
    const label = `${item.registration.name}@${item.registration.version}`;
    const refuse = (reason: string) => result.refused.push({ model: label, reason: `${label}: ${reason}` });
    // What a registerModel payload may hold (names, metadata lengths): MLflow allows more.
    const checked = registrationSchema.safeParse(item.registration);
    if (!checked.success) {
      refuse(
        `not a model record this service can keep: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
      continue;
    }
    const mismatches = [];
    for (const [key, digest] of item.expectedDigests) {
      const [asset, id] = key.split('/') as [string, string];
      const entry = await deps.datasets.get(asset, id);
      const wrong = !entry
        ? `no dataset version ${key} in the catalog`
        : entry.sha256
          ? digestMismatch(digest, entry.sha256)
          : `${key} is ${entry.state}`;
      if (wrong) mismatches.push(`${key}: ${wrong}`);
    }
    if (mismatches.length) {
      refuse(mismatches.join('; '));
      continue;
    }
    try {
      const { record, registered } = await registerModel(checked.data, deps);
      result.imported.push({
        model: label,
        registered,
        trainedOn: record.trainedOn.length,
        evaluatedOn: record.evaluatedOn.length,
        holds: linksOf(record).length ? await deps.hold(record) : [],
        ignoredInputs: item.ignored.length,
      });
    } catch (error) {
      if (!(error instanceof PayloadError)) throw error;
      refuse(error.message);
    }
  }
  return result;
}
