// The resource metrics API's NodeMetrics through real kubectl on both control planes: `kubectl top
// nodes` lists every Node with the machine's CPU and memory (the kubelets report the machine as
// each node's capacity), through kube-apiserver's aggregation layer on the real plane and the
// emulator on the other; a CPU kept busy shows; a selector or a name picks one node.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { waitFor } from '../sandbox/demo/rollout.ts';
import { RESOURCES } from '../sandbox/kube/client.ts';
import { ObjectMetaSchema } from '../sandbox/kube/types.ts';
import { CONTROL_PLANES, type Sandbox, startSandbox } from '../sandbox/sandbox.ts';

const exec = promisify(execFile);

interface Row {
  name: string;
  cpuMilli: number;
  memoryMi: number;
}

/** `kubectl top nodes --no-headers` rows: NAME CPU(cores) CPU% MEMORY(bytes) MEMORY%. */
function rows(stdout: string): Row[] {
  return stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const m = /^(\S+)\s+(\d+)m\s+\d+%\s+(\d+)Mi\s+\d+%$/.exec(line.trim());
      if (m === null) throw new Error(`not a kubectl top nodes row: ${line}`);
      return { name: m[1] ?? '', cpuMilli: Number(m[2]), memoryMi: Number(m[3]) };
    });
}

describe.each(CONTROL_PLANES)('kubectl top nodes on the %s control plane', { timeout: 120_000 }, (controlPlane) => {
  let sb: Sandbox;
  let dir: string;
  let busy: ChildProcess | undefined;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kubectl-top-'));
    sb = await startSandbox({ stateDir: path.join(dir, 'state'), prometheus: 'off', controlPlane });
  }, 120_000);

  afterAll(async () => {
    busy?.kill('SIGKILL');
    await sb?.stop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  const top = async (...args: string[]) => (await exec('kubectl', ['--kubeconfig', sb.kubeconfigPath, 'top', ...args, '--no-headers'])).stdout;

  it("lists every Node with the machine's CPU and memory; a busy CPU shows; a selector and a name pick one", async () => {
    const { items } = await sb.client.list(RESOURCES.nodes, z.looseObject({ metadata: ObjectMetaSchema }));
    const nodes = items.map((n) => n.metadata.name).sort();
    expect(nodes.length).toBe(controlPlane === 'real' ? 2 : 1);
    // a node appears with its second sample, a second after the sandbox starts
    const listed = await waitFor(
      'kubectl top nodes to list every Node',
      async () => {
        const r = rows(await top('nodes').catch(() => ''));
        return r.length === nodes.length ? r : undefined;
      },
      30_000,
      500,
    );
    expect(listed.map((r) => r.name).sort()).toEqual(nodes);
    // the machine's working set: at most all of it, at least most of what is not available (it
    // holds every process's anonymous memory, and the active page cache besides)
    const unavailableMi = (os.totalmem() - os.freemem()) / 2 ** 20;
    for (const r of listed) {
      expect(r.memoryMi).toBeGreaterThan(unavailableMi / 2);
      expect(r.memoryMi).toBeLessThan(os.totalmem() / 2 ** 20);
    }

    // one CPU kept busy by a process of no pod: the node's usage is the machine's, so it shows
    busy = spawn(process.execPath, ['-e', 'const end = Date.now() + 30000; while (Date.now() < end);'], { stdio: 'ignore' });
    const loaded = await waitFor(
      'a busy CPU to show on every node',
      async () => {
        const r = rows(await top('nodes'));
        return r.length === nodes.length && r.every((row) => row.cpuMilli >= 800) ? r : undefined;
      },
      30_000,
      1_000,
    );
    expect(loaded.map((r) => r.name).sort()).toEqual(nodes);
    busy.kill('SIGKILL');

    const [first = ''] = nodes;
    expect(rows(await top('nodes', '-l', `kubernetes.io/hostname=${first}`)).map((r) => r.name)).toEqual([first]);
    expect(rows(await top('node', first)).map((r) => r.name)).toEqual([first]);
    const unknown = await top('node', 'nowhere').catch((e: { stderr?: string }) => String(e.stderr));
    expect(unknown).toMatch(/nowhere.*not found/);
  });
});
