/**
 * S3 encodes keys as application/x-www-form-urlencoded in event notifications and in listings
 * requested with EncodingType=url: spaces as '+', everything else percent-encoded (UTF-8).
 * Returns undefined when the text is not valid URL encoding.
 */
export function decodeFormKey(encoded: string): string | undefined {
  try {
    return decodeURIComponent(encoded.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

export const MAX_KEY_BYTES = 1024;

/** S3 lists keys in UTF-8 binary order, which differs from JavaScript's UTF-16 string order. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The longest common prefix of two keys, whole code points only (a valid listing prefix). */
export function commonPrefix(a: string, b: string): string {
  const [x, y] = [Array.from(a), Array.from(b)];
  let n = 0;
  while (n < x.length && n < y.length && x[n] === y[n]) n++;
  return x.slice(0, n).join('');
}

/** The key without its last code point: it sorts before the key, so a listing after it starts at the key. */
export function keyBefore(key: string): string {
  return Array.from(key).slice(0, -1).join('');
}
