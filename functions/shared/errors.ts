/** The one place that turns any caught value into the text recorded in the ledger and logs. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    return `${error.name}: ${error.message}${status ? ` (HTTP ${status})` : ''}`.slice(0, 1000);
  }
  return String(error).slice(0, 1000);
}

/** How much of a value an error message quotes. */
export const QUOTE_MAX_CHARS = 100;

/**
 * A value from a payload or an event, the way an error message quotes it: in JSON quotes (so a
 * newline or a quote in it cannot break the message), at most QUOTE_MAX_CHARS characters, then an
 * ellipsis and the value's length. A megabyte of input makes a message of a hundred characters.
 */
export function quote(value: unknown): string {
  const text = String(value);
  if (text.length <= QUOTE_MAX_CHARS) return JSON.stringify(text);
  const chars = Array.from(text);
  if (chars.length <= QUOTE_MAX_CHARS) return JSON.stringify(text);
  return `${JSON.stringify(chars.slice(0, QUOTE_MAX_CHARS).join(''))}… (${chars.length} characters)`;
}

/** Several values, each quoted, at most `max` of them, then how many more there were. */
export function quoteList(values: readonly unknown[], max = 5): string {
  const shown = values.slice(0, max).map(quote).join(', ');
  return values.length > max ? `${shown} and ${values.length - max} more` : shown;
}
