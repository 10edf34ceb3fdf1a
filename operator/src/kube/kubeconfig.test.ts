import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { fromKubeconfig, loadConnection } from './kubeconfig.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kubeconfig-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const config = (over: { cluster?: object; user?: object; current?: string } = {}) =>
  stringify({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': over.current ?? 'dev',
    clusters: [{ name: 'c1', cluster: { server: 'https://k8s.example:6443', ...over.cluster } }],
    users: [{ name: 'u1', user: { ...over.user } }],
    contexts: [{ name: 'dev', context: { cluster: 'c1', user: 'u1' } }],
  });

describe('kubeconfig', () => {
  it('reads the server, inline CA and client certificate, and a static token', async () => {
    const c = await fromKubeconfig(
      config({
        cluster: { 'certificate-authority-data': Buffer.from('CA').toString('base64'), 'tls-server-name': 'api' },
        user: { token: 't0k', 'client-certificate-data': Buffer.from('CERT').toString('base64'), 'client-key-data': Buffer.from('KEY').toString('base64') },
      }),
      dir,
    );
    expect(c.server.href).toBe('https://k8s.example:6443/');
    expect(c.ca?.toString()).toBe('CA');
    expect(c.cert?.toString()).toBe('CERT');
    expect(c.key?.toString()).toBe('KEY');
    expect(c.tlsServerName).toBe('api');
    expect(await c.credentials()).toEqual({ authorization: 'Bearer t0k' });
  });

  it('resolves file paths against the kubeconfig and reads token files', async () => {
    await writeFile(join(dir, 'ca.crt'), 'CAFILE');
    await writeFile(join(dir, 'token'), 'from-file\n');
    const c = await fromKubeconfig(config({ cluster: { 'certificate-authority': 'ca.crt' }, user: { tokenFile: 'token' } }), dir);
    expect(c.ca?.toString()).toBe('CAFILE');
    expect(await c.credentials()).toEqual({ authorization: 'Bearer from-file' });
  });

  it('basic auth, no auth, and insecure plain http (the sandbox)', async () => {
    expect(await (await fromKubeconfig(config({ user: { username: 'a', password: 'b' } }), dir)).credentials()).toEqual({ auth: 'a:b' });
    const sandbox = await fromKubeconfig(config({ cluster: { server: 'http://127.0.0.1:1234', 'insecure-skip-tls-verify': true } }), dir);
    expect(sandbox.server.protocol).toBe('http:');
    expect(await sandbox.credentials()).toEqual({});
  });

  it('merges $KUBECONFIG files, the first naming a thing winning', async () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    await writeFile(a, stringify({ 'current-context': 'prod', contexts: [{ name: 'prod', context: { cluster: 'p', user: 'u1' } }] }));
    await writeFile(b, stringify({ clusters: [{ name: 'p', cluster: { server: 'https://prod:443' } }], users: [{ name: 'u1', user: { token: 'x' } }] }));
    const c = await loadConnection({ KUBECONFIG: `${a}:${join(dir, 'missing')}:${b}` });
    expect(c.server.host).toBe('prod');
    expect(await c.credentials()).toEqual({ authorization: 'Bearer x' });
  });

  it('says what is wrong', async () => {
    await expect(fromKubeconfig(config({ current: 'nope' }), dir)).rejects.toThrow(/context nope not found/);
    await expect(fromKubeconfig('clusters: 3', dir)).rejects.toThrow(/clusters/);
    await expect(loadConnection({ KUBECONFIG: join(dir, 'none') })).rejects.toThrow(/no such file/);
  });
});
