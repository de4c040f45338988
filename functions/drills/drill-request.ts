import { z } from 'zod';
import type { Drill, Policy } from '../policy/schema.js';
import { quote } from '../shared/errors.js';
import { parsePayload, PayloadError } from '../shared/payload.js';

/**
 * The dr-drill payload (docs/drills.md, events/dr-drill/):
 *   {"drill": "<name>"}                                      run the drill (its schedule sends this): start a run, or continue the active one;
 *   {"drill": "<name>", "drillId": "<id>", "continuation": true}   continue that run (what the function sends itself); nothing if it is not active;
 *   {"drill": "<name>", "drillId": "<id>"}                   one run's record: steps, restores, checks, timings, verdict;
 *   {"drill": "<name>", "history": true, "limit"?: 10}       the drill's runs, newest first;
 *   {"resume": true}                                         continue every active run no invocation holds (a schedule every 15 minutes).
 */
const drillName = z.string().min(1).max(63, 'must be a drill name of the policy: at most 63 characters');
const drillSchema = z
  .strictObject({
    drill: drillName,
    drillId: z
      .string()
      .regex(/^[0-9a-z-]{1,64}$/, 'must be a drill id as dr-drill returned it')
      .optional(),
    continuation: z.literal(true).optional(),
    history: z.literal(true).optional(),
    limit: z.number().int().min(1).max(100).optional(),
  })
  .refine((p) => !(p.history && p.drillId), { message: 'give drillId or history, not both' })
  .refine((p) => !p.continuation || p.drillId, { path: ['continuation'], message: 'a continuation names its drillId' })
  .refine((p) => p.limit === undefined || p.history, { path: ['limit'], message: 'limit goes with "history": true' });
const resumeSchema = z.strictObject({ resume: z.literal(true) });

const EXPECTED =
  '{"drill": "<name>"} to run it, {"drill", "drillId"} for one run, {"drill", "history": true, "limit"?: 10} for its runs, or {"resume": true}';

export type DrillCall =
  | { kind: 'run'; drill: Drill }
  | { kind: 'continue'; drill: Drill; drillId: string }
  | { kind: 'get'; drill: Drill; drillId: string }
  | { kind: 'history'; drill: Drill; limit: number }
  | { kind: 'resume' };

export function parseDrillCall(payload: unknown, policy: Policy): DrillCall {
  if (payload && typeof payload === 'object' && 'resume' in payload) {
    parsePayload(resumeSchema, payload, EXPECTED);
    return { kind: 'resume' };
  }
  const input = parsePayload(drillSchema, payload, EXPECTED);
  const drill = policy.drills.find((d) => d.name === input.drill);
  if (!drill) {
    const names = policy.drills.map((d) => d.name);
    throw new PayloadError(
      `drill: ${quote(input.drill)} is not a drill of the policy (${names.length ? names.join(', ') : 'it declares none'})`,
    );
  }
  if (input.drillId && input.continuation) return { kind: 'continue', drill, drillId: input.drillId };
  if (input.drillId) return { kind: 'get', drill, drillId: input.drillId };
  if (input.history) return { kind: 'history', drill, limit: input.limit ?? 10 };
  return { kind: 'run', drill };
}
