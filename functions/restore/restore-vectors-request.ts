import { z } from 'zod';
import { vectorAssets } from '../policy/assets.js';
import { assetNameRef, type Policy, type VectorAsset } from '../policy/schema.js';
import { quote } from '../shared/errors.js';
import { PayloadError, parsePayload, pastTime } from '../shared/payload.js';
import { checkPlanToken, planTokenField } from './restore-plan.js';

/**
 * The restore-vectors payload (events/restore-vectors/): which snapshot of which asset, into which
 * engine and index, and whether this is the dry run or the run itself;
 * or {"restoreId"} for the state of a restore, and {"restoreId", "continuation": true} to continue a
 * running one (what the function sends itself when a restore does not fit one invocation); {"restoreId", "part"} runs one
 * part of a restore that fans out (what the run sends for each part).
 */
const isoTime = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time such as 2026-11-26T12:00:00Z' });
/** The most invocations one vector restore fans out to (as snapshotPartitions). */
export const MAX_RESTORE_PARTS = 64;
const token = (what: string) => z.string().regex(/^[0-9a-f]{32}$/, `must be the 32-hex-digit planToken ${what}`);

const restoreSchema = z
  .strictObject({
    asset: assetNameRef,
    snapshotId: z.string().min(1).max(64).optional(),
    before: isoTime.optional(),
    target: z.strictObject({ asset: assetNameRef.optional(), index: z.string().min(1).max(255).optional() }).optional(),
    overwrite: z.boolean().default(false),
    useNative: z.boolean().default(false),
    parts: z
      .number()
      .int('must be a whole number of invocations')
      .min(1, 'must be at least 1')
      .max(MAX_RESTORE_PARTS, `must be at most ${MAX_RESTORE_PARTS} invocations at once`)
      .default(1),
    dryRun: z.boolean().default(false),
    planToken: planTokenField.optional(),
  })
  .refine((p) => !(p.snapshotId && p.before), { path: ['before'], message: 'give snapshotId or before, not both' });
const statusSchema = z.strictObject({ restoreId: token('of a restore'), continuation: z.boolean().optional() });
const partSchema = z.strictObject({
  restoreId: token('of a restore'),
  part: z.string().regex(/^(write|verify)-\d{4}$/, 'must name a part of the restore, such as "write-0000" or "verify-0001"'),
});

export const EXPECTED = [
  '{"asset": "<vector asset>", "snapshotId"?: "<id>" | "before"?: "<ISO time>", "target"?: {"asset"?, "index"?}, ',
  '"overwrite"?: false, "useNative"?: false, "parts"?: 1, "dryRun"?: true, "planToken"?: "<from the dry run>"} ',
  'or {"restoreId": "<planToken>", "continuation"?: true} or {"restoreId": "<planToken>", "part": "write-0000"}',
].join('');

/**
 * The request a plan is made for, from the payload alone (defaults that need no lookup filled in,
 * the time absolute); the plan token is valid for exactly this. The dry run resolves the snapshot and
 * the target index and records them in the plan, which the run then executes.
 */
export type VectorRestoreRequest = {
  asset: string;
  snapshotId: string | null;
  before: string | null;
  target: { asset: string; index: string | null };
  overwrite: boolean;
  useNative: boolean;
  /** Invocations the run fans out to at once (writing chunk ranges, then scanning the target in parts): 1 = one chain. */
  parts: number;
};

export type VectorRestoreCall =
  | { kind: 'restore'; request: VectorRestoreRequest; dryRun: true; source: VectorAsset; target: VectorAsset }
  | { kind: 'restore'; request: VectorRestoreRequest; dryRun: false; planToken: string; source: VectorAsset; target: VectorAsset }
  | { kind: 'status'; restoreId: string; continuation: boolean }
  | { kind: 'part'; restoreId: string; part: string };

/**
 * Parses a payload and checks it against the policy: one PayloadError naming the field, else the
 * call. `now` is the function's clock: a "before" after it is refused (as restore-data's "asOf").
 */
export function parseVectorRestore(payload: unknown, policy: Policy, now: Date): VectorRestoreCall {
  if (payload && typeof payload === 'object' && 'restoreId' in payload && 'part' in payload) {
    const { restoreId, part } = parsePayload(partSchema, payload, EXPECTED);
    return { kind: 'part', restoreId, part };
  }
  if (payload && typeof payload === 'object' && 'restoreId' in payload) {
    const status = parsePayload(statusSchema, payload, EXPECTED);
    return { kind: 'status', restoreId: status.restoreId, continuation: status.continuation ?? false };
  }
  const input = parsePayload(restoreSchema, payload, EXPECTED);
  const assets = vectorAssets(policy).map(({ asset }) => asset);
  const named = (field: string, name: string) => {
    const asset = assets.find((a) => a.name === name);
    if (!asset)
      throw new PayloadError(
        `${field}: ${quote(name)} is not a vector-index asset of the policy (${assets.map((a) => a.name).join(', ')})`,
      );
    return asset;
  };
  const source = named('asset', input.asset);
  const target = named('target.asset', input.target?.asset ?? source.name);
  checkPlanToken(input);
  const request: VectorRestoreRequest = {
    asset: source.name,
    snapshotId: input.snapshotId ?? null,
    before: input.before ? pastTime('before', input.before, now).toISOString() : null,
    target: { asset: target.name, index: input.target?.index ?? null },
    overwrite: input.overwrite,
    useNative: input.useNative,
    parts: input.parts,
  };
  if (input.dryRun) return { kind: 'restore', request, dryRun: true, source, target };
  return { kind: 'restore', request, dryRun: false, planToken: input.planToken!, source, target };
}
