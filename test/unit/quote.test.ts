import { describe, expect, it } from 'vitest';
import { quote, quoteList } from '../../functions/shared/errors.js';

describe('quote: what an error message shows of a value it was given', () => {
  it('quotes a short value whole, escaping what would break the message', () => {
    expect(quote('eval-sets')).toBe('"eval-sets"');
    expect(quote('a'.repeat(100))).toBe(`"${'a'.repeat(100)}"`);
    expect(quote('two\nlines "quoted"')).toBe('"two\\nlines \\"quoted\\""');
  });

  it('shows the first 100 characters of a long value, then an ellipsis and its length', () => {
    expect(quote('a'.repeat(101))).toBe(`"${'a'.repeat(100)}"… (101 characters)`);
    expect(quote('x'.repeat(1024 * 1024))).toBe(`"${'x'.repeat(100)}"… (1048576 characters)`);
  });

  it('counts and cuts characters, not UTF-16 units: a character outside the BMP is never split', () => {
    const fish = '🐟'.repeat(100); // 200 UTF-16 units, 100 characters
    expect(quote(fish)).toBe(`"${fish}"`);
    expect(quote(`${fish}🐟`)).toBe(`"${fish}"… (101 characters)`);
  });

  it('lists at most five values, then how many more', () => {
    expect(quoteList(['a', 'b'])).toBe('"a", "b"');
    expect(quoteList(Array.from({ length: 7 }, (_, i) => `n${i}`))).toBe('"n0", "n1", "n2", "n3", "n4" and 2 more');
  });
});
