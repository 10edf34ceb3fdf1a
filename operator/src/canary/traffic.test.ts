import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_RECENT_ENTRIES, RECENT_PATH } from '../../../image-service/src/recent-record.ts';
import { type Fixture, makeFixture, type Running, startService } from '../../../image-service/src/service.testkit.ts';
import { MAX_RECORD_BYTES, pickFromTraffic, samplesFromTraffic } from './traffic.ts';

const P = 'w=64&fit=inside&q=80&fm=auto';

describe('pickFromTraffic', () => {
  const record = {
    entries: [
      { key: 'new.jpg', params: P },
      { key: 'what?.jpg', params: P }, // a key a sample cannot name
      { key: 'listed.jpg', params: 'w=10' },
      { key: 'older.jpg', params: P },
      { key: 'oldest.jpg', params: P },
    ],
  };

  it('takes the newest, skipping listed samples and keys a sample cannot name', () => {
    expect(pickFromTraffic(record, 2, [{ key: 'listed.jpg', params: 'w=10' }])).toEqual([
      { key: 'new.jpg', params: P },
      { key: 'older.jpg', params: P },
    ]);
  });

  it('takes what there is when the record is short, and nothing from an empty one', () => {
    expect(pickFromTraffic(record, 20, [])).toHaveLength(4);
    expect(pickFromTraffic({ entries: [] }, 5, [])).toEqual([]);
  });
});

describe("samplesFromTraffic against a real image service's management port", () => {
  let fixture: Fixture;
  let svc: Running;
  let hostile: Server;
  let hostileBase: string;
  let answer: (res: import('node:http').ServerResponse) => void = () => undefined;

  beforeAll(async () => {
    fixture = await makeFixture();
    svc = await startService(fixture.root, { recordRecent: true });
    hostile = createServer((_req, res) => answer(res));
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
    hostileBase = `http://127.0.0.1:${(hostile.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    hostile?.closeAllConnections();
    await new Promise((resolve) => hostile?.close(resolve));
    await svc?.close();
    await fixture?.cleanup();
  });

  const management = () => `http://127.0.0.1:${svc.managementPort}`;
  const read = (base: string, count = 3, timeoutMs = 2000) => samplesFromTraffic(base, count, [], timeoutMs, AbortSignal.timeout(10_000));

  it('an empty record: no samples, and a note that says so', async () => {
    expect(await read(management())).toEqual({ samples: [], note: "primary's record of recent requests: empty" });
  });

  it('the newest renders users asked for, as samples that fetch the same picture', async () => {
    for (const path of ['photo.jpg?w=64', 'alpha.png?w=20&fm=png', 'nested/photo%20copy.jpg?w=30&h=30&fit=cover', 'missing.jpg?w=64']) {
      await fetch(`${svc.base}/image/files/${path}`).then((r) => r.arrayBuffer());
    }
    const { samples, note } = await read(management(), 2);
    expect(note).toBeUndefined();
    expect(samples).toEqual([
      { key: 'nested/photo copy.jpg', params: 'w=30&h=30&fit=cover&q=80&fm=auto' },
      { key: 'alpha.png', params: 'w=20&fit=inside&q=80&fm=png' },
    ]);
    expect(await read(management(), 5)).toMatchObject({ note: "primary's record of recent requests: 3 of 5 usable" });
  });

  it.each<[string, (res: import('node:http').ServerResponse) => void, string]>([
    ['an error status', (res) => res.writeHead(500).end('{"entries": []}'), 'HTTP 500'],
    ['a redirect', (res) => res.writeHead(302, { location: 'http://169.254.169.254/' }).end(), 'HTTP 302'],
    ['no JSON', (res) => res.writeHead(200).end('<html>secret</html>'), 'no JSON'],
    ['JSON that is not a record', (res) => res.writeHead(200).end(JSON.stringify({ entries: [{ key: 'secret', params: 'x=<script>' }] })), 'JSON that is not a record'],
    [
      'more entries than the service keeps',
      (res) => res.writeHead(200).end(JSON.stringify({ entries: Array.from({ length: MAX_RECENT_ENTRIES + 1 }, (_, i) => ({ key: `${i}.jpg`, params: P })) })),
      'JSON that is not a record',
    ],
    ['an endless answer', (res) => endless(res), `an answer over ${MAX_RECORD_BYTES} bytes`],
    ['no answer', () => undefined, 'no answer in time'],
  ])('a hostile record (%s): no samples, a fixed note, nothing of it repeated', async (_what, serve, why) => {
    answer = serve;
    const got = await read(hostileBase, 3, 500);
    expect(got).toEqual({ samples: [], note: `primary's record of recent requests: ${why}` });
  });

  it('a closed port: unreachable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(await read(`http://127.0.0.1:${port}`)).toEqual({ samples: [], note: "primary's record of recent requests: unreachable" });
  });

  it(`is served at ${RECENT_PATH} only on the management port, not the port users reach`, async () => {
    expect(await read(svc.base)).toEqual({ samples: [], note: "primary's record of recent requests: HTTP 404" });
  });
});

function endless(res: import('node:http').ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  const chunk = Buffer.alloc(64 * 1024, ' ');
  const pump = () => {
    while (res.write(chunk)) if (res.destroyed) return;
    res.once('drain', pump);
  };
  res.on('close', () => res.removeAllListeners('drain'));
  pump();
}
