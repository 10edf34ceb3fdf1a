import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

describe('operator config', () => {
  it('has defaults for an empty environment', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      watchNamespaces: [],
      leaderElection: false,
      metrics: { host: '0.0.0.0', port: 8080 },
      prometheusUrl: undefined,
      logLevel: 'info',
      workers: 4,
      // closed: nothing beyond what a Deployment could do
      policy: { prometheusUrls: [], webhookUrls: [], allowHostPath: false, allowCrossNamespaceHosts: false, allowedGateways: [], imageRegistries: [] },
    });
  });

  it('reads every variable', () => {
    const c = loadConfig({
      WATCH_NAMESPACES: 'shop, media ,',
      LEADER_ELECTION: 'true',
      LEASE_NAME: 'imageops',
      LEASE_NAMESPACE: 'imageops-system',
      LEASE_DURATION_SECONDS: '20',
      POD_NAME: 'imageops-7d9-abc',
      METRICS_ADDRESS: '127.0.0.1:9090',
      PROMETHEUS_URL: 'http://prometheus.monitoring:9090',
      LOG_LEVEL: 'debug',
      WORKERS: '8',
      PROMETHEUS_ALLOWED_URLS: 'http://thanos.monitoring:9090/, http://prometheus.monitoring:9090',
      WEBHOOK_ALLOWED_URLS: 'http://smoke.shop:8080/check/,http://smoke.shop:8080/check',
      ALLOW_HOST_PATH: 'true',
      ALLOW_CROSS_NAMESPACE_HOSTS: 'true',
      ALLOWED_GATEWAYS: 'istio-system/public,edge/*',
      ALLOWED_IMAGE_REGISTRIES: 'registry.example.com/imageops,localhost:5000',
    });
    expect(c).toMatchObject({
      watchNamespaces: ['shop', 'media'],
      leaderElection: { name: 'imageops', namespace: 'imageops-system', identity: 'imageops-7d9-abc', leaseDurationMs: 20_000 },
      metrics: { host: '127.0.0.1', port: 9090 },
      prometheusUrl: 'http://prometheus.monitoring:9090',
      logLevel: 'debug',
      workers: 8,
      policy: {
        // PROMETHEUS_URL always, each once, as compared
        prometheusUrls: ['http://prometheus.monitoring:9090', 'http://thanos.monitoring:9090'],
        webhookUrls: ['http://smoke.shop:8080/check'],
        allowHostPath: true,
        allowCrossNamespaceHosts: true,
        allowedGateways: ['istio-system/public', 'edge/*'],
        imageRegistries: ['registry.example.com/imageops', 'localhost:5000'],
      },
    });
  });

  it('takes the lease namespace from the pod when unset', () => {
    const c = loadConfig({ LEADER_ELECTION: 'true' }, () => 'imageops-system');
    expect(c.leaderElection).toMatchObject({ namespace: 'imageops-system', name: 'imageops-operator' });
  });

  it.each([
    ['WATCH_NAMESPACES', 'Shop'],
    ['LEADER_ELECTION', 'maybe'],
    ['LEASE_DURATION_SECONDS', '1'],
    ['METRICS_ADDRESS', '8080'],
    ['METRICS_ADDRESS', 'localhost:99999'],
    ['PROMETHEUS_URL', 'prometheus:9090'],
    ['LOG_LEVEL', 'loud'],
    ['WORKERS', '0'],
    ['WORKERS', 'four'],
    ['PROMETHEUS_ALLOWED_URLS', 'http://ok:9090,file:///etc/passwd'],
    ['WEBHOOK_ALLOWED_URLS', 'gopher://hooks:70'],
    ['ALLOW_HOST_PATH', 'sure'],
    ['ALLOWED_GATEWAYS', 'public'],
    ['ALLOWED_IMAGE_REGISTRIES', 'https://registry.example.com'],
  ])('refuses %s=%s with one line naming it', (name, value) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message.startsWith(`${name}=`)).toBe(true);
    expect(message).not.toContain('\n');
  });

  it('needs a lease namespace for leader election outside a cluster', () => {
    expect(() => loadConfig({ LEADER_ELECTION: 'true' })).toThrow(/LEASE_NAMESPACE/);
  });
});
