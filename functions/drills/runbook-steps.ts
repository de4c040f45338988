import type { AssetDrill, DrillScenario } from '../policy/schema.js';

/**
 * The steps of each drill scenario's runbook (docs/runbooks/<scenario>.md), in order, as the drill
 * runs them: each is the payload the runbook sends to a function with `aws lambda invoke`, built for
 * the drill's asset, workspace and restore. The drill hands that payload to the same code the
 * function runs (the status measurement, restoreData, restoreVectors); the runbook tests check that
 * every `<!-- runbook-step: name -->` block of a runbook is this list, step by step, with the same
 * function and payload fields. One definition, so a runbook and its drill cannot drift apart.
 */
export type StepFunction = 'status' | 'restore-data' | 'restore-vectors' | 'probe-serving';

/** What a step's payload is built from. */
export interface StepContext {
  asset: string;
  /** restore-data: where the drill's copy goes. */
  target?: { bucket: string; prefix: string };
  /** restore-data: the time restored to (the drill's start, or the last good point). */
  asOf?: string;
  /** restore-vectors: the engine asset and scratch index the snapshot is restored into. */
  vectorTarget?: { asset: string; index: string };
  /** restore-vectors: the parts the restore runs in at once (the asset's restoreParts). */
  parts?: number;
  /** The plan token of the step's dry run (a run), or the restore's id (a status). */
  planToken?: string;
  /** probe-serving: the model service, the fallback pinned, and who pins it. */
  service?: string;
  endpoint?: string;
  by?: string;
}

export interface RunbookStep {
  name: string;
  function: StepFunction;
  /** Object assets, vector-index assets, or model services. */
  assets: 'objects' | 'vectors' | 'services';
  payload: (ctx: StepContext) => Record<string, unknown>;
}

/**
 * A runbook step that reads AWS with the AWS CLI rather than invoking a function: the drill makes
 * the same read itself (`command`, the start of the runbook's command line).
 */
export interface RunbookCheck {
  name: string;
  command: string;
  assets: 'services';
}

const need = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`runbook step needs ${what}`);
  return value;
};

const dataRestore = (ctx: StepContext, extra: Record<string, unknown>) => ({
  asset: ctx.asset,
  ...(ctx.asOf && { asOf: ctx.asOf }),
  target: need(ctx.target, 'a target'),
  ...extra,
});
const vectorRestore = (ctx: StepContext, extra: Record<string, unknown>) => ({
  asset: ctx.asset,
  target: need(ctx.vectorTarget, 'a vector target'),
  parts: ctx.parts ?? 1,
  ...extra,
});

const status: RunbookStep = { name: 'status', function: 'status', assets: 'objects', payload: () => ({ format: 'json' }) };
const dryRun: RunbookStep = {
  name: 'dry-run',
  function: 'restore-data',
  assets: 'objects',
  payload: (ctx) => dataRestore(ctx, { dryRun: true }),
};
const run: RunbookStep = {
  name: 'run',
  function: 'restore-data',
  assets: 'objects',
  payload: (ctx) => dataRestore(ctx, { planToken: need(ctx.planToken, 'the dry run’s planToken') }),
};
/** Restores over a damaged copy: newer (bad) versions at the target are overwritten. */
const repairDryRun: RunbookStep = { ...dryRun, payload: (ctx) => dataRestore(ctx, { overwriteNewer: true, dryRun: true }) };
const repairRun: RunbookStep = {
  ...run,
  payload: (ctx) => dataRestore(ctx, { overwriteNewer: true, planToken: need(ctx.planToken, 'the dry run’s planToken') }),
};
const restoreStatus: RunbookStep = {
  name: 'status',
  function: 'restore-data',
  assets: 'objects',
  payload: (ctx) => ({ restoreId: need(ctx.planToken, 'the restore’s id') }),
};

const pin = (ctx: StepContext) => ({ service: need(ctx.service, 'a service'), endpoint: need(ctx.endpoint, 'a fallback'), by: ctx.by });
const unpin = (ctx: StepContext) => ({ service: need(ctx.service, 'a service'), by: ctx.by });
/** The model-provider-outage runbook's steps (docs/runbooks/model-provider-outage.md), as its drill runs them. */
export const SERVING_STEPS: readonly (RunbookStep | RunbookCheck)[] = [
  { name: 'probe', function: 'probe-serving', assets: 'services', payload: () => ({}) },
  { name: 'dry-run', function: 'probe-serving', assets: 'services', payload: (ctx) => ({ pin: pin(ctx), dryRun: true }) },
  {
    name: 'run',
    function: 'probe-serving',
    assets: 'services',
    payload: (ctx) => ({ pin: pin(ctx), planToken: need(ctx.planToken, 'the dry run’s planToken') }),
  },
  { name: 'parameter', command: 'aws ssm get-parameter', assets: 'services' },
  { name: 'lift-dry-run', function: 'probe-serving', assets: 'services', payload: (ctx) => ({ pin: unpin(ctx), dryRun: true }) },
  {
    name: 'lift',
    function: 'probe-serving',
    assets: 'services',
    payload: (ctx) => ({ pin: unpin(ctx), planToken: need(ctx.planToken, 'the lift dry run’s planToken') }),
  },
];

export const RUNBOOK_STEPS: Record<AssetDrill['scenario'], readonly RunbookStep[]> = {
  'region-outage': [
    status,
    dryRun,
    run,
    {
      name: 'vectors-dry-run',
      function: 'restore-vectors',
      assets: 'vectors',
      payload: (ctx) => vectorRestore(ctx, { dryRun: true }),
    },
    {
      name: 'vectors-run',
      function: 'restore-vectors',
      assets: 'vectors',
      payload: (ctx) => vectorRestore(ctx, { planToken: need(ctx.planToken, 'the vector dry run’s planToken') }),
    },
  ],
  'data-corruption': [repairDryRun, repairRun, restoreStatus],
  'model-regression': [repairDryRun, repairRun],
};

/** Every scenario's runbook steps. */
export const runbookStepsOf = (scenario: DrillScenario): readonly (RunbookStep | RunbookCheck)[] =>
  scenario === 'model-provider-outage' ? SERVING_STEPS : RUNBOOK_STEPS[scenario];

export const isCheck = (step: RunbookStep | RunbookCheck): step is RunbookCheck => 'command' in step;
