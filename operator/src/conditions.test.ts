import { describe, expect, it } from 'vitest';
import { bounded } from './conditions.ts';

describe('bounded', () => {
  it('keeps a text within the bound as it is', () => {
    expect(bounded('abc', 3)).toBe('abc');
  });

  it('cuts a longer one to exactly the bound, saying how long it was', () => {
    const cut = bounded('x'.repeat(5000), 100);
    expect(cut).toHaveLength(100);
    expect(cut).toMatch(/^x+ \.\.\. \(cut from 5000 characters\)$/);
  });
});
