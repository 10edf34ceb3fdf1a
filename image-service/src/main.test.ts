import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, get, makeFixture, metric, scrape, send, until } from './service.testkit.ts';
import { signUrl } from './signing.ts';
import { LOCAL_S3_ENV, startLocalS3 } from './sources/local-s3.testkit.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

let fixture: Fixture;
const children: ChildProcess[] = [];

beforeAll(async () => {
  fixture = await makeFixture();
});

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

afterAll(async () => {
  await fixture?.cleanup();
});

interface Started {
  child: ChildProcess;
  port: number;
  logs: Array<Record<string, unknown>>;
  exit: Promise<number | null>;
}

function run(env: Record<string, string>): { child: ChildProcess; stdout: () => string; stderr: () => string; exit: Promise<number | null> } {
  const vars: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const name of ['UV_THREADPOOL_SIZE', 'VIPS_CONCURRENCY', 'MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'IMAGE_SERVICE_WORKERS']) if (!(name in env)) delete vars[name];
  const child = spawn(process.execPath, [MAIN], { env: vars, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exit };
}

async function start(env: Record<string, string> = {}): Promise<Started> {
  const proc = run({ IMAGE_SOURCE: pathToFileURL(fixture.root).href, IMAGE_SERVICE_HOST: '127.0.0.1', IMAGE_SERVICE_PORT: '0', ...env });
  const logs = (): Array<Record<string, unknown>> =>
    proc
      .stdout()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  await until(() => logs().some((l) => l.msg === 'listening'), 15_000);
  const port = Number(logs().find((l) => l.msg === 'listening')!.port);
  return {
    child: proc.child,
    port,
    exit: proc.exit,
    get logs() {
      return logs();
    },
  };
}

describe('image-service process', () => {
  it.each([
    [{ IMAGE_SERVICE_PORT: 'abc' }, 'IMAGE_SERVICE_PORT'],
    [{ IMAGE_SERVICE_WORKERS: '0' }, 'IMAGE_SERVICE_WORKERS'],
    [{ IMAGE_SOURCE: 'file:///no/such/folder/anywhere' }, 'IMAGE_SOURCE'],
    [{ IMAGE_SOURCE: '' }, 'IMAGE_SOURCE'],
    [{ IMAGE_SERVICE_MEMORY_LIMIT_BYTES: String(200 * 1024 * 1024), IMAGE_SERVICE_WORKERS: '4' }, 'IMAGE_SERVICE_MEMORY_LIMIT_BYTES'],
    [{ IMAGE_SERVICE_TRANSFORM_SECONDS: '0' }, 'IMAGE_SERVICE_TRANSFORM_SECONDS'],
    [{ IMAGE_SERVICE_SEND_TIMEOUT_MS: 'soon' }, 'IMAGE_SERVICE_SEND_TIMEOUT_MS'],
  ])('stops on a bad configuration %j with one line naming the variable', async (env, name) => {
    const proc = run({ IMAGE_SOURCE: pathToFileURL(fixture.root).href, IMAGE_SERVICE_HOST: '127.0.0.1', IMAGE_SERVICE_PORT: '0', ...env });
    const code = await proc.exit;
    expect(code).not.toBe(0);
    const lines = proc.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^image-service: ${name}: `));
  });

  it('starts with threads derived from its workers, set before libuv, libvips and glibc read them', async () => {
    const svc = await start({ IMAGE_SERVICE_WORKERS: '1' });
    const settings = svc.logs.find((l) => l.msg === 'effective settings')!;
    expect(settings).toMatchObject({ workers: 1, workersFrom: 'IMAGE_SERVICE_WORKERS', threadpoolSize: 2, vipsConcurrency: 1, mallocArenaMax: '1', queueLimit: 1024 });
    expect(settings.execArgv).toContain('--max-semi-space-size=4');
    // The process itself (same PID, after execve) runs with them, so glibc saw MALLOC_ARENA_MAX.
    const environ = readFileSync(`/proc/${svc.child.pid}/environ`, 'utf8').split('\0');
    expect(environ).toEqual(expect.arrayContaining(['UV_THREADPOOL_SIZE=2', 'VIPS_CONCURRENCY=1', 'MALLOC_ARENA_MAX=1', 'MALLOC_MMAP_THRESHOLD_=33554432', 'MALLOC_TRIM_THRESHOLD_=33554432']));
    await Promise.all(Array.from({ length: 4 }, (_, i) => get(svc.port, `/image/files/slow.jpg?w=${300 + i}`)));
    const pool = readdirSync(`/proc/${svc.child.pid}/task`).filter((task) => {
      try {
        return readFileSync(`/proc/${svc.child.pid}/task/${task}/comm`, 'utf8').startsWith('libuv-worker');
      } catch {
        return false;
      }
    });
    expect(pool).toHaveLength(2);
    svc.child.kill('SIGTERM');
    expect(await svc.exit).toBe(0);
  });

  it('listens with a backlog as deep as its queue, so a burst of connections is not dropped by the kernel', async () => {
    const svc = await start({ IMAGE_SERVICE_WORKERS: '2', IMAGE_SERVICE_QUEUE_LIMIT: '1500' });
    // For a listening socket, ss reports the accept queue's limit as Send-Q (the kernel's own view).
    const listening = execFileSync('ss', ['-Hltn', `sport = :${svc.port}`], { encoding: 'utf8' })
      .trim()
      .split(/\s+/);
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    expect(Number(listening[2])).toBe(Math.min(1502, somaxconn));
    expect(svc.logs.find((l) => l.msg === 'listening')).toMatchObject({ backlog: 1502 });
    svc.child.kill('SIGTERM');
    expect(await svc.exit).toBe(0);
  });

  it('on SIGTERM turns unready at once, finishes the requests in flight and exits 0', async () => {
    const svc = await start({ IMAGE_SERVICE_WORKERS: '1' });
    const inflight = Array.from({ length: 3 }, (_, i) => get(svc.port, `/image/files/slow.jpg?w=${1500 + i}&fm=webp`));
    await until(async () => {
      const text = await scrape(svc.port);
      return metric(text, 'image_service_inflight') === 1 && metric(text, 'image_service_queue_length') === 2;
    });
    svc.child.kill('SIGTERM');
    await until(() => svc.logs.some((l) => String(l.msg).startsWith('draining')));
    // Not ready from now on: a probe is refused a connection or told 503.
    const probe = await get(svc.port, '/readyz').then(
      (answer) => answer.status,
      (error: NodeJS.ErrnoException) => error.code,
    );
    expect([503, 'ECONNREFUSED', 'ECONNRESET']).toContain(probe);
    const answers = await Promise.all(inflight);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers.every((a) => a.headers.connection === 'close')).toBe(true);
    expect(await svc.exit).toBe(0);
    expect(svc.logs.some((l) => l.msg === 'drained, exiting')).toBe(true);
  });
});

describe('image-service process with a management port', () => {
  it('serves the record of recent renders there, not on its port, and still drains and exits 0', async () => {
    const svc = await start({ IMAGE_SERVICE_MANAGEMENT_PORT: '0' });
    const management = Number(svc.logs.find((l) => l.msg === 'management port listening')!.port);
    expect(management).not.toBe(svc.port);
    expect(svc.logs.find((l) => l.msg === 'effective settings')).toMatchObject({ recordRecent: true });
    expect((await get(svc.port, '/image/files/photo.jpg?w=50')).status).toBe(200);
    const record = await get(management, '/recent-requests');
    expect(JSON.parse(record.body.toString())).toEqual({ entries: [{ key: 'photo.jpg', params: 'w=50&fit=inside&q=80&fm=auto' }] });
    expect((await get(svc.port, '/recent-requests')).status).toBe(404);
    svc.child.kill('SIGTERM');
    expect(await svc.exit).toBe(0);
  });

  it('stops with one line when the management port is taken', async () => {
    const first = await start({ IMAGE_SERVICE_MANAGEMENT_PORT: '0' });
    const taken = String(first.logs.find((l) => l.msg === 'management port listening')!.port);
    const proc = run({ IMAGE_SOURCE: pathToFileURL(fixture.root).href, IMAGE_SERVICE_HOST: '127.0.0.1', IMAGE_SERVICE_PORT: '0', IMAGE_SERVICE_MANAGEMENT_PORT: taken });
    expect(await proc.exit).not.toBe(0);
    const lines = proc.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^image-service: cannot listen on 127\\.0\\.0\\.1:${taken} \\(IMAGE_SERVICE_MANAGEMENT_PORT\\): `));
    first.child.kill('SIGTERM');
    expect(await first.exit).toBe(0);
  });
});

