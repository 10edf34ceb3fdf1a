import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Contender, imagePath, ipx, naive } from './contenders.ts';
import { snapshotTree } from './proc-stats.ts';
import { freePort, mergeEnv, type RunningServer, startServer } from './server.ts';
import { workloadById } from './workloads.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'bench-server-'));
const jpeg640 = workloadById('jpeg640');
const running: RunningServer[] = [];

beforeAll(async () => {
  const photo = await sharp({ create: { width: 1600, height: 1000, channels: 3, noise: { type: 'gaussian', mean: 128, sigma: 30 }, background: '#000' } })
    .jpeg()
    .toBuffer();
  writeFileSync(join(work, 'photo.jpg'), photo);
});
afterAll(async () => {
  await Promise.all(running.map((s) => s.stop()));
  rmSync(work, { recursive: true, force: true });
});

async function launch(contender: Contender): Promise<RunningServer> {
  const host = '127.0.0.1';
  const port = await freePort(host);
  const l = contender.launch({ repoRoot, corpusRoot: work, host, port, cpus: '0,1', cpuCount: 2 }, contender.path(jpeg640, 'photo.jpg'));
  const server = await startServer({ ...l, cpus: '0,1', logFile: join(work, `${contender.id}.log`) }, `http://${host}:${port}`, l.readyPath);
  running.push(server);
  return server;
}

describe.each([naive, ipx])('$label', (contender) => {
  it('resizes a JPEG to 640 wide over HTTP, and stops with its whole tree', async () => {
    const server = await launch(contender);
    const response = await fetch(`${server.origin}${contender.path(jpeg640, 'photo.jpg')}`);
    expect(response.status).toBe(200);
    const meta = await sharp(Buffer.from(await response.arrayBuffer())).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 640, 400]);
    const missing = await fetch(`${server.origin}${contender.path(jpeg640, 'nothing.jpg')}`);
    expect(missing.status).toBeGreaterThanOrEqual(400);
    await missing.arrayBuffer();
    await server.stop();
    expect(snapshotTree(server.pid).pids).toEqual([]);
  });
});

describe('startServer', () => {
  it('says why a server that exits at once did not start, with the end of its log', async () => {
    const port = await freePort();
    await expect(
      startServer(
        { command: process.execPath, args: ['-e', 'console.error("no corpus here"); process.exit(3)'], env: {}, cpus: '0', logFile: join(work, 'failing.log') },
        `http://127.0.0.1:${port}`,
        '/',
      ),
    ).rejects.toThrow(/exited \(3\) before it was ready:\n.*no corpus here/s);
  });

  it('passes the environment given, and removes the variables set to undefined', () => {
    expect(mergeEnv({ A: '1', B: '2' }, { B: undefined, C: '3' })).toEqual({ A: '1', C: '3' });
  });
});

describe('imagePath', () => {
  it('encodes the key and states width, format and quality', () => {
    expect(imagePath(jpeg640, 'a b/c.jpg')).toBe('/image/files/a%20b%2Fc.jpg?w=640&fm=jpeg&q=80');
  });
});
