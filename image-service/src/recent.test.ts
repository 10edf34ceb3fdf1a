import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_KEY_BYTES, parseParams } from './params.ts';
import { RecentRequests } from './recent.ts';
import { MAX_RECENT_BYTES, MAX_RECENT_ENTRIES, RECENT_PATH, RecentRecordSchema, UNRECORDED_HEADER } from './recent-record.ts';
import { type Fixture, get, makeFixture, type Running, send, startService } from './service.testkit.ts';

const keysOf = (recent: RecentRequests) => recent.snapshot().entries.map((e) => e.key);

describe('RecentRequests', () => {
  it('keeps distinct requests, the most recent first; a repeat moves to the front', () => {
    const recent = new RecentRequests();
    recent.record('a.jpg', 'w=1&fit=inside&q=80&fm=auto');
    recent.record('b.jpg', 'w=1&fit=inside&q=80&fm=auto');
    recent.record('a.jpg', 'w=2&fit=inside&q=80&fm=auto');
    recent.record('a.jpg', 'w=1&fit=inside&q=80&fm=auto');
    expect(recent.snapshot().entries).toEqual([
      { key: 'a.jpg', params: 'w=1&fit=inside&q=80&fm=auto' },
      { key: 'a.jpg', params: 'w=2&fit=inside&q=80&fm=auto' },
      { key: 'b.jpg', params: 'w=1&fit=inside&q=80&fm=auto' },
    ]);
  });

  it('evicts the oldest beyond its entries', () => {
    const recent = new RecentRequests(3, MAX_RECENT_BYTES);
    for (const key of ['1', '2', '3', '4', '2', '5']) recent.record(key, 'q=80');
    expect(keysOf(recent)).toEqual(['5', '2', '4']);
  });

  it('a flood of distinct keys keeps the last MAX_RECENT_ENTRIES, its bytes within MAX_RECENT_BYTES', () => {
    const recent = new RecentRequests();
    for (let i = 0; i < 100_000; i++) recent.record(`flood/${i}.jpg`, 'w=64&fit=inside&q=80&fm=auto');
    const { entries } = recent.snapshot();
    expect(entries).toHaveLength(MAX_RECENT_ENTRIES);
    expect(entries[0]!.key).toBe('flood/99999.jpg');
    expect(entries.at(-1)!.key).toBe(`flood/${100_000 - MAX_RECENT_ENTRIES}.jpg`);
    expect(RecentRecordSchema.parse(recent.snapshot())).toEqual(recent.snapshot());
  });

  it('keys of the largest size the service accepts, multi-byte ones included, keep the bytes bounded: fewer entries', () => {
    const recent = new RecentRequests();
    for (let i = 0; i < 1000; i++) recent.record(`${'é'.repeat(MAX_KEY_BYTES / 2 - 4)}${String(i).padStart(4, '0')}`, 'w=64&fit=inside&q=80&fm=auto');
    const { entries } = recent.snapshot();
    expect(recent.bytes).toBeLessThanOrEqual(MAX_RECENT_BYTES);
    expect(entries.reduce((sum, e) => sum + Buffer.byteLength(e.key) + e.params.length, 0)).toBeLessThanOrEqual(MAX_RECENT_BYTES);
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.length).toBeLessThan(MAX_RECENT_ENTRIES);
    expect(entries[0]!.key.endsWith('0999')).toBe(true);
    expect(RecentRecordSchema.safeParse(recent.snapshot()).success).toBe(true);
  });

  it('an entry over the byte bound on its own is not kept, and evicts nothing it should not', () => {
    const recent = new RecentRequests(8, 100);
    recent.record('small.jpg', 'q=80');
    recent.record('x'.repeat(40), 'q=80');
    expect(keysOf(recent)).toEqual([]);
    recent.record('small.jpg', 'q=80');
    expect(keysOf(recent)).toEqual(['small.jpg']);
  });
});

