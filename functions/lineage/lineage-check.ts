import { evaluateCheck, type AlertDeps } from '../alerts/evaluate.js';
import type { TargetCheck, TargetEvent } from '../alerts/target-events.js';
import type { ReplicationLedger } from '../ledger/ledger.js';
import { replicatedAssets } from '../policy/assets.js';
import type { MultipartPolicy } from '../policy/multipart.js';
import { tiers, type ObjectAsset, type Policy } from '../policy/schema.js';
import { measuredRto, type RestoreTestResult } from '../restore/restore-test.js';
import type { RestoreTestLog } from '../restore/restore-tests.js';
import { restoreSample, SCRATCH_PREFIX, type SampleObject } from '../restore/verify-data.js';
import { describeError } from '../shared/errors.js';
import type { InvocationTime } from '../shared/invocation-time.js';
import type { VersionedStore } from '../storage/versioned-store.js';
import type { DatasetCatalog, DatasetVersionEntry } from './dataset-catalog.js';
import type { DatasetObjects } from './dataset-objects.js';
import type { HoldStore } from './legal-holds.js';
import { findLifecycleRisks, type LifecycleRisk, type LifecycleSource, type ReferencedVersion } from './lifecycle-rules.js';
import { splitModelRef, type ModelCatalog, type ModelRecord } from './model-records.js';
import { manifestRefOf, walkManifest } from './read-dataset-version.js';
import { entryOf } from './restore-model.js';

/**
 * The scheduled lineage check (verify-restore, {"lineage": "check"}; docs/lineage.md#lineage-check):
 *  1. every lifecycle rule of a source or replica bucket that would expire a version a registered
 *     model's dataset versions name (lifecycle-rules.ts): a DR Target Missed per asset (target
 *     "lineage"), Recovered once the rule is gone;
 *  2. a restore test of one registered model's training set, a different model each run: every
 *     manifest and part of its training dataset versions read and checked against their digests, a
 *     sample of its objects spread over them restored from the replica into the scratch bucket,
 *     verified by SHA-256 against the lines, timed (the RTO of its whole training set, scaled as
 *     other restore tests), removed again; recorded in the restore-test log, a DR Target Missed for
 *     the model when it fails or its RTO is over its training data's target.
 * The outcome is kept for status and the DR report.
 */
export interface LineageCheck {
  checkedAt: string;
  /** Dataset versions registered models link (those held or being held), by asset. */
  referenced: { asset: string; datasetVersions: number }[];
  risks: LifecycleRisk[];
  /** Buckets whose lifecycle configuration could not be read (the check cannot vouch for them). */
  unread: { bucket: string; error: string }[];
  /** The model whose training set was restored, and how it went; none when no model is registered. */
  restoreTest?: RestoreTestResult & { model: string };
  /** Where the rotation stands: the training dataset version tested last (`<asset>/<id>`). */
  lastTested?: string;
  /**
   * The models whose restore test missed its target and has not passed since (their alerts are
   * open), the one to test again first at the head: tested again at every other check until each
   * passes (its alert then recovers), or, once it is retired, its alert is closed.
   */
  missedModels?: string[];
  /** This check's test was a retest of a missed model: the next check moves the rotation on. */
  retested?: boolean;
}

export interface LineageCheckStore {
  latest(): Promise<LineageCheck | undefined>;
  save(check: LineageCheck): Promise<void>;
}

export interface LineageCheckDeps extends InvocationTime {
  policy: Policy;
  holds: Pick<HoldStore, 'list'>;
  datasets: Pick<DatasetCatalog, 'get'>;
  models: Pick<ModelCatalog, 'get' | 'activeUsersOf'>;
  lifecycle: LifecycleSource;
  checks: LineageCheckStore;
  objects: (asset: ObjectAsset) => DatasetObjects;
  ledger: ReplicationLedger;
  replica: (asset: ObjectAsset) => VersionedStore;
  /** The stack's restore-test scratch bucket, in the replica's region, and its store. */
  scratch: { bucket: string; store: VersionedStore; destroy: (bucket: string, prefix: string) => Promise<number> };
  multipart: MultipartPolicy;
  log: Pick<RestoreTestLog, 'record'>;
  alerts: AlertDeps;
}

const SAMPLE_DEFAULT = 20;
/** Time kept for the sample's restore and the check's records when reading the manifests. */
const RESERVE_MS = 120_000;

