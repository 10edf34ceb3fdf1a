import { describe, expect, it } from 'vitest';
import { tokenRefreshAt } from './pod.ts';

describe('projected token refresh', () => {
  it.each([
    ['an hour token after 48 minutes', 0, 3600_000, 2880_000],
    ['a ten-minute token after 8 minutes', 1000, 1000 + 600_000, 1000 + 480_000],
    ['a year token (kube-apiserver extends 3607 s ones) after a day', 0, 365 * 86400_000, 86400_000],
  ])('refreshes %s', (_what, issued, expires, at) => expect(tokenRefreshAt(issued, expires)).toBe(at));
});
