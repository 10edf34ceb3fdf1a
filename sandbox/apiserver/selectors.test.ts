import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.ts';
import { parseFieldSelector, parseLabelSelector, selectorToString } from './selectors.ts';

describe('label selectors', () => {
  const labels = { app: 'web', tier: 'front' };
  it.each([
    ['', true],
    ['app=web', true],
    ['app==web', true],
    ['app!=web', false],
    ['app=web,tier=back', false],
    ['tier in (front, back)', true],
    ['tier notin (front)', false],
    ['missing notin (x)', true],
    ['app', true],
    ['!app', false],
    ['!missing', true],
    ['app in (web),tier', true],
  ])('%s matches: %s', (selector, expected) => {
    expect(parseLabelSelector(selector)(labels)).toBe(expected);
  });

  it('refuses a malformed requirement with 400', () => {
    expect(() => parseLabelSelector('a=(b')).toThrow(ApiError);
  });

  it('renders structured selectors', () => {
    expect(
      selectorToString({
        matchLabels: { a: 'b' },
        matchExpressions: [
          { key: 'c', operator: 'In', values: ['d', 'e'] },
          { key: 'f', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('a=b,c in (d,e),!f');
    expect(selectorToString({ a: 'b' })).toBe('a=b');
  });
});

describe('field selectors', () => {
  const pod = { metadata: { name: 'p', namespace: 'n' }, spec: { nodeName: 'node' }, status: { phase: 'Running' } };
  it.each([
    ['metadata.name=p', true],
    ['metadata.name!=p', false],
    ['status.phase=Running,spec.nodeName=node', true],
    ['spec.nodeName=', false],
    ['status.phase!=Pending', true],
  ])('%s matches: %s', (selector, expected) => {
    expect(parseFieldSelector(selector, ['spec.nodeName', 'status.phase']).matches(pod)).toBe(expected);
  });

  it('refuses unsupported fields like the real server', () => {
    expect(() => parseFieldSelector('spec.hostname=x', [])).toThrow('field label not supported: spec.hostname');
  });

  it('exposes an exact name for single-object lists', () => {
    expect(parseFieldSelector('metadata.name=x', []).name).toBe('x');
  });
});
