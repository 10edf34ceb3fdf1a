import { spawn } from 'node:child_process';
import { type AddressInfo, connect, createServer } from 'node:net';
import { expect } from 'vitest';
import { SourceError } from './source.ts';

/** What the sources' tests share. */

/** The SourceError a source call rejected with (the test fails if it resolved or threw anything else). */
export async function failure(call: Promise<unknown>): Promise<SourceError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SourceError);
  return err as SourceError;
}

/** A loopback port nothing listens on: a store or origin that is down. */
export function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * A loopback port where connections hang: a child process listens with a backlog of 1 and then
 * blocks its event loop, so it never accepts; once two connections fill the queue, the kernel
 * drops further SYNs and a connect waits. What a firewalled or overloaded origin looks like.
 */
export async function hangingPort(): Promise<{ port: number; close: () => void }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('node:net').createServer();
       s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
         process.stdout.write(s.address().port + '\\n');
         setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0), 20);
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    child.once('exit', () => reject(new Error('the hanging listener exited')));
  });
  await new Promise((resolve) => setTimeout(resolve, 100)); // its event loop is blocked by now
  const fillers = [connect(port, '127.0.0.1'), connect(port, '127.0.0.1')];
  await Promise.all(fillers.map((socket) => new Promise((resolve) => socket.once('connect', resolve))));
  return {
    port,
    close: () => {
      for (const socket of fillers) socket.destroy();
      child.kill('SIGKILL');
    },
  };
}
