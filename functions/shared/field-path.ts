import { QUOTE_MAX_CHARS, quote } from './errors.js';

/**
 * Renders a zod issue path the way an operator reads it: assets[2].rpoTargetSeconds. A part that
 * came from the input (a record's key) and is long is quoted, bounded (errors.ts quote).
 */
export function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((part, i) => {
      if (typeof part === 'number') return `[${part}]`;
      const name = String(part);
      return `${i === 0 ? '' : '.'}${name.length > QUOTE_MAX_CHARS ? quote(name) : name}`;
    })
    .join('');
}