describe('image-service process with the S3 source, signed URLs and the management API', () => {
  it('serves an S3 bucket, with PUT authorized by the token file and the secrets kept out of the logs', async () => {
    const s3 = await startLocalS3('originals');
    try {
      await writeFile(join(fixture.dir, 'admin-token'), 'process-admin-token\n');
      const svc = await start({
        IMAGE_SOURCE: 's3://originals/products/',
        S3_ENDPOINT: s3.endpoint,
        ...LOCAL_S3_ENV,
        IMAGE_SERVICE_ADMIN_TOKEN_FILE: join(fixture.dir, 'admin-token'),
        IMAGE_SERVICE_SIGNING_KEYS: 'process-signing-key',
      });
      const photo = readFileSync(join(fixture.root, 'photo.jpg'));
      expect((await send(svc.port, 'PUT', '/image/files/a.jpg', photo, { authorization: 'Bearer process-admin-token' })).status).toBe(201);
      expect((await get(svc.port, '/image/files/a.jpg?w=40')).status).toBe(403);
      const resized = await get(svc.port, signUrl('/image/files/a.jpg?w=40', 'process-signing-key'));
      expect(resized.status).toBe(200);
      const logs = JSON.stringify(svc.logs);
      expect(logs).toContain('"managementApi":true');
      expect(logs).not.toContain('process-admin-token');
      expect(logs).not.toContain('process-signing-key');
      svc.child.kill('SIGTERM');
      expect(await svc.exit).toBe(0);
    } finally {
      await s3.close();
    }
  });

  it.each([
    [{ IMAGE_SERVICE_ADMIN_TOKEN_FILE: '/no/such/token' }, 'IMAGE_SERVICE_ADMIN_TOKEN_FILE'],
    [{ IMAGE_SOURCE: 's3:///no-bucket' }, 'IMAGE_SOURCE'],
    [{ IMAGE_SERVICE_PRESETS: '{"thumb": {"fit": "squash"}}' }, 'IMAGE_SERVICE_PRESETS'],
  ])('stops on %j with one line naming the variable', async (env, name) => {
    const proc = run({ IMAGE_SOURCE: pathToFileURL(fixture.root).href, IMAGE_SERVICE_HOST: '127.0.0.1', IMAGE_SERVICE_PORT: '0', ...env });
    expect(await proc.exit).not.toBe(0);
    const lines = proc.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^image-service: ${name}: `));
  });
});
