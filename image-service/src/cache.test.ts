import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteLruCache } from './cache.ts';

const bytesOf = (b: Buffer) => b.length;

describe('ByteLruCache', () => {
  it('returns what was stored and counts bytes and entries', () => {
    const cache = new ByteLruCache(100, bytesOf);
    cache.set('a', Buffer.alloc(30));
    cache.set('b', Buffer.alloc(20));
    expect(cache.get('a')?.length).toBe(30);
    expect(cache.bytes).toBe(50);
    expect(cache.entries).toBe(2);
  });

  it('evicts the least recently used first', () => {
    const cache = new ByteLruCache(100, bytesOf);
    cache.set('a', Buffer.alloc(40));
    cache.set('b', Buffer.alloc(40));
    cache.get('a'); // b is now the least recently used
    cache.set('c', Buffer.alloc(40));
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBeDefined();
    expect(cache.get('c')).toBeDefined();
    expect(cache.bytes).toBe(80);
  });

  it('never stores an entry larger than the bound, and keeps the others', () => {
    const cache = new ByteLruCache(100, bytesOf);
    cache.set('a', Buffer.alloc(60));
    expect(cache.set('huge', Buffer.alloc(101))).toBe(false);
    expect(cache.get('huge')).toBeUndefined();
    expect(cache.get('a')).toBeDefined();
  });

  it('replacing a key does not count it twice', () => {
    const cache = new ByteLruCache(100, bytesOf);
    cache.set('a', Buffer.alloc(60));
    cache.set('a', Buffer.alloc(70));
    expect(cache.bytes).toBe(70);
    expect(cache.entries).toBe(1);
  });

  it('is off with a bound of 0', () => {
    const cache = new ByteLruCache(0, bytesOf);
    expect(cache.set('a', Buffer.alloc(1))).toBe(false);
    expect(cache.entries).toBe(0);
  });

  it('never exceeds its bound and keeps its byte count exact under any sequence', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 500 }), fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), fc.integer({ min: 0, max: 300 }), fc.boolean())), (bound, ops) => {
        const cache = new ByteLruCache(bound, bytesOf);
        const live = new Map<string, number>();
        for (const [key, size, isGet] of ops) {
          if (isGet) cache.get(key);
          else cache.set(key, Buffer.alloc(size));
          expect(cache.bytes).toBeLessThanOrEqual(bound);
        }
        for (const key of ['a', 'b', 'c', 'd', 'e', 'f']) {
          const v = cache.get(key);
          if (v !== undefined) live.set(key, v.length);
        }
        expect(cache.bytes).toBe([...live.values()].reduce((s, n) => s + n, 0));
        expect(cache.entries).toBe(live.size);
      }),
    );
  });
});
