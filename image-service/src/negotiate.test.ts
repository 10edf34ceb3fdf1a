import { describe, expect, it } from 'vitest';
import { accepts, negotiateFormat } from './negotiate.ts';

const CHROME = 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8';

describe('negotiateFormat', () => {
  it.each([
    ['jpeg', CHROME, ['avif', 'webp'], false, { format: 'jpeg', negotiated: false }],
    ['png', undefined, ['webp'], false, { format: 'png', negotiated: false }],
    ['avif', 'image/jpeg', [], false, { format: 'avif', negotiated: false }],
    ['auto', CHROME, ['avif', 'webp'], false, { format: 'avif', negotiated: true }],
    ['auto', CHROME, ['webp'], false, { format: 'webp', negotiated: true }],
    ['auto', 'image/webp', ['avif', 'webp'], false, { format: 'webp', negotiated: true }],
    ['auto', '*/*', ['webp'], false, { format: 'jpeg', negotiated: true }],
    ['auto', 'image/*', ['webp'], true, { format: 'png', negotiated: true }],
    ['auto', undefined, ['webp'], false, { format: 'jpeg', negotiated: true }],
    ['auto', 'image/webp;q=0, image/jpeg', ['webp'], false, { format: 'jpeg', negotiated: true }],
    ['auto', CHROME, [], false, { format: 'jpeg', negotiated: false }],
    ['auto', CHROME, [], true, { format: 'png', negotiated: false }],
  ] as const)('fm=%s Accept=%j auto=%j alpha=%j', (fm, accept, auto, alpha, expected) => {
    expect(negotiateFormat(fm, accept, auto, alpha)).toEqual(expected);
  });
});

describe('accepts', () => {
  it.each([
    ['image/webp', 'image/webp', true],
    ['IMAGE/WEBP', 'image/webp', true],
    ['text/html, image/webp;q=0.5', 'image/webp', true],
    ['image/webp ;q=0.0', 'image/webp', false],
    ['image/webp;q=0', 'image/webp', false],
    ['image/webpx', 'image/webp', false],
    ['ximage/webp', 'image/webp', false],
    ['image/*', 'image/webp', false],
    ['image/avif;q=0,image/webp', 'image/webp', true],
    ['', 'image/webp', false],
  ])('%j names %s: %j', (accept, type, expected) => {
    expect(accepts(accept, type)).toBe(expected);
  });
});
