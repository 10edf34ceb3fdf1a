import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, type Fixture, get, makeFixture, type Running, startService } from './service.testkit.ts';
import { openSource } from './sources/open.ts';

/** The service over an HTTP origin (IMAGE_SOURCE=http://...), the origin a real server on loopback. */

let fixture: Fixture;
let origin: Server;
let base: string;
let hits = 0;
const running: Running[] = [];

beforeAll(async () => {
  fixture = await makeFixture();
  const photo = await readFile(join(fixture.root, 'photo.jpg'));
  origin = createServer((req, res) => {
    hits++;
    if (req.url === '/originals/photo.jpg') res.writeHead(200, { etag: '"v1"' }).end(photo);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(origin.address() as AddressInfo).port}/originals`;
});

afterAll(async () => {
  for (const svc of running) await svc.close();
  origin?.closeAllConnections();
  await new Promise((resolve) => origin?.close(resolve));
  await fixture?.cleanup();
});

async function serviceOver(env: { HTTP_SOURCE_ALLOW_PRIVATE?: 'true' | 'false' }): Promise<Running> {
  const svc = await startService(await openSource({ kind: 'http', url: base }, env));
  running.push(svc);
  return svc;
}

describe('HTTP origin source through the service', () => {
  it('serves resized images from an allowed private origin', async () => {
    const svc = await serviceOver({ HTTP_SOURCE_ALLOW_PRIVATE: 'true' });
    const answer = await get(svc.port, '/image/files/photo.jpg?w=100&fm=png');
    expect(answer.status).toBe(200);
    expect(await sharp(answer.body).metadata()).toMatchObject({ width: 100, format: 'png' });
    expect(errorOf(await get(svc.port, '/image/files/missing.jpg?w=10')).code).toBe('not_found');
  });

  it('refuses the same origin on loopback without HTTP_SOURCE_ALLOW_PRIVATE, without contacting it', async () => {
    const svc = await serviceOver({});
    const before = hits;
    const answer = await get(svc.port, '/image/files/photo.jpg?w=100');
    expect(answer.status).toBe(403);
    expect(errorOf(answer).message).toMatch(/loopback/);
    expect(hits).toBe(before);
  });
});
