import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NamespaceNetwork } from './network.ts';
import { runProbe } from './probes.ts';

const exec = promisify(execFile);

function connect(host: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: 8080 });
    socket.setTimeout(10_000, () => {
      socket.destroy();
      resolve('timeout');
    });
    socket.on('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('pod network namespaces on this machine (needs root and iproute2)', () => {
  let stateDir: string;
  let network: NamespaceNetwork;

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('this suite needs root: pod network namespaces are made with ip netns');
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubelet-net-'));
    network = await NamespaceNetwork.create(stateDir);
  });

  afterAll(async () => {
    await network?.close();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('gives a freed address out last, as host-local IPAM does', async () => {
    const a = await network.attach();
    const b = await network.attach();
    await a.release();
    const c = await network.attach();
    expect(new Set([a.ip, b.ip, c.ip]).size).toBe(3);
    await b.release();
    await c.release();
  });

  it('fails a connect to a released pod with EHOSTUNREACH, not after TCP retransmits', async () => {
    const pod = await network.attach();
    const bridge = (await exec('ip', ['-o', 'route', 'get', pod.ip])).stdout.match(/dev (\S+)/)?.[1] ?? '';
    // Refused once from the host, so the host learns the pod's neighbour entry.
    const refused = await connect(pod.ip);
    expect(refused).toBe('ECONNREFUSED');
    expect((await exec('ip', ['neigh', 'show', 'dev', bridge])).stdout).toContain(`${pod.ip} `);
    await pod.release();
    const neighbours = (await exec('ip', ['neigh', 'show', 'dev', bridge])).stdout;
    expect(neighbours).not.toContain(`${pod.ip} `);
    const attempt = await connect(pod.ip);
    expect(attempt).toBe('EHOSTUNREACH');
  });
  it('runs an exec probe in the pod network, where the pod address is its own', async () => {
    const pod = await network.attach();
    try {
      const owns = { exec: { command: ['sh', '-c', `ip -o addr show | grep -q ' ${pod.ip}/'`] } };
      const container = { name: 'app' };
      expect((await runProbe(owns, container, pod.ip, process.env, '/', pod.enter)).ok).toBe(true);
      expect((await runProbe(owns, container, pod.ip, process.env, '/')).ok).toBe(false);
    } finally {
      await pod.release();
    }
  });
});