/** What registered models link: every dataset version held or being held, with its entry. */
async function referencedVersions(deps: LineageCheckDeps): Promise<{ ref: ReferencedVersion; entry: DatasetVersionEntry }[]> {
  const found = [];
  for (const asset of replicatedAssets(deps.policy)) {
    for (const hold of await deps.holds.list(asset.name)) {
      if (hold.state === 'released') continue;
      const entry = await deps.datasets.get(asset.name, hold.id);
      if (entry?.state !== 'complete') continue;
      found.push({ ref: { asset, id: hold.id, prefix: entry.prefix, held: hold.state === 'held' }, entry });
    }
  }
  return found;
}

const strictest = (assets: ObjectAsset[]) => tiers.find((t) => assets.some((a) => a.tier === t)) ?? 'standard';

export async function checkLineage(deps: LineageCheckDeps): Promise<{ check: LineageCheck; events: TargetEvent[] }> {
  const previous = await deps.checks.latest();
  const referenced = await referencedVersions(deps);
  const { risks, unread } = await findLifecycleRisks(
    deps.policy,
    referenced.map((r) => r.ref),
    deps.lifecycle,
  );
  const events: TargetEvent[] = [];
  const now = deps.now().toISOString();
  // One check per object asset: missed while a rule would expire what models link (ok when nothing
  // is linked any more, so the alert of an asset whose models were all retired closes too).
  for (const asset of replicatedAssets(deps.policy)) {
    const mine = risks.filter((r) => r.asset === asset.name);
    const check: TargetCheck = {
      asset: asset.name,
      kind: asset.kind,
      tier: asset.tier,
      target: 'lineage',
      targetSeconds: 0,
      actualSeconds: null,
      status: mine.length ? 'missed' : 'ok',
      ...(mine.length && {
        reason: 'lineage-at-risk' as const,
        description: mine
          .map(
            (r) =>
              `lifecycle rule "${r.rule}" of ${r.where} bucket ${r.bucket} ${r.does.join(' and ')} under "${r.rulePrefix}", which dataset versions ${r.datasetVersions.join(', ')} of registered models name${r.held ? ' (held: S3 keeps them)' : ''}`,
          )
          .join('; '),
      }),
      pendingObjects: 0,
      failedObjects: 0,
      oldestChange: null,
      measuredAt: now,
    };
    events.push(...(await evaluateCheck(deps.alerts, check)));
  }

  const check: LineageCheck = {
    checkedAt: now,
    referenced: [...new Set(referenced.map((r) => r.ref.asset.name))].map((asset) => ({
      asset,
      datasetVersions: referenced.filter((r) => r.ref.asset.name === asset).length,
    })),
    risks,
    unread,
    ...(previous?.lastTested && { lastTested: previous.lastTested }),
  };
  const missed = await stillMissed(deps, previous, now, events);
  // A missed model is tested again at every other check, the rotation moving on in between: a
  // lasting failure (a training set too large to read in time, an RTO over its target) neither
  // blocks the other models' tests nor waits long for its own.
  const retesting = missed.length > 0 && !previous?.retested ? missed[0] : undefined;
  const next = retesting
    ? { record: retesting.record, datasetVersion: check.lastTested ?? retesting.datasetVersion } // the rotation stays where it is
    : await nextToTest(deps, referenced, previous?.lastTested);
  // The missed models waiting for a retest, oldest first; one that fails (again) goes to the end.
  const waiting = missed.filter((m) => m !== retesting).map((m) => m.model);
  const failedAgain = (model: string) => [...waiting.filter((m) => m !== model), model];
  setMissed(check, waiting);
  if (next) {
    // The rotation and the retest move on before the test (saved as if it failed): a test that
    // never finishes (the invocation's time runs out) is not tried again on the same model every day.
    const early = { ...check, lastTested: next.datasetVersion, ...(retesting && { retested: true }) };
    await deps.checks.save(setMissed(early, retesting ? failedAgain(retesting.model) : waiting));
    const tested = await testedCheck(deps, next.record);
    await deps.log.record(tested.result);
    events.push(...(await evaluateCheck(deps.alerts, tested.check)));
    Object.assign(check, { restoreTest: tested.result, lastTested: next.datasetVersion, ...(retesting && { retested: true }) });
    const model = tested.result.model;
    setMissed(check, tested.check.status === 'missed' ? failedAgain(model) : waiting.filter((m) => m !== model));
  }
  await deps.checks.save(check);
  return { check, events };
}

