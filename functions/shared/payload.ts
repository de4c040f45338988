import type { z } from 'zod';
import { quoteList } from './errors.js';
import { formatPath } from './field-path.js';

/** An operator's or a schedule's payload that does not fit its schema. Nothing was done. */
export class PayloadError extends Error {
  override readonly name = 'PayloadError';
}

/**
 * The first problem of a payload, the way an operator reads it: `assets: unknown field "force"`.
 * What it quotes of the payload (field names, record keys on the path) is bounded (shared/errors.ts).
 */
export function payloadProblem(error: z.ZodError): string {
  const issue = error.issues[0]!;
  const where = formatPath(issue.path) || 'payload';
  const what = issue.code === 'unrecognized_keys' ? `unknown field ${quoteList(issue.keys)}` : issue.message;
  return `${where}: ${what}`;
}

/** Parses `payload`, or throws one PayloadError naming the field and the expected shape. */
export function parsePayload<S extends z.ZodType>(schema: S, payload: unknown, expected: string): z.infer<S> {
  const result = schema.safeParse(payload ?? {});
  if (!result.success) throw new PayloadError(`${payloadProblem(result.error)}; expected ${expected}`);
  return result.data;
}

/** How far a payload's time may be ahead of the function's clock (the operator's clock may run fast). */
export const CLOCK_SKEW_MS = 60_000;

/**
 * A payload's point in time ("asOf", "before"; already a valid ISO 8601 time), refused with the
 * field named when it is in the future: nothing has been backed up after now, so a future time
 * would silently mean "now".
 */
export function pastTime(field: string, iso: string, now: Date): Date {
  const at = new Date(iso);
  if (at.getTime() > now.getTime() + CLOCK_SKEW_MS)
    throw new PayloadError(`${field}: ${iso} is in the future (it is ${now.toISOString()})`);
  return at;
}
