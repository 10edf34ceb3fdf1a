// `npm run sandbox` as a user runs it: state files, kubectl against it, a clean stop on SIGTERM,
// and the cleanup of what a killed run left behind.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive } from '../sandbox/pids.ts';
import { imageServiceDeployment, waitFor } from './sandbox-helpers.ts';

const exec = promisify(execFile);
const node = path.resolve('node_modules/.bin/node');

interface Info {
  apiServer: string;
  mesh: string;
  prometheus: string | null;
  kubeconfig: string;
  pid: number;
}

describe('npm run sandbox', () => {
  const children: ChildProcess[] = [];
  let dir = '';

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    if (dir !== '') {
      // Whatever a failed test left: the pid files say what to kill.
      const { killRecorded } = await import('../sandbox/pids.ts');
      killRecorded(path.join(dir, 'state'));
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  async function start(stateDir: string): Promise<{ child: ChildProcess; info: Info }> {
    const child = spawn(node, ['sandbox/main.ts'], { env: { ...process.env, SANDBOX_DIR: stateDir, SANDBOX_LOG_LEVEL: 'warn' }, stdio: 'ignore' });
    children.push(child);
    const info = await waitFor('sandbox.json', async () => {
      const text = await fs.readFile(path.join(stateDir, 'sandbox.json'), 'utf8');
      const parsed = JSON.parse(text) as Info;
      return parsed.pid === child.pid ? parsed : undefined;
    }, 30_000);
    return { child, info };
  }

  async function recordedPids(stateDir: string): Promise<number[]> {
    return (await fs.readdir(path.join(stateDir, 'pids')).catch(() => [])).map(Number);
  }

  it('serves kubectl, cleans up after a killed run, and stops cleanly on SIGTERM', { timeout: 90_000 }, async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sandbox-main-'));
    const stateDir = path.join(dir, 'state');
    const photos = path.join(dir, 'photos');
    await fs.mkdir(photos);

    const first = await start(stateDir);
    expect(first.info.apiServer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(first.info.mesh).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const manifest = path.join(dir, 'deploy.json');
    await fs.writeFile(manifest, JSON.stringify(imageServiceDeployment('web', 'default', 'imageops/image-service:2.0.0', 1, photos)));
    await exec('kubectl', ['--kubeconfig', first.info.kubeconfig, 'apply', '-f', manifest]);
    await exec('kubectl', ['--kubeconfig', first.info.kubeconfig, 'rollout', 'status', 'deployment/web', '--timeout=40s']);
    const { stdout } = await exec('kubectl', ['--kubeconfig', first.info.kubeconfig, 'get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].status.phase}']);
    expect(stdout).toBe('Running');

    // Killed without a chance to clean up: its pods and Prometheus live on...
    const leftovers = (await recordedPids(stateDir)).filter(isAlive);
    expect(leftovers.length).toBeGreaterThanOrEqual(first.info.prometheus === null ? 1 : 2);
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    expect(leftovers.filter(isAlive)).toEqual(leftovers);

    // ...until the next run starts and removes them.
    const second = await start(stateDir);
    expect(leftovers.filter(isAlive)).toEqual([]);
    await exec('kubectl', ['--kubeconfig', second.info.kubeconfig, 'apply', '-f', manifest]);
    await exec('kubectl', ['--kubeconfig', second.info.kubeconfig, 'rollout', 'status', 'deployment/web', '--timeout=40s']);
    const running = (await recordedPids(stateDir)).filter(isAlive);
    expect(running.length).toBeGreaterThanOrEqual(1);

    const exited = new Promise<number | null>((r) => second.child.once('exit', (code) => r(code)));
    second.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(running.filter(isAlive)).toEqual([]);
    await expect(fs.access(path.join(stateDir, 'sandbox.json'))).rejects.toThrow();
  });
});
