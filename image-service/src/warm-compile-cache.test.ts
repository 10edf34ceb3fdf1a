import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const WARM = fileURLToPath(new URL('./warm-compile-cache.ts', import.meta.url));
const run = promisify(execFile);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'compile-cache-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function files(root: string): Promise<string[]> {
  return (await readdir(root, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
}

describe('warm-compile-cache', () => {
  it('fills NODE_COMPILE_CACHE with the modules of main.ts and of what it loads, and exits 0', async () => {
    await run(process.execPath, [WARM], { env: { ...process.env, NODE_COMPILE_CACHE: dir }, timeout: 30_000 });
    // One entry per module: the service's own and its dependencies' (pino, zod, sharp, ...).
    expect((await files(dir)).length).toBeGreaterThan(50);
  });

  it('refuses to run without NODE_COMPILE_CACHE, saying so', async () => {
    const env = { ...process.env };
    delete env.NODE_COMPILE_CACHE;
    const failed = await run(process.execPath, [WARM], { env, timeout: 30_000 }).then(
      () => undefined,
      (error: unknown) => error as { code: number; stderr: string },
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toContain('set NODE_COMPILE_CACHE');
  });
});
