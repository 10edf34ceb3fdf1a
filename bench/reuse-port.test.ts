import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from './server.ts';

const preload = fileURLToPath(new URL('./reuse-port.ts', import.meta.url));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

// A server that answers with its pid, listening the way the image service does: listen(port, host, cb).
const SERVER = `require('node:http').createServer((q, s) => s.end(String(process.pid)))
  .listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));`;

async function start(port: number, withPreload: boolean): Promise<{ child: ChildProcess; listening: boolean }> {
  const child = spawn(process.execPath, [...(withPreload ? ['--import', preload] : []), '-e', SERVER], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const listening = await Promise.race([once(child.stdout!, 'data').then(() => true), once(child, 'exit').then(() => false)]);
  return { child, listening };
}

describe('the reusePort preload', () => {
  it('lets two processes share one port, and the kernel spreads connections over both', async () => {
    const port = await freePort();
    const a = await start(port, true);
    const b = await start(port, true);
    expect([a.listening, b.listening]).toEqual([true, true]);
    const pids = new Set<string>();
    for (let i = 0; i < 40 && pids.size < 2; i++) {
      // A new connection each time (no keep-alive), so the kernel picks a listener each time.
      const response = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' } });
      pids.add(await response.text());
    }
    expect(pids).toEqual(new Set([String(a.child.pid), String(b.child.pid)]));
  });

  it('is what makes the sharing possible: without it the second process cannot listen', async () => {
    const port = await freePort();
    expect((await start(port, false)).listening).toBe(true);
    expect((await start(port, false)).listening).toBe(false);
  });
});
