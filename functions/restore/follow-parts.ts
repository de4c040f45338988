import type { VectorRestoreStatus } from './restore-vectors.js';

/**
 * Whoever waits for a restore in parts (a drill, a restore test) continues it at most this often,
 * besides when every part of its stage is done (their last one moves the restore on; this covers
 * one that could not).
 */
export const PARTS_NUDGE_MS = 5 * 60_000;

/** A restore-vectors call, run as restore-vectors runs it, whose parts and continuations go to restore-vectors. */
export type VectorRestoreCall = (payload: Record<string, unknown>) => Promise<VectorRestoreStatus>;

/**
 * One look at a restore in parts (restore-vectors "parts", whose parts run in restore-vectors'
 * own invocations) by whoever waits for it: a planned one is started with `runPayload`; a running
 * one is continued ({"restoreId", "continuation": true}, as an operator would) when every part of
 * its stage is done but it has not moved on, or PARTS_NUDGE_MS after this watcher last started or
 * continued it (`continuedAt`), which sends again a part whose invocation died; otherwise only its
 * status is read. Returns the status and when it was last started or continued.
 */
export async function followRestoreInParts(
  call: VectorRestoreCall,
  restoreId: string,
  runPayload: Record<string, unknown>,
  continuedAt: string | undefined,
  now: Date,
): Promise<{ status: VectorRestoreStatus; continuedAt?: string }> {
  const status = await call({ restoreId });
  const partsDone = status.parts !== undefined && status.parts.every((part) => part.done);
  const due = continuedAt === undefined || now.getTime() - Date.parse(continuedAt) >= PARTS_NUDGE_MS;
  if (status.state === 'planned') return { status: await call(runPayload), continuedAt: now.toISOString() };
  if (status.state === 'running' && (partsDone || due))
    return { status: await call({ restoreId, continuation: true }), continuedAt: now.toISOString() };
  return { status, ...(continuedAt && { continuedAt }) };
}

/** What a watcher records of a running restore's parts: how many are done, of how many, records so far. */
export function partsProgress(status: VectorRestoreStatus) {
  const parts = status.parts ?? [];
  if (parts.length === 0) return undefined;
  return { done: parts.filter((p) => p.done).length, of: parts.length, records: parts.reduce((sum, p) => sum + p.records, 0) };
}
