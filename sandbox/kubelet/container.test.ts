import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../demo/rollout.ts';
import { REPO_ROOT } from '../sandbox.ts';
import { testServerEntry } from './catalogue.ts';
import { ContainerRunner } from './container.ts';

describe('ContainerRunner without cgroups', () => {
  let runner: ContainerRunner | undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-'));
  afterEach(async () => {
    await runner?.stop(1000);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs the container without its limits and says why in a Warning event', async () => {
    const events: string[] = [];
    runner = new ContainerRunner({
      container: { name: 'app', image: 'sandbox/test-server:1', resources: { limits: { cpu: '500m', memory: '64Mi' } } },
      launch: testServerEntry(REPO_ROOT).launch('1', { name: 'app' }),
      env: { ...process.env, PORT: '0' },
      podIP: '127.0.0.1',
      logDir: path.join(dir, 'logs'),
      stateDir: dir,
      restartPolicy: 'Never',
      graceMs: 1000,
      podUID: 'uid-1',
      cgroups: { ok: false, reason: 'cannot create cgroups in /sys/fs/cgroup/cpu (EACCES): run the sandbox as root' },
      onChange: () => {},
      onEvent: (type, reason, message) => events.push(`${type} ${reason} ${message}`),
    });
    runner.start();
    await waitFor('running', async () => ('running' in runner!.status().state ? true : undefined), 10_000, 50);
    expect(events).toContain('Warning CgroupUnavailable resources.limits of container app are not enforced: cannot create cgroups in /sys/fs/cgroup/cpu (EACCES): run the sandbox as root');
    expect(fs.readFileSync(`/proc/${runner.pid}/cgroup`, 'utf8')).not.toContain('imageops-');
    expect(fs.existsSync(path.join(dir, 'cgroups'))).toBe(false);
  });
});
