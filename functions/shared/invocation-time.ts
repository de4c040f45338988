/**
 * The time a domain works with in one invocation: its clock, the invocation's time left (handlers
 * pass `context.getRemainingTimeInMillis()`), and the time it leaves itself to record its progress
 * and continue in a new invocation when the rest runs short (each domain has its default).
 */
export interface InvocationTime {
  now: () => Date;
  remainingMs: () => number;
  reserveMs?: number;
}
