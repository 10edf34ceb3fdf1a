import { describe, expect, it } from 'vitest';
import type { Container, Pod } from '../kube/types.ts';
import { ContainerConfigError, divideCeil, type EnvInputs, expand, referencedObjects, resolveEnv } from './env.ts';

function inputs(container: Omit<Container, 'name'>): EnvInputs {
  const c: Container = { name: 'app', ...container };
  const pod: Pod = {
    metadata: { name: 'web-1', namespace: 'shop', uid: 'u-1', labels: { app: 'web' }, annotations: { team: 'imaging' } },
    spec: { containers: [c], nodeName: 'sandbox' },
  };
  return {
    pod,
    container: c,
    podIP: '127.42.0.7',
    hostIP: '127.0.0.1',
    nodeAllocatable: { cpu: '2', memory: '4Gi', 'ephemeral-storage': '10Gi' },
    secrets: new Map([['creds', { metadata: { name: 'creds' }, data: { key: Buffer.from('s3cr3t').toString('base64') } }]]),
    configMaps: new Map([['cfg', { metadata: { name: 'cfg' }, data: { mode: 'fast', 'bad key': 'x' } }]]),
  };
}

describe('container env', () => {
  it('resolves values, the Downward API and references', () => {
    const env = resolveEnv(
      inputs({
        resources: { limits: { cpu: '1500m', memory: '512Mi' }, requests: { cpu: '500m' } },
        env: [
          { name: 'A', value: 'x' },
          { name: 'B', value: '$(A)-$(MISSING)-$$(A)' },
          { name: 'NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
          { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
          { name: 'TEAM', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['team']" } } },
          { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
          { name: 'CPU_M', valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '1m' } } },
          { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
          { name: 'SECRET', valueFrom: { secretKeyRef: { name: 'creds', key: 'key' } } },
          { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'mode' } } },
          { name: 'OPT', valueFrom: { secretKeyRef: { name: 'absent', key: 'k', optional: true } } },
        ],
      }),
    );
    expect(env).toEqual({
      A: 'x',
      B: 'x-$(MISSING)-$(A)',
      NAME: 'web-1',
      NS: 'shop',
      IP: '127.42.0.7',
      APP: 'web',
      TEAM: 'imaging',
      CPU: '2', // 1500m rounds up
      CPU_M: '500',
      MEM_MI: '512',
      SECRET: 's3cr3t',
      MODE: 'fast',
    });
  });

  it('reads an unset limit as the node allocatable', () => {
    expect(resolveEnv(inputs({ env: [{ name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } }] }))).toEqual({ CPU: '2' });
  });

  it('loads envFrom with a prefix, skipping invalid names, and lets env override it', () => {
    const env = resolveEnv(inputs({ envFrom: [{ configMapRef: { name: 'cfg' }, prefix: 'CFG_' }], env: [{ name: 'CFG_mode', value: 'slow' }] }));
    expect(env).toEqual({ CFG_mode: 'slow' });
  });

  it.each([
    [{ name: 'X', valueFrom: { secretKeyRef: { name: 'absent', key: 'k' } } }, 'secret "absent" not found'],
    [{ name: 'X', valueFrom: { secretKeyRef: { name: 'creds', key: 'nope' } } }, "couldn't find key nope in Secret shop/creds"],
    [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'gone', key: 'k' } } }, 'configmap "gone" not found'],
    [{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'spec.bogus' } } }, 'unsupported fieldRef'],
  ])('refuses to start on a missing reference (%#)', (e, message) => {
    expect(() => resolveEnv(inputs({ env: [e] }))).toThrow(ContainerConfigError);
    expect(() => resolveEnv(inputs({ env: [e] }))).toThrow(message);
  });

  it('lists the objects a pod references', () => {
    const i = inputs({ env: [{ name: 'S', valueFrom: { secretKeyRef: { name: 'creds', key: 'key' } } }], envFrom: [{ configMapRef: { name: 'cfg' } }] });
    i.pod.spec.volumes = [{ name: 'v', secret: { secretName: 'tls' } }];
    expect(referencedObjects(i.pod)).toEqual({ secrets: ['creds', 'tls'], configMaps: ['cfg'] });
  });

  it('expands only defined names', () => expect(expand('$(A)$(B)', { A: '1' })).toBe('1$(B)'));
});

describe('resourceFieldRef division', () => {
  it.each([
    ['500m', '1', 1n], // rounds up, like the real Downward API
    ['1500m', '1', 2n],
    ['500m', '1m', 500n],
    ['256Mi', '1Mi', 256n],
    ['256Mi', '1', 268435456n],
    ['1Gi', '1M', 1074n],
    ['2', '1', 2n],
  ])('ceil(%s / %s) = %s', (q, d, want) => expect(divideCeil(q, d)).toBe(want));

  it('refuses a zero divisor', () => expect(() => divideCeil('1', '0')).toThrow(/must be positive/));
});
