import { planForRun, restoreStatus, type PlanStore, storePlanned } from '../restore/restore-plan.js';
import { quote } from '../shared/errors.js';
import { PayloadError } from '../shared/payload.js';
import type { DatasetCatalog } from './dataset-catalog.js';
import { holdDatasetVersion, type DatasetHold, type HoldDeps } from './legal-holds.js';
import { linksOf, splitModelRef, type ModelCatalog, type ModelRecord } from './model-records.js';

/**
 * Retiring a model (docs/lineage.md#legal-holds): its record stays (as retired, for history) and
 * the legal holds on what only it linked are released. Two steps, as restores: a dry run says
 * which dataset versions would be released and which stay held (and by which models), and
 * returns a token; the run with that token retires the model and starts the releases, each
 * continuing in invocations of its own.
 */
export interface RetireSummary {
  model: string;
  /** Dataset versions no other active model links: released. */
  release: { asset: string; id: string; keys: number }[];
  /** Dataset versions other models link: left held. */
  keep: { asset: string; id: string; usedBy: string[] }[];
}

export interface RetireResult {
  retiredAt: string;
  releases: Pick<DatasetHold, 'asset' | 'id' | 'state' | 'versions' | 'kept'>[];
  /** Releases that failed in the run (`<asset>/<id>: why`), each retried in an invocation of its own. */
  failed?: string[];
}

export interface RetirePlanContents {
  request: { model: string };
  summary: RetireSummary;
  progress: object;
  result: RetireResult;
}

export interface RetireDeps extends HoldDeps {
  models: Pick<ModelCatalog, 'get' | 'retire' | 'activeUsersOf'>;
  datasets: Pick<DatasetCatalog, 'get'>;
  plans: PlanStore<RetirePlanContents>;
  /** Continues a release that did not fit this invocation. */
  continueRelease: (asset: string, id: string) => Promise<void>;
}

async function activeRecord(deps: RetireDeps, model: string): Promise<ModelRecord> {
  const { name, version } = splitModelRef(model);
  const record = await deps.models.get(name, version);
  if (!record) throw new PayloadError(`retireModel.model: no model ${quote(model)} is registered`);
  if (record.retiredAt) throw new PayloadError(`retireModel.model: ${model} was retired at ${record.retiredAt}`);
  return record;
}

async function summarize(deps: RetireDeps, model: string, record: ModelRecord): Promise<RetireSummary> {
  const summary: RetireSummary = { model, release: [], keep: [] };
  for (const link of linksOf(record)) {
    const usedBy = (await deps.models.activeUsersOf(link.asset, link.id)).filter((m) => m !== model);
    if (usedBy.length > 0) summary.keep.push({ asset: link.asset, id: link.id, usedBy });
    else summary.release.push({ asset: link.asset, id: link.id, keys: (await deps.datasets.get(link.asset, link.id))?.keys ?? 0 });
  }
  return summary;
}

/** A dry run (the plan and its token) or the run with its token. */
export async function retireModel(call: { model: string; dryRun: boolean; planToken?: string }, deps: RetireDeps) {
  const request = { model: call.model };
  if (call.dryRun) {
    const record = await activeRecord(deps, call.model);
    return storePlanned(deps.plans, request, await summarize(deps, call.model, record), deps.now());
  }
  const plan = await planForRun(deps.plans, call.planToken!, request, deps.now());
  const now = deps.now();
  let record: ModelRecord;
  try {
    record = await activeRecord(deps, call.model);
    if (!(await deps.models.retire(record, now))) throw new PayloadError(`retireModel.model: ${call.model} was retired meanwhile`);
  } catch (error) {
    await deps.plans.finish(plan.token, 'failed', now, null, (error as Error).message);
    throw error;
  }
  // Decided again now: a model registered since the dry run over one of these keeps it held.
  // A release that fails here is retried in an invocation of its own (and the plan says so): the
  // model is retired whatever happens, and the plan always finishes.
  const releases: RetireResult['releases'] = [];
  const failed: string[] = [];
  for (const link of linksOf(record)) {
    try {
      if ((await deps.models.activeUsersOf(link.asset, link.id)).length > 0) continue;
      const entry = await deps.datasets.get(link.asset, link.id);
      if (!entry) continue;
      const { hold, continues } = await holdDatasetVersion(entry, false, deps);
      if (continues) await deps.continueRelease(link.asset, link.id);
      releases.push({ asset: hold.asset, id: hold.id, state: hold.state, versions: hold.versions, kept: hold.kept });
    } catch (error) {
      const retried = await deps.continueRelease(link.asset, link.id).then(
        () => 'retried in an invocation of its own',
        (e: unknown) => `not retried (${(e as Error).message}): send {"release": {"asset", "id"}, "continuation": true}`,
      );
      failed.push(`${link.asset}/${link.id}: ${(error as Error).message}; ${retried}`);
    }
  }
  const result: RetireResult = { retiredAt: now.toISOString(), releases, ...(failed.length && { failed }) };
  const state = failed.length ? 'failed' : 'done';
  const reason = failed.length ? `${call.model} is retired; ${failed.length} release(s) failed: ${failed.join('; ')}` : undefined;
  await deps.plans.finish(plan.token, state, deps.now(), result, reason);
  return restoreStatus({ ...plan, state, finishedAt: deps.now().toISOString(), result, ...(reason && { reason }) });
}
