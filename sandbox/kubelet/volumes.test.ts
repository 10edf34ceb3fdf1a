import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Pod } from '../kube/types.ts';
import { ContainerConfigError } from './env.ts';
import { claimDir, materialiseVolumes, mountsOf, type Projection, translatePath } from './volumes.ts';

/** Volumes without a projected source never ask for a token. */
const noProjection: Projection = {
  token: () => Promise.reject(new Error('no token expected')),
  field: () => {
    throw new Error('no field expected');
  },
};

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
        containers: [
          {
            name: 'c',
            volumeMounts: [
              { name: 'src', mountPath: '/images' },
              { name: 'tok', mountPath: '/etc/admin/' },
            ],
          },
        ],
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
      path.join(root, 'claims'),
      noProjection,
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
    await expect(materialiseVolumes(pod(false), root, new Map(), new Map(), root, noProjection)).rejects.toThrow(ContainerConfigError);
    await expect(materialiseVolumes(pod(true), root, new Map(), new Map(), root, noProjection)).resolves.toBeInstanceOf(Map);
  });

  it('maps a persistentVolumeClaim to one directory per namespace and claim, shared by pods and kept after them', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'kubelet-vol-'));
    dirs.push(root);
    const claims = path.join(root, 'claims');
    const seeded = claimDir(claims, 'shop', 'originals');
    await fs.mkdir(seeded, { recursive: true });
    await fs.writeFile(path.join(seeded, 'a.jpg'), 'jpeg');
    const pod = (name: string, namespace: string): Pod => ({
      metadata: { name, namespace },
      spec: {
        containers: [{ name: 'c', volumeMounts: [{ name: 'src', mountPath: '/srv/images', readOnly: true }] }],
        volumes: [{ name: 'src', persistentVolumeClaim: { claimName: 'originals', readOnly: true } }],
      },
    });
    const one = await materialiseVolumes(pod('one', 'shop'), path.join(root, 'one'), new Map(), new Map(), claims, noProjection);
    const two = await materialiseVolumes(pod('two', 'shop'), path.join(root, 'two'), new Map(), new Map(), claims, noProjection);
    const other = await materialiseVolumes(pod('three', 'other'), path.join(root, 'three'), new Map(), new Map(), claims, noProjection);
    expect(one.get('src')).toBe(seeded);
    expect(two.get('src')).toBe(seeded);
    expect(other.get('src')).toBe(path.join(claims, 'other', 'originals'));
    const container = pod('one', 'shop').spec.containers[0];
    if (container === undefined) throw new Error('no container');
    expect(translatePath('file:///srv/images', mountsOf(container, one))).toBe(`file://${seeded}`);
    expect(await fs.readFile(path.join(seeded, 'a.jpg'), 'utf8')).toBe('jpeg');
    expect(() => claimDir(claims, 'shop', '..')).toThrow(ContainerConfigError);
  });

  it('projects a service-account token, a ConfigMap key and the namespace into one directory, each file replaced whole', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'kubelet-vol-'));
    dirs.push(root);
    const asked: unknown[] = [];
    let issued = 0;
    const projection: Projection = {
      token: async (source) => {
        asked.push(source);
        return Buffer.from(`token-${++issued}`);
      },
      field: (fieldPath) => (fieldPath === 'metadata.namespace' ? 'shop' : 'x'),
    };
    const mount = '/var/run/secrets/kubernetes.io/serviceaccount';
    const pod = (optional: boolean): Pod => ({
      metadata: { name: 'p', namespace: 'shop' },
      spec: {
        containers: [{ name: 'c', volumeMounts: [{ name: 'kube-api-access', mountPath: mount, readOnly: true }] }],
        volumes: [
          {
            name: 'kube-api-access',
            projected: {
              sources: [
                { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
                { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }], optional } },
                { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
              ],
            },
          },
        ],
      },
    });
    const ca = new Map([['kube-root-ca.crt', { metadata: { name: 'kube-root-ca.crt' }, data: { 'ca.crt': 'PEM' } }]]);
    const vols = await materialiseVolumes(pod(false), path.join(root, 'pod'), new Map(), ca, root, projection);
    const dir = vols.get('kube-api-access') ?? '';
    expect(await fs.readFile(path.join(dir, 'token'), 'utf8')).toBe('token-1');
    expect(await fs.readFile(path.join(dir, 'ca.crt'), 'utf8')).toBe('PEM');
    expect(await fs.readFile(path.join(dir, 'namespace'), 'utf8')).toBe('shop');
    expect(asked).toEqual([{ path: 'token', expirationSeconds: 3607 }]);
    const container = pod(false).spec.containers[0];
    if (container === undefined) throw new Error('no container');
    expect(translatePath(mount, mountsOf(container, vols))).toBe(dir);
    // Again (the kubelet's retry): the token is replaced, nothing is left half-written.
    await materialiseVolumes(pod(false), path.join(root, 'pod'), new Map(), ca, root, projection);
    expect((await fs.readdir(dir)).sort()).toEqual(['ca.crt', 'namespace', 'token']);
    expect(await fs.readFile(path.join(dir, 'token'), 'utf8')).toBe('token-2');
    // The CA's ConfigMap not published yet: the container waits (CreateContainerConfigError).
    await expect(materialiseVolumes(pod(false), path.join(root, 'other'), new Map(), new Map(), root, projection)).rejects.toThrow(/configmap "kube-root-ca.crt" not found/);
    await expect(materialiseVolumes(pod(true), path.join(root, 'other'), new Map(), new Map(), root, projection)).resolves.toBeInstanceOf(Map);
  });
});