function setMissed(check: LineageCheck, models: string[]): LineageCheck {
  if (models.length) check.missedModels = models;
  else delete check.missedModels;
  return check;
}

/**
 * The models whose last restore test missed (still registered, in the order to test them again);
 * those retired (or no longer registered) meanwhile are left out, and their alerts closed.
 */
async function stillMissed(
  deps: LineageCheckDeps,
  previous: LineageCheck | undefined,
  now: string,
  events: TargetEvent[],
): Promise<{ model: string; record: ModelRecord; datasetVersion: string }[]> {
  const found = [];
  // A check saved before missedModels kept the one model its test missed as missedModel.
  const legacy = (previous as { missedModel?: string } | undefined)?.missedModel;
  for (const missed of previous?.missedModels ?? (legacy ? [legacy] : [])) {
    const { name, version } = splitModelRef(missed);
    const record = await deps.models.get(name, version);
    const link = record?.trainedOn[0];
    if (record && !record.retiredAt && link) {
      found.push({ model: missed, record, datasetVersion: `${link.asset}/${link.id}` });
      continue;
    }
    const asset = deps.policy.assets.find((a) => a.name === link?.asset);
    events.push(
      ...(await evaluateCheck(deps.alerts, {
        asset: missed,
        kind: 'training-data',
        tier: asset?.tier ?? 'standard',
        target: 'lineage',
        targetSeconds: asset?.rtoTargetSeconds ?? 0,
        actualSeconds: null,
        status: 'ok',
        description: record ? `${missed} was retired at ${record.retiredAt}` : `${missed} is no longer registered`,
        pendingObjects: 0,
        failedObjects: 0,
        oldestChange: null,
        measuredAt: now,
      })),
    );
  }
  return found;
}

