import { evaluateCheck, type AlertDeps } from '../alerts/evaluate.js';
import type { TargetCheck, TargetEvent } from '../alerts/target-events.js';
import type { ReplicationLedger } from '../ledger/ledger.js';
import { replicatedAssets } from '../policy/assets.js';
import type { MultipartPolicy } from '../policy/multipart.js';
import { tiers, type ObjectAsset, type Policy } from '../policy/schema.js';
import { restoreVersion } from '../restore/restore-data.js';
import { measuredRto, type RestoreTestResult } from '../restore/restore-test.js';
import type { RestoreTestLog } from '../restore/restore-tests.js';
import { SCRATCH_PREFIX } from '../restore/verify-data.js';
import { describeError } from '../shared/errors.js';
import type { InvocationTime } from '../shared/invocation-time.js';
import type { VersionedStore } from '../storage/versioned-store.js';
import type { DatasetCatalog, DatasetVersionEntry } from './dataset-catalog.js';
import type { ManifestLine } from './dataset-manifest.js';
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
  log: RestoreTestLog;
  alerts: AlertDeps;
}

const SAMPLE_DEFAULT = 20;

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
  // One check per asset with referenced versions: missed while a rule would expire them.
  for (const asset of new Set(referenced.map((r) => r.ref.asset))) {
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

  const tested = await restoreTestOfNext(deps, referenced, previous?.lastTested);
  if (tested) {
    await deps.log.record(tested.result);
    events.push(...(await evaluateCheck(deps.alerts, tested.check)));
  }
  const check: LineageCheck = {
    checkedAt: now,
    referenced: [...new Set(referenced.map((r) => r.ref.asset.name))].map((asset) => ({
      asset,
      datasetVersions: referenced.filter((r) => r.ref.asset.name === asset).length,
    })),
    risks,
    unread,
    ...(tested && { restoreTest: tested.result, lastTested: tested.datasetVersion }),
    ...(!tested && previous?.lastTested && { lastTested: previous.lastTested }),
  };
  await deps.checks.save(check);
  return { check, events };
}

/** The next held training dataset version after `last` (in `<asset>/<id>` order, wrapping), with a model that links it. */
async function restoreTestOfNext(
  deps: LineageCheckDeps,
  referenced: { ref: ReferencedVersion; entry: DatasetVersionEntry }[],
  last: string | undefined,
): Promise<{ result: RestoreTestResult & { model: string }; check: TargetCheck; datasetVersion: string } | undefined> {
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
    if (!record) continue;
    const result = await testModelRestore(deps, record);
    const assets = record.trainedOn.map((l) => deps.policy.assets.find((a) => a.name === l.asset) as ObjectAsset).filter(Boolean);
    const targetSeconds = Math.min(...assets.map((a) => a.rtoTargetSeconds));
    const over = result.rtoSeconds !== null && result.rtoSeconds > targetSeconds;
    const missed = !result.ok || result.rtoSeconds === null || over;
    const check: TargetCheck = {
      asset: model,
      kind: 'training-data',
      tier: strictest(assets),
      target: 'lineage',
      targetSeconds,
      actualSeconds: result.rtoSeconds,
      status: missed ? 'missed' : 'ok',
      ...(missed && {
        reason: result.ok && result.rtoSeconds !== null ? ('rto-over-target' as const) : ('restore-test-failed' as const),
        description: result.reason ?? `the training set of ${model} restores in ${Math.round(result.rtoSeconds ?? 0)} s`,
      }),
      pendingObjects: 0,
      failedObjects: 0,
      oldestChange: null,
      measuredAt: result.finishedAt,
    };
    return { result, check, datasetVersion: candidate.name };
  }
  return undefined;
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
    const chosen: { asset: ObjectAsset; line: ManifestLine }[] = [];
    // Every part of every manifest is read and checked against its digest (walkManifest); every stride-th line is sampled.
    for (const entry of entries) {
      const asset = deps.policy.assets.find((a) => a.name === entry.asset) as ObjectAsset;
      const ref = manifestRefOf(entry);
      await walkManifest(
        deps.objects(asset),
        ref,
        { part: 0, line: 0 },
        50_000,
        () => false,
        async (batch) => {
          for (const line of batch) {
            if (checks.lines++ % stride === 0) chosen.push({ asset, line });
            total += line.size;
          }
          return batch.length;
        },
      );
    }
    checks.sampled = chosen.length;
    const began = performance.now();
    for (const { asset, line } of chosen) {
      try {
        await restoreVersion(
          {
            ledger: deps.ledger,
            replica: deps.replica(asset),
            target: deps.scratch.store,
            now: deps.now,
            remainingMs: deps.remainingMs,
            multipart: deps.multipart,
          },
          asset,
          deps.scratch.bucket,
          `verify-lineage-${startedAt.getTime()}`,
          {
            key: line.key,
            targetKey: `${folder}${asset.name}/${line.key}`,
            version: entryOf(asset, line),
          },
        );
        checks.verified++;
        restored += line.size;
      } catch (error) {
        if (checks.problems.length < 10) checks.problems.push(`${line.key}: ${describeError(error)}`);
      }
    }
    restoreMs = performance.now() - began;
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
