import { z } from 'zod';
import { assetNameRef } from '../policy/schema.js';
import { parsePayload } from '../shared/payload.js';
import type { ReportTrigger } from './report-data.js';

/**
 * What invokes the report: `{}` (an operator, on demand), the daily schedule
 * (`{"trigger": "schedule"}`), or dr-drill after a drill (`{"trigger": "drill", "drill": "<name>",
 * "drillId": "<id>"}`). The trigger is only recorded in the report; every report covers everything.
 */
const requestSchema = z
  .strictObject({
    trigger: z.enum(['schedule', 'drill', 'on-demand']).default('on-demand'),
    drill: assetNameRef.optional(),
    drillId: z.string().min(1).max(200).optional(),
  })
  .refine((r) => r.trigger === 'drill' || (r.drill === undefined && r.drillId === undefined), {
    message: 'drill and drillId are given only with "trigger": "drill"',
    path: ['drill'],
  });

export function parseReportRequest(payload: unknown): ReportTrigger {
  const r = parsePayload(requestSchema, payload, '{} or {"trigger": "drill", "drill": "<name>", "drillId": "<id>"}');
  return { kind: r.trigger, ...(r.drill && { drill: r.drill }), ...(r.drillId && { drillId: r.drillId }) };
}
