import { GENERATION_RESERVE_TOKENS } from './probe.js';

/**
 * Generation probes' token budget (docs/serving.md#generation): per provider and per hour of the
 * round's clock, the tokens generation probes (and smoke evals) may take. A probe takes its
 * reservation before it is sent, atomically (the probes of a round run at once); when the budget
 * allows less than that now, it probes by model lookup instead. Nothing is sent without a
 * reservation; a generation that used more than its reservation adds the difference (the count may
 * then pass the budget by that much), and one that used less keeps its whole reservation counted.
 */
export interface TokenBudget {
  /** Takes `tokens` from what `provider` has left in `hour` of `limit`; false (nothing taken) when less is left. */
  reserve(provider: string, hour: string, tokens: number, limit: number): Promise<boolean>;
  /** Adds `tokens` taken beyond a reservation. */
  exceed(provider: string, hour: string, tokens: number): Promise<void>;
  /** What `provider` took in `hour`. */
  spent(provider: string, hour: string): Promise<number>;
}

/**
 * After a generation: adds what it used beyond its reservation. Says what could not be counted
 * (the budget unreadable), undefined when all is counted.
 */
export async function countBeyond(budget: TokenBudget, provider: string, hour: string, reserved: number, used: number | undefined) {
  const over = (used ?? 0) - reserved;
  if (over <= 0) return undefined;
  try {
    await budget.exceed(provider, hour, over);
    return undefined;
  } catch (error) {
    return `${over} tokens over the reservation not counted: ${(error as Error).message}`;
  }
}

/** The budget's hour of a round: its clock's UTC hour ("2026-12-04T18"). */
export const hourOf = (now: Date) => now.toISOString().slice(0, 13);

/**
 * What generation probes may have taken by `now`: the hour's budget spread over its minutes (one
 * reservation at least, at the start of the hour), so that they probe all through the hour rather
 * than spend the budget in its first minutes and look models up for the rest.
 */
export const pacedLimit = (limit: number, now: Date) =>
  Math.min(limit, Math.max(GENERATION_RESERVE_TOKENS, Math.floor((limit * (now.getUTCMinutes() + 1)) / 60)));
