import { z } from 'zod';
import type { Drill, Policy } from '../policy/schema.js';
import { quote } from '../shared/errors.js';
import { parsePayload, PayloadError } from '../shared/payload.js';

/**
 * The dr-drill payload (docs/drills.md, events/dr-drill/):
 *   {"drill": "<name>"}                          run the drill (its schedule sends this): start a run, or continue the active one;
 *   {"drill": "<name>", "continuation": true}    the same, sent by the function to itself when a drill needs another invocation;
 *   {"drill": "<name>", "drillId": "<id>"}       one run's record: steps, restores, checks, timings, verdict;
 *   {"drill": "<name>", "history": true, "limit"?: 10}   the drill's runs, newest first.
 */
const schema = z
  .strictObject({
    drill: z.string().min(1).max(64),
    continuation: z.boolean().optional(),
    drillId: z
      .string()
      .regex(/^[0-9a-z-]{1,64}$/, 'must be a drill id as dr-drill returned it')
      .optional(),
    history: z.literal(true).optional(),
    limit: z.number().int().min(1).max(100).optional(),
  })
  .refine((p) => [p.continuation, p.drillId, p.history].filter((v) => v !== undefined).length <= 1, {
    message: 'give at most one of continuation, drillId, history',
  })
  .refine((p) => p.limit === undefined || p.history, { path: ['limit'], message: 'limit goes with "history": true' });

const EXPECTED = '{"drill": "<name>"} to run it, {"drill", "drillId"} for one run, {"drill", "history": true, "limit"?: 10} for its runs';

export type DrillCall =
  { kind: 'run'; drill: Drill } | { kind: 'get'; drill: Drill; drillId: string } | { kind: 'history'; drill: Drill; limit: number };

export function parseDrillCall(payload: unknown, policy: Policy): DrillCall {
  const input = parsePayload(schema, payload, EXPECTED);
  const drill = policy.drills.find((d) => d.name === input.drill);
  if (!drill) {
    const names = policy.drills.map((d) => d.name);
    throw new PayloadError(
      `drill: ${quote(input.drill)} is not a drill of the policy (${names.length ? names.join(', ') : 'it declares none'})`,
    );
  }
  if (input.drillId) return { kind: 'get', drill, drillId: input.drillId };
  if (input.history) return { kind: 'history', drill, limit: input.limit ?? 10 };
  return { kind: 'run', drill };
}
