/** The one place that turns any caught value into the text recorded in the ledger and logs. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    return `${error.name}: ${error.message}${status ? ` (HTTP ${status})` : ''}`.slice(0, 1000);
  }
  return String(error).slice(0, 1000);
}
