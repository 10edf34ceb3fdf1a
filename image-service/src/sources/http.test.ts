import type { LookupAddress } from 'node:dns';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anyAddress, publicOnly, type Resolver } from '../ssrf.ts';
import { createHttpSource, HTTP_SOURCE_DEFAULTS, type HttpSourceOptions, httpOptionsFrom } from './http.ts';
import { closedPort, failure, hangingPort } from './sources.testkit.ts';

const signal = new AbortController().signal;
const MAX = 1 << 20;

interface Origin {
  server: Server;
  port: number;
  connections: number;
}

let jpeg: Buffer;
let internal: Origin; // 127.0.0.1: stands for everything that must never be reached
let pub: Origin; // 127.0.0.2: stands for a public origin (its address is exempted in the policy below)

async function startOrigin(host: string, handler: Parameters<typeof createServer>[1]): Promise<Origin> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const origin: Origin = { server, port: (server.address() as AddressInfo).port, connections: 0 };
  server.on('connection', () => {
    origin.connections += 1;
  });
  return origin;
}

const resolverOf =
  (table: Record<string, string>, calls: string[] = []): Resolver =>
  async (hostname) => {
    calls.push(hostname);
    const address = table[hostname];
    if (address === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return [{ address, family: address.includes(':') ? 6 : 4 } satisfies LookupAddress];
  };

function source(base: string, over: Partial<HttpSourceOptions>) {
  return createHttpSource({ base: new URL(base), allowedHosts: [new URL(base).hostname], policy: publicOnly, resolve: resolverOf({}), ...HTTP_SOURCE_DEFAULTS, ...over });
}

beforeAll(async () => {
  jpeg = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#36c' } })
    .jpeg()
    .toBuffer();
  internal = await startOrigin('127.0.0.1', (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/base/cat.jpg') {
      res.writeHead(200, { 'content-type': 'image/jpeg', etag: '"cat-1"' }).end(jpeg);
    } else if (url.pathname === '/base/nested/a%20b.jpg') {
      res.writeHead(200, { 'last-modified': 'Sat, 21 Nov 2026 10:00:00 GMT' }).end(jpeg);
    } else if (url.pathname === '/base/chunked-big') {
      // No Content-Length: the limit can only be enforced while reading.
      res.writeHead(200);
      for (let i = 0; i < 40; i++) res.write(Buffer.alloc(64 * 1024));
      res.end();
    } else if (url.pathname === '/base/declared-big') {
      res.writeHead(200, { 'content-length': String(10 * MAX) });
      res.write(Buffer.alloc(1024));
    } else if (url.pathname === '/base/moved') {
      res.writeHead(301, { location: '/base/cat.jpg' }).end();
    } else if (url.pathname === '/base/loop') {
      res.writeHead(302, { location: '/base/loop' }).end();
    } else if (url.pathname === '/base/slow') {
      // Never answers; the source's total timeout must end the wait.
    } else if (url.pathname === '/base/broken') {
      res.writeHead(500).end();
    } else {
      res.writeHead(404).end();
    }
  });
  // Redirects /to/<base64url of a URL> to that URL.
  pub = await startOrigin('127.0.0.2', (req, res) => {
    const to = Buffer.from((req.url ?? '').replace(/^\/to\//, ''), 'base64url').toString();
    res.writeHead(302, { location: to }).end();
  });
});

afterAll(async () => {
  for (const o of [internal, pub]) {
    o.server.closeAllConnections();
    await new Promise((resolve) => o.server.close(resolve));
  }
});

describe('HTTP source: SSRF', () => {
  it.each(['127.0.0.1', '10.0.0.1', '169.254.169.254', '::1', '::ffff:127.0.0.1', '0177.0.0.1', '2130706433'])('refuses an allowed host that resolves to %s, without connecting', async (address) => {
    const before = internal.connections;
    const calls: string[] = [];
    const src = source(`http://images.example.test:${internal.port}/base/`, { resolve: resolverOf({ 'images.example.test': address }, calls) });
    const err = await failure(src.get('cat.jpg', { maxBytes: MAX, signal }));
    expect(err.status).toBe(403);
    // The client learns that the address was refused, not the origin's name or address.
    expect(err.message).toContain('HTTP_SOURCE_ALLOW_PRIVATE');
    expect(err.message).not.toContain('images.example.test');
    expect(err.message).not.toContain(address);
    expect(err.detail).toContain('images.example.test');
    expect(calls).toEqual(['images.example.test']);
    expect(internal.connections).toBe(before);
  });

  it.each(['2130706433', '0177.0.0.1', '0x7f.1', '[::1]', '[::ffff:7f00:1]'])('refuses the IP literal %s even when it is allowed', async (host) => {
    const before = internal.connections;
    const opts = httpOptionsFrom(`http://${host}:${internal.port}/base/`, { HTTP_SOURCE_ALLOWED_HOSTS: host });
    const err = await failure(createHttpSource(opts).get('cat.jpg', { maxBytes: MAX, signal }));
    expect(err.status).toBe(403);
    expect(internal.connections).toBe(before);
  });

  describe('redirects from a public origin', () => {
    const resolve = resolverOf({ 'public.example.test': '127.0.0.2', 'internal.example.test': '10.0.0.1', 'loop.example.test': '127.0.0.1' });
    const exemptPublic = (address: string) => (address === '127.0.0.2' ? null : publicOnly(address));
    const targets = () => [
      `http://internal.example.test:${internal.port}/base/cat.jpg`,
      `http://loop.example.test:${internal.port}/base/cat.jpg`,
      'http://169.254.169.254/latest/meta-data/',
      `http://2130706433:${internal.port}/base/cat.jpg`,
      `http://0177.0.0.1:${internal.port}/base/cat.jpg`,
      `http://[::1]:${internal.port}/base/cat.jpg`,
      `http://[::ffff:127.0.0.1]:${internal.port}/base/cat.jpg`,
    ];

    it('re-checks every hop and refuses private targets, without connecting', async () => {
      const allowedHosts = ['public.example.test', 'internal.example.test', 'loop.example.test', '169.254.169.254', '127.0.0.1', '[::1]', '[::ffff:7f00:1]'];
      const src = source(`http://public.example.test:${pub.port}/`, { resolve, policy: exemptPublic, allowedHosts });
      const before = internal.connections;
      for (const to of targets()) {
        const err = await failure(redirectVia(src, to));
        expect(err.status, to).toBe(403);
      }
      expect(internal.connections).toBe(before);
    });

    it('follows the same redirect when private addresses are allowed (the refusals above are the policy)', async () => {
      const src = source(`http://public.example.test:${pub.port}/`, { resolve, policy: anyAddress, allowedHosts: ['public.example.test', 'loop.example.test'] });
      const got = await redirectVia(src, `http://loop.example.test:${internal.port}/base/cat.jpg`);
      expect(got.bytes.equals(jpeg)).toBe(true);
    });

    it('refuses a redirect to a host outside the allowlist', async () => {
      const src = source(`http://public.example.test:${pub.port}/`, { resolve, policy: exemptPublic, allowedHosts: ['public.example.test'] });
      const refused = await failure(redirectVia(src, 'http://elsewhere.example.test/x.jpg'));
      expect(refused.status).toBe(403);
      expect(refused.message).toMatch(/not in HTTP_SOURCE_ALLOWED_HOSTS/);
    });
  });
});

function redirectVia(src: ReturnType<typeof source>, to: string) {
  return src.get(`to/${Buffer.from(to).toString('base64url')}`, { maxBytes: MAX, signal });
}

describe('HTTP source with HTTP_SOURCE_ALLOW_PRIVATE=true against a real origin', () => {
  const open = () => createHttpSource(httpOptionsFrom(`http://127.0.0.1:${internal.port}/base`, { HTTP_SOURCE_ALLOW_PRIVATE: 'true' }));

  it('serves an image with its ETag as the version', async () => {
    const got = await open().get('cat.jpg', { maxBytes: MAX, signal });
    expect(got.bytes.equals(jpeg)).toBe(true);
    expect(got.version).toBe('"cat-1"');
  });

  it('encodes key segments and falls back to Last-Modified', async () => {
    const got = await open().get('nested/a b.jpg', { maxBytes: MAX, signal });
    expect(got.bytes.equals(jpeg)).toBe(true);
    expect(got.version).toBe('Sat, 21 Nov 2026 10:00:00 GMT');
  });

  it('follows a redirect on the allowed host', async () => {
    expect((await open().get('moved', { maxBytes: MAX, signal })).bytes.equals(jpeg)).toBe(true);
  });

  it.each([
    ['missing.jpg', 404],
    ['chunked-big', 413],
    ['declared-big', 413],
    ['loop', 502],
    ['broken', 502],
  ])('%s answers %i', async (key, status) => {
    expect((await failure(open().get(key, { maxBytes: MAX, signal }))).status).toBe(status);
  });

  it('answers 504 when the origin does not answer in time', async () => {
    const src = createHttpSource({ ...httpOptionsFrom(`http://127.0.0.1:${internal.port}/base`, { HTTP_SOURCE_ALLOW_PRIVATE: 'true' }), totalTimeoutMs: 300 });
    expect((await failure(src.get('slow', { maxBytes: MAX, signal }))).status).toBe(504);
  });

  it('answers 504 when no connection is made in time', async () => {
    const hanging = await hangingPort();
    try {
      const opts = httpOptionsFrom(`http://127.0.0.1:${hanging.port}/`, { HTTP_SOURCE_ALLOW_PRIVATE: 'true' });
      const err = await failure(createHttpSource({ ...opts, connectTimeoutMs: 200 }).get('cat.jpg', { maxBytes: MAX, signal }));
      expect(err.status).toBe(504);
      expect(err.message).toMatch(/no connection to the origin in time/);
    } finally {
      hanging.close();
    }
  });

  it('answers 502 when the origin is down', async () => {
    const src = createHttpSource(httpOptionsFrom(`http://127.0.0.1:${await closedPort()}/`, { HTTP_SOURCE_ALLOW_PRIVATE: 'true' }));
    expect((await failure(src.get('cat.jpg', { maxBytes: MAX, signal }))).status).toBe(502);
  });

  it('is read-only', () => {
    const src = open();
    expect(src.put).toBeUndefined();
    expect(src.delete).toBeUndefined();
  });
});

describe('httpOptionsFrom', () => {
  it('allows only the base host when no allowlist is given, and refuses a base outside the list', () => {
    expect(httpOptionsFrom('https://img.example.com/originals', {}).allowedHosts).toEqual(['img.example.com']);
    expect(() => httpOptionsFrom('https://img.example.com/', { HTTP_SOURCE_ALLOWED_HOSTS: 'other.example.com' })).toThrow(/not in HTTP_SOURCE_ALLOWED_HOSTS/);
    expect(() => httpOptionsFrom('ftp://img.example.com/', {})).toThrow(/IMAGE_SOURCE: ftp:\/\/img.example.com\/ is not of the form https:\/\/host\/base/);
  });
});