describe('RecentRecordSchema', () => {
  it.each([
    ['no entries list', {}],
    ['an extra field', { entries: [], note: 'x' }],
    ['an empty key', { entries: [{ key: '', params: 'q=80' }] }],
    ['a key over 1024 characters', { entries: [{ key: 'k'.repeat(1025), params: 'q=80' }] }],
    ['params that are not a normalised query', { entries: [{ key: 'a.jpg', params: 'w=1#x' }] }],
    ['too many entries', { entries: Array.from({ length: MAX_RECENT_ENTRIES + 1 }, (_, i) => ({ key: `${i}`, params: 'q=80' })) }],
  ])('refuses %s', (_, value) => {
    expect(RecentRecordSchema.safeParse(value).success).toBe(false);
  });
});

describe(`the record on the management port (${RECENT_PATH})`, () => {
  let fixture: Fixture;
  let svc: Running;
  let off: Running;

  beforeAll(async () => {
    fixture = await makeFixture();
    svc = await startService(fixture.root, { recordRecent: true, presets: { thumb: { w: 32, h: 32, fit: 'cover' } } });
    off = await startService(fixture.root);
  });

  afterAll(async () => {
    await svc?.close();
    await off?.close();
    await fixture?.cleanup();
  });

  const record = async () => {
    const answer = await get(svc.managementPort, RECENT_PATH);
    expect(answer.status).toBe(200);
    expect(answer.headers['cache-control']).toBe('no-store');
    return RecentRecordSchema.parse(JSON.parse(answer.body.toString()));
  };

  it('records 200 renders only, with their normalised parameters, presets expanded; they parse back to the same parameters', async () => {
    const statuses = await Promise.all(
      [
        '/image/files/photo.jpg?w=64',
        '/image/files/nested/photo%20copy.jpg?preset=thumb&q=70',
        '/image/files/photo.jpg', // an original
        '/image/files/photo.jpg?w=0', // 400
        '/image/files/missing.jpg?w=64', // 404
        '/image/files/not-an-image.jpg?w=64', // 415
        `/image/files/${'k'.repeat(2000)}.jpg?w=64`, // a key over the limit: 400
        '/image/files/huge-header.png?w=64', // 422
      ].map(async (path) => (await get(svc.port, path)).status),
    );
    expect(statuses).toEqual([200, 200, 200, 400, 404, 415, 400, 422]);
    const { entries } = await record();
    expect(new Set(entries.map((e) => `${e.key}?${e.params}`))).toEqual(new Set(['photo.jpg?w=64&fit=inside&q=80&fm=auto', 'nested/photo copy.jpg?w=32&h=32&fit=cover&q=70&fm=auto']));
    for (const e of entries) expect(parseParams(e.params)).not.toBeNull();
    // A conditional request answered 304 is not a render: it does not move its entry to the front.
    const etag = (await get(svc.port, '/image/files/alpha.png?w=16')).headers.etag as string;
    expect((await get(svc.port, '/image/files/photo.jpg?w=64')).status).toBe(200);
    expect((await get(svc.port, '/image/files/alpha.png?w=16', { 'if-none-match': etag })).status).toBe(304);
    expect((await record()).entries.slice(0, 2)).toEqual([
      { key: 'photo.jpg', params: 'w=64&fit=inside&q=80&fm=auto' },
      { key: 'alpha.png', params: 'w=16&fit=inside&q=80&fm=auto' },
    ]);
  });

  it(`leaves out requests marked ${UNRECORDED_HEADER} (the output check's own)`, async () => {
    expect((await get(svc.port, '/image/files/photo.jpg?w=77', { [UNRECORDED_HEADER]: '1' })).status).toBe(200);
    expect((await record()).entries.map((e) => e.params)).not.toContain('w=77&fit=inside&q=80&fm=auto');
  });

  it('is not on the public port, and the management port serves nothing else', async () => {
    expect((await get(svc.port, RECENT_PATH)).status).toBe(404);
    expect((await get(svc.managementPort, '/image/files/photo.jpg?w=64')).status).toBe(404);
    expect((await get(svc.managementPort, '/metrics')).status).toBe(404);
    const put = await send(svc.managementPort, 'POST', RECENT_PATH, '{}');
    expect(put.status).toBe(405);
  });

  it('is off without a management port', async () => {
    expect((await get(off.port, '/image/files/photo.jpg?w=64')).status).toBe(200);
    expect(off.managementPort).toBe(0);
    expect(off.service.management.listening).toBe(false);
  });
});
