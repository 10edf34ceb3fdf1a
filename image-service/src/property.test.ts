import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, get, makeFixture, type Running, SECRET, startService } from './service.testkit.ts';

let fixture: Fixture;
let svc: Running;

beforeAll(async () => {
  fixture = await makeFixture();
  svc = await startService(fixture.root, { workers: 2, queueLimit: 64 });
});

afterAll(async () => {
  await svc?.close();
  await fixture?.cleanup();
});

/** Pieces a hostile or careless client puts in a path: traversal, encodings, NUL, real names. */
const pathPiece = fc.oneof(
  fc.constantFrom('photo.jpg', 'alpha.png', 'truncated.jpg', 'not-an-image.jpg', 'huge-header.png', 'escape.jpg', 'nested', 'photo%20copy.jpg'),
  fc.constantFrom('..', '.', '', '%2e%2e', '%2E.', '%2f', '%5c', '%00', '%', '%zz', '%c3%28', '~', '//', '%252e%252e'),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
);
const key = fc.array(pathPiece, { minLength: 0, maxLength: 5 }).map((pieces) => pieces.join('/'));

const paramName = fc.oneof(fc.constantFrom('w', 'h', 'fit', 'q', 'fm'), fc.string({ maxLength: 6 }).map(encodeURIComponent));
const paramValue = fc.oneof(
  fc.integer({ min: -10, max: 10_000 }).map(String),
  fc.constantFrom('cover', 'contain', 'fill', 'inside', 'outside', 'auto', 'jpeg', 'png', 'webp', 'avif', '', '1e3', '0x10', '%D9%A3', '%00'),
  fc.string({ maxLength: 10 }).map(encodeURIComponent),
);
const query = fc.array(fc.tuple(paramName, paramValue), { maxLength: 5 }).map((pairs) => pairs.map(([n, v]) => `${n}=${v}`).join('&'));
const accept = fc.option(fc.constantFrom('image/webp', 'image/avif,image/webp,*/*', '*/*', 'image/webp;q=0', 'garbage;;;q=x'), { nil: undefined });

describe('any request a client can make', () => {
  it('is never answered with a 5xx, nor with a byte from outside the root', async () => {
    await fc.assert(
      fc.asyncProperty(key, query, accept, async (k, q, a) => {
        const answer = await get(svc.port, `/image/files/${k}${q === '' ? '' : `?${q}`}`, a === undefined ? {} : { accept: a });
        expect(answer.status).toBeLessThan(500);
        expect(answer.body.includes(SECRET)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
