// `npm run sandbox` as a user runs it: state files, kubectl against it, a clean stop on SIGTERM,
// and on Ctrl-C, and the cleanup of what a killed run left behind (processes and cgroups).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive } from '../sandbox/pids.ts';
import { imageServiceDeployment, waitFor } from './sandbox.testkit.ts';

const exec = promisify(execFile);
const node = path.resolve('node_modules/.bin/node');

interface Info {
  apiServer: string;
  view: string;
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
    const info = await waitFor(
      'sandbox.json',
      async () => {
        const text = await fs.readFile(path.join(stateDir, 'sandbox.json'), 'utf8');
        const parsed = JSON.parse(text) as Info;
        return parsed.pid === child.pid ? parsed : undefined;
      },
      30_000,
    );
    return { child, info };
  }

  async function recordedPids(stateDir: string): Promise<number[]> {
    return (await fs.readdir(path.join(stateDir, 'pids')).catch(() => [])).map(Number);
  }

  /** The directories of the containers' cgroups, as recorded in the state dir. */
  async function recordedCgroups(stateDir: string): Promise<string[]> {
    const names = await fs.readdir(path.join(stateDir, 'cgroups')).catch(() => []);
    const lists = await Promise.all(names.map(async (n) => JSON.parse(await fs.readFile(path.join(stateDir, 'cgroups', n), 'utf8')) as string[]));
    return lists.flat();
  }

  it('serves kubectl, cleans up after a killed run, and stops cleanly on SIGTERM and on Ctrl-C', { timeout: 90_000 }, async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sandbox-main-'));
    const stateDir = path.join(dir, 'state');
    const photos = path.join(dir, 'photos');
    await fs.mkdir(photos);

    const first = await start(stateDir);
    expect(first.info.apiServer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(first.info.mesh).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(first.info.view).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect((await fetch(new URL('/api/state', first.info.view))).status).toBe(200);
    const manifest = path.join(dir, 'deploy.json');
    await fs.writeFile(manifest, JSON.stringify(imageServiceDeployment('web', 'default', 'imageops/image-service:2.0.0', 1, photos)));
    await exec('kubectl', ['--kubeconfig', first.info.kubeconfig, 'apply', '-f', manifest]);
    await exec('kubectl', ['--kubeconfig', first.info.kubeconfig, 'rollout', 'status', 'deployment/web', '--timeout=40s']);
    const { stdout } = await exec('kubectl', ['--kubeconfig', first.info.kubeconfig, 'get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].status.phase}']);
    expect(stdout).toBe('Running');

    // Killed without a chance to clean up: its pods and Prometheus live on...
    const leftovers = (await recordedPids(stateDir)).filter(isAlive);
    expect(leftovers.length).toBeGreaterThanOrEqual(first.info.prometheus === null ? 1 : 2);
    const leftCgroups = await recordedCgroups(stateDir);
    expect(leftCgroups.length).toBeGreaterThanOrEqual(1);
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    expect(leftovers.filter(isAlive)).toEqual(leftovers);
    expect(leftCgroups.filter((d) => existsSync(d))).toEqual(leftCgroups);

    // ...until the next run starts and removes them.
    const second = await start(stateDir);
    expect(leftovers.filter(isAlive)).toEqual([]);
    expect(leftCgroups.filter((d) => existsSync(d))).toEqual([]);
    await exec('kubectl', ['--kubeconfig', second.info.kubeconfig, 'apply', '-f', manifest]);
    await exec('kubectl', ['--kubeconfig', second.info.kubeconfig, 'rollout', 'status', 'deployment/web', '--timeout=40s']);
    const running = (await recordedPids(stateDir)).filter(isAlive);
    expect(running.length).toBeGreaterThanOrEqual(1);
    const cgroups = await recordedCgroups(stateDir);
    expect(cgroups.length).toBeGreaterThanOrEqual(1);

    const exited = new Promise<number | null>((r) => second.child.once('exit', (code) => r(code)));
    second.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(running.filter(isAlive)).toEqual([]);
    expect(cgroups.filter((d) => existsSync(d))).toEqual([]);
    expect(await recordedCgroups(stateDir)).toEqual([]);
    await expect(fs.access(path.join(stateDir, 'sandbox.json'))).rejects.toThrow();

    // Ctrl-C stops it as cleanly.
    const third = await start(stateDir);
    await exec('kubectl', ['--kubeconfig', third.info.kubeconfig, 'apply', '-f', manifest]);
    await exec('kubectl', ['--kubeconfig', third.info.kubeconfig, 'rollout', 'status', 'deployment/web', '--timeout=40s']);
    const thirdCgroups = await recordedCgroups(stateDir);
    expect(thirdCgroups.length).toBeGreaterThanOrEqual(1);
    const interrupted = new Promise<number | null>((r) => third.child.once('exit', (code) => r(code)));
    third.child.kill('SIGINT');
    expect(await interrupted).toBe(0);
    expect(thirdCgroups.filter((d) => existsSync(d))).toEqual([]);
    expect((await recordedPids(stateDir)).filter(isAlive)).toEqual([]);
  });
});
