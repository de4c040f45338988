import { z } from 'zod';
import { restoreTarget, resolveTarget } from '../restore/data-request.js';
import { checkPlanToken, planTokenField } from '../restore/restore-plan.js';
import { replicatedAssets } from '../policy/assets.js';
import type { Policy } from '../policy/schema.js';
import { PayloadError, parsePayload } from '../shared/payload.js';
import { modelRef } from './lineage-request.js';

/**
 * restore-data by model (docs/lineage.md#restore-by-model, events/restore-data/model-*.json):
 *   {"model": "<name>@<version>", "artifacts"?: false, "evalResults"?: false, "target"?: {"bucket", "prefix"?}, "overwrite"?: false,
 *    "dryRun"?: true, "planToken"?: "<from the dry run>"}
 * restores exactly the objects the model's record names: every line of the dataset versions it was
 * trained and evaluated on (and, with "artifacts" or "evalResults": true, of its artifacts or eval results).
 */
const schema = z.strictObject({
  model: modelRef,
  /** The model's artifacts too. Default false: training and eval data only. */
  artifacts: z.boolean().default(false),
  /** Its eval results too. Default false. */
  evalResults: z.boolean().default(false),
  /** Default: each object back into its asset's source bucket, under its own key. */
  target: restoreTarget.optional(),
  /** Replace a target object whose content differs from the version the record names. Default false. */
  overwrite: z.boolean().default(false),
  dryRun: z.boolean().default(false),
  planToken: planTokenField.optional(),
});

const EXPECTED =
  '{"model": "<name>@<version>", "artifacts"?: false, "evalResults"?: false, "target"?: {"bucket", "prefix"?}, "overwrite"?: false, "dryRun"?: true, "planToken"?: "<from the dry run>"}';

/**
 * The request a plan is made for. `target` null: in place (each asset's source bucket, keys as
 * they are); otherwise every object under `<prefix><asset>/<key inside the asset's prefix>`.
 */
export interface ModelRestoreRequest {
  model: string;
  artifacts: boolean;
  evalResults: boolean;
  target: { bucket: string; prefix: string; region: string } | null;
  overwrite: boolean;
}

export interface ModelRestoreCall {
  kind: 'restore-model';
  request: ModelRestoreRequest;
  dryRun: boolean;
  planToken?: string;
}

export const isModelRestore = (payload: unknown) => payload !== null && typeof payload === 'object' && 'model' in payload;

/** Parses a restore by model; one PayloadError naming the field, else the call. The record itself is read by the dry run. */
export function parseModelRestore(payload: unknown, policy: Policy): ModelRestoreCall {
  const input = parsePayload(schema, payload, EXPECTED);
  // A target is checked as for any restore (a bucket of the policy, never a replica); the asset only supplies defaults, which a model restore does not use.
  const [anyAsset] = replicatedAssets(policy);
  if (!anyAsset) throw new PayloadError('model: the policy has no object assets, so no model records');
  const target = input.target ? resolveTarget({ prefix: '', ...input.target }, anyAsset, policy) : null;
  checkPlanToken(input);
  return {
    kind: 'restore-model',
    request: { model: input.model, artifacts: input.artifacts, evalResults: input.evalResults, target, overwrite: input.overwrite },
    dryRun: input.dryRun,
    ...(input.planToken && { planToken: input.planToken }),
  };
}
