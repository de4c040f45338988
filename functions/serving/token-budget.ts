/**
 * Generation probes' token budget (docs/serving.md#generation): per provider and per hour of the
 * round's clock, the tokens generation probes may take. A probe takes its reservation before it is
 * sent, atomically (the probes of a round run at once); when the hour has less left than that, it
 * probes by model lookup instead. A generation that used more than its reservation adds the
 * difference, so the count stays the providers' own.
 */
export interface TokenBudget {
  /** Takes `tokens` from what `provider` has left in `hour` of `limit`; false (nothing taken) when less is left. */
  reserve(provider: string, hour: string, tokens: number, limit: number): Promise<boolean>;
  /** Adds `tokens` taken beyond a reservation. */
  exceed(provider: string, hour: string, tokens: number): Promise<void>;
  /** What `provider` took in `hour`. */
  spent(provider: string, hour: string): Promise<number>;
}

/** The budget's hour of a round: its clock's UTC hour ("2026-12-04T18"). */
export const hourOf = (now: Date) => now.toISOString().slice(0, 13);
