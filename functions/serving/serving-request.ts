import { z } from 'zod';
import { checkPlanToken, planTokenField } from '../restore/restore-plan.js';
import { parsePayload } from '../shared/payload.js';
import type { PinRequest } from './operator-pin.js';

/**
 * What probe-serving takes (events/probe-serving/):
 *   {} or {"trigger": "schedule"}                                  one round of probes
 *   {"trigger": "smoke-eval"}                                      every service's smoke eval (its schedule sends this)
 *   {"pin": {"service", "endpoint"?, "by"?}, "dryRun" | "planToken"}  an operator's pin (no endpoint: lift it)
 */
const roundSchema = z.strictObject({ trigger: z.enum(['schedule', 'smoke-eval']).optional() });
const pinSchema = z.strictObject({
  pin: z.strictObject({
    service: z.string().min(1).max(64),
    endpoint: z.string().min(1).max(64).optional(),
    by: z.string().min(1).max(200).default('operator'),
  }),
  dryRun: z.boolean().default(false),
  planToken: planTokenField.optional(),
});
const EXPECTED = '{} or {"trigger": "schedule" | "smoke-eval"} or {"pin": {"service", "endpoint"?, "by"?}, "dryRun": true | "planToken"}';

export type ServingCall =
  { kind: 'round' } | { kind: 'smoke-eval' } | { kind: 'pin'; request: PinRequest; dryRun: boolean; planToken?: string };

export function parseServingCall(payload: unknown): ServingCall {
  if (payload !== null && typeof payload === 'object' && 'pin' in payload) {
    const { pin, dryRun, planToken } = parsePayload(pinSchema, payload, EXPECTED);
    checkPlanToken({ dryRun, planToken });
    return { kind: 'pin', request: pin, dryRun, ...(planToken && { planToken }) };
  }
  const { trigger } = parsePayload(roundSchema, payload, EXPECTED);
  return trigger === 'smoke-eval' ? { kind: 'smoke-eval' } : { kind: 'round' };
}