/** The next held training dataset version after `last` (in `<asset>/<id>` order, wrapping), with a model that links it. */
async function nextToTest(
  deps: LineageCheckDeps,
  referenced: { ref: ReferencedVersion; entry: DatasetVersionEntry }[],
  last: string | undefined,
): Promise<{ record: ModelRecord; datasetVersion: string } | undefined> {
  const training = referenced
    .filter((r) => r.ref.asset.kind === 'training-data' && r.ref.held)
    .map((r) => ({ ...r, name: `${r.ref.asset.name}/${r.ref.id}` }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const order = [
    ...training.filter((t) => last === undefined || t.name > last),
    ...training.filter((t) => last !== undefined && t.name <= last),
  ];
  for (const candidate of order) {
    const [model] = await deps.models.activeUsersOf(candidate.ref.asset.name, candidate.ref.id);
    if (!model) continue;
    const { name, version } = splitModelRef(model);
    const record = await deps.models.get(name, version);
    if (record) return { record, datasetVersion: candidate.name };
  }
  return undefined;
}

/** The restore test of a model's training set, and the check of it against its training data's RTO target. */
async function testedCheck(
  deps: LineageCheckDeps,
  record: ModelRecord,
): Promise<{ result: RestoreTestResult & { model: string }; check: TargetCheck }> {
  const result = await testModelRestore(deps, record);
  const assets = record.trainedOn.map((l) => deps.policy.assets.find((a) => a.name === l.asset) as ObjectAsset).filter(Boolean);
  const targetSeconds = Math.min(...assets.map((a) => a.rtoTargetSeconds));
  const over = result.rtoSeconds !== null && result.rtoSeconds > targetSeconds;
  const missed = !result.ok || result.rtoSeconds === null || over;
  const check: TargetCheck = {
    asset: result.model,
    kind: 'training-data',
    tier: strictest(assets),
    target: 'lineage',
    targetSeconds,
    actualSeconds: result.rtoSeconds,
    status: missed ? 'missed' : 'ok',
    ...(missed && {
      reason: result.ok && result.rtoSeconds !== null ? ('rto-over-target' as const) : ('restore-test-failed' as const),
      description: result.reason ?? `the training set of ${result.model} restores in ${Math.round(result.rtoSeconds ?? 0)} s`,
    }),
    pendingObjects: 0,
    failedObjects: 0,
    oldestChange: null,
    measuredAt: result.finishedAt,
  };
  return { result, check };
}

/** The restore test of one model's training set (see the top of this file). */
export async function testModelRestore(deps: LineageCheckDeps, record: ModelRecord): Promise<RestoreTestResult & { model: string }> {
  const model = `${record.name}@${record.version}`;
  const startedAt = deps.now();
  const folder = `${SCRATCH_PREFIX}lineage/${startedAt.getTime()}-${Math.random().toString(16).slice(2, 10)}/`;
  const checks = { datasetVersions: record.trainedOn.length, lines: 0, sampled: 0, verified: 0, problems: [] as string[] };
  let restoreMs = 0;
  let restored = 0;
  let total = 0;
  let reason: string | undefined;
  try {
    const entries = [];
    for (const link of record.trainedOn) {
      const entry = await deps.datasets.get(link.asset, link.id);
      if (!entry?.manifestKey || entry.sha256 !== link.sha256)
        throw new Error(`dataset version ${link.asset}/${link.id} is not in the catalog with the SHA-256 the record pinned`);
      entries.push(entry);
    }
    const keys = entries.reduce((n, e) => n + e.keys, 0);
    const sample = Math.min(
      ...entries.map(
        (e) => (deps.policy.assets.find((a) => a.name === e.asset) as ObjectAsset | undefined)?.restoreTest.sampleObjects ?? SAMPLE_DEFAULT,
      ),
    );
    const stride = Math.max(1, Math.ceil(keys / sample));
    const chosen: SampleObject[] = [];
    // Every part of every manifest is read and checked against its digest (walkManifest); every
    // stride-th line is sampled. Within the invocation's time: the sample's restore needs some.
    const short = () => deps.remainingMs() < (deps.reserveMs ?? RESERVE_MS);
    for (const entry of entries) {
      const asset = deps.policy.assets.find((a) => a.name === entry.asset) as ObjectAsset;
      const walked = await walkManifest(deps.objects(asset), manifestRefOf(entry), { part: 0, line: 0 }, 50_000, short, async (batch) => {
        for (const line of batch) {
          if (checks.lines++ % stride === 0)
            chosen.push({
              asset,
              decision: { key: line.key, targetKey: `${folder}${asset.name}/${line.key}`, version: entryOf(asset, line) },
            });
          total += line.size;
        }
        return batch.length;
      });
      if (!walked.done) throw new Error(`the invocation's time ran out after reading ${checks.lines} of the ${keys} manifest lines`);
    }
    checks.sampled = chosen.length;
    const restore = await restoreSample(
      { ...deps, scratchBucket: deps.scratch.bucket, replicaOf: deps.replica, scratch: deps.scratch.store },
      `verify-lineage-${startedAt.getTime()}`,
      chosen,
    );
    restoreMs = restore.restoreMs;
    restored = restore.restoredBytes;
    checks.verified = chosen.length - restore.failures.length;
    checks.problems = restore.failures.slice(0, 10);
    if (checks.problems.length)
      reason = `${chosen.length - checks.verified} of ${chosen.length} sampled objects did not restore verified; first: ${checks.problems[0]}`;
  } catch (error) {
    reason = describeError(error);
  } finally {
    await deps.scratch.destroy(deps.scratch.bucket, folder).catch(() => undefined);
  }
  return {
    model,
    asset: `lineage:${model}`,
    kind: 'lineage',
    ok: reason === undefined,
    ...(reason && { reason }),
    startedAt: startedAt.toISOString(),
    finishedAt: deps.now().toISOString(),
    restoreMs,
    restored,
    assetTotal: total,
    rtoSeconds: reason === undefined ? measuredRto(restoreMs, restored, total) : null,
    checks,
  };
}

/** The check in a few lines for the status table. */
export function lineageLines(check: LineageCheck | undefined): string[] {
  if (!check) return ['lineage: not checked yet'];
  const test = check.restoreTest;
  return [
    `lineage checked at ${check.checkedAt}: ${check.referenced.reduce((n, r) => n + r.datasetVersions, 0)} dataset version(s) linked by registered models; ` +
      (check.risks.length ? `${check.risks.length} lifecycle rule(s) AT RISK` : 'no lifecycle rule at risk') +
      (check.unread.length ? `; lifecycle not readable: ${check.unread.map((u) => u.bucket).join(', ')}` : ''),
    ...check.risks.map(
      (r) =>
        `  AT RISK ${r.asset}: rule "${r.rule}" of ${r.where} bucket ${r.bucket} ${r.does.join(' and ')} under "${r.rulePrefix}"${r.held ? ' (held)' : ''}`,
    ),
    ...(test
      ? [`  restore test of ${test.model}: ${test.ok ? 'passed' : `FAILED: ${test.reason}`} (${test.checks.sampled ?? 0} objects sampled)`]
      : []),
  ];
}
