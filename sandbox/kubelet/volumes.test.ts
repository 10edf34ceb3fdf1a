import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Pod } from '../kube/types.ts';
import { ContainerConfigError } from './env.ts';
import { materialiseVolumes, mountsOf, translatePath } from './volumes.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
});

describe('volumes', () => {
  it('materialises emptyDir, hostPath, secret and configMap volumes as files', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'kubelet-vol-'));
    dirs.push(root);
    const host = path.join(root, 'photos');
    const pod: Pod = {
      metadata: { name: 'p', namespace: 'shop' },
      spec: {
        containers: [{ name: 'c', volumeMounts: [{ name: 'src', mountPath: '/images' }, { name: 'tok', mountPath: '/etc/admin/' }] }],
        volumes: [
          { name: 'scratch', emptyDir: {} },
          { name: 'src', hostPath: { path: host, type: 'DirectoryOrCreate' } },
          { name: 'tok', secret: { secretName: 'admin', items: [{ key: 'token', path: 'nested/token' }] } },
          { name: 'cfg', configMap: { name: 'cfg' } },
        ],
      },
    };
    const vols = await materialiseVolumes(
      pod,
      path.join(root, 'pod'),
      new Map([['admin', { metadata: { name: 'admin' }, data: { token: Buffer.from('t0k').toString('base64') } }]]),
      new Map([['cfg', { metadata: { name: 'cfg' }, data: { 'presets.json': '{}' } }]]),
    );
    expect(vols.get('src')).toBe(host);
    expect((await fs.stat(host)).isDirectory()).toBe(true);
    expect((await fs.stat(vols.get('scratch') ?? '')).isDirectory()).toBe(true);
    expect(await fs.readFile(path.join(vols.get('tok') ?? '', 'nested/token'), 'utf8')).toBe('t0k');
    expect(await fs.readFile(path.join(vols.get('cfg') ?? '', 'presets.json'), 'utf8')).toBe('{}');

    const container = pod.spec.containers[0];
    if (container === undefined) throw new Error('no container');
    const mounts = mountsOf(container, vols);
    expect(translatePath('file:///images', mounts)).toBe(`file://${host}`);
    expect(translatePath('/images/a/b.jpg', mounts)).toBe(`${host}/a/b.jpg`);
    expect(translatePath('/etc/admin/nested/token', mounts)).toBe(`${vols.get('tok')}/nested/token`);
    expect(translatePath('/imagesX', mounts)).toBe('/imagesX');
    expect(translatePath('s3://bucket/images', mounts)).toBe('s3://bucket/images');
  });

  it('refuses a missing secret unless optional', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'kubelet-vol-'));
    dirs.push(root);
    const pod = (optional: boolean): Pod => ({ metadata: { name: 'p' }, spec: { containers: [], volumes: [{ name: 's', secret: { secretName: 'gone', optional } }] } });
    await expect(materialiseVolumes(pod(false), root, new Map(), new Map())).rejects.toThrow(ContainerConfigError);
    await expect(materialiseVolumes(pod(true), root, new Map(), new Map())).resolves.toBeInstanceOf(Map);
  });
});
