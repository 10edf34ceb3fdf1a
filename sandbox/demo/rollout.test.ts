import { describe, expect, it } from 'vitest';
import { mergePatch } from './rollout.ts';

describe('mergePatch (RFC 7386, as kubectl patch --type merge)', () => {
  it.each([
    ['adds and replaces keys', { a: 1, b: { c: 2 } }, { b: { d: 3 }, e: 4 }, { a: 1, b: { c: 2, d: 3 }, e: 4 }],
    ['null removes a key', { a: 1, b: 2 }, { b: null }, { a: 1 }],
    ['lists are replaced whole', { l: [1, 2, 3] }, { l: [9] }, { l: [9] }],
    ['a scalar replaces an object', { a: { b: 1 } }, { a: 'x' }, { a: 'x' }],
    ['an object replaces a scalar', { a: 'x' }, { a: { b: 1 } }, { a: { b: 1 } }],
  ])('%s', (_name, target, patch, want) => {
    expect(mergePatch(target, patch)).toEqual(want);
  });

  it('leaves its input alone', () => {
    const target = { spec: { canary: { interval: '1m' } } };
    mergePatch(target, { spec: { canary: { interval: '5s' } } });
    expect(target.spec.canary.interval).toBe('1m');
  });
});
