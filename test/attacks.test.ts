import { afterEach, describe, expect, it } from 'vitest';
import { canaryMeasure } from '../operator/src/canary/measure.ts';
import { kubeEndpoints } from '../operator/src/canary/providers/endpoints.ts';
import { Providers } from '../operator/src/canary/providers/select.ts';
import { endlessAnswer, serve } from '../operator/src/canary/providers/testkit.ts';
import { kubeSigningKey } from '../operator/src/canary/signing-key.ts';
import type { KubeClient, KubeObject } from '../operator/src/kube/client.ts';
import { resources } from '../operator/src/kube/client.ts';
import { InvalidError } from '../operator/src/kube/errors.ts';
import { CLOSED_POLICY, type TenantPolicy } from '../operator/src/policy.ts';
import { CONTROL_PLANES, type ControlPlaneKind } from '../sandbox/sandbox.ts';
import { cluster, condition, eventually, getOrUndefined, imageService, namespace, operator, settled, statusOf, stopAll } from './operator.testkit.ts';

afterEach(stopAll);

const SECRET = 'AKIA-SECRET-0123456789';

/** A client and the tenant's namespace on a control plane of its own. */
async function tenant(kind: ControlPlaneKind): Promise<{ client: KubeClient; ns: string }> {
  const client = await (await cluster(kind)).connect();
  const ns = 'tenant';
  await namespace(client, ns);
  return { client, ns };
}

/** The operator with the canary, watching `ns` only, under `policy`. */
async function operatorFor(client: KubeClient, ns: string, policy: TenantPolicy, timeoutMs = 10_000) {
  const providers = new Providers({ prometheusUrl: undefined, endpoints: kubeEndpoints(client), signingKey: kubeSigningKey(client), timeoutMs });
  return operator(client, { namespaces: [ns], policy, measure: canaryMeasure(providers) });
}

/** Plays the Deployment controller: the Deployment has rolled out its current spec. */
async function rolledOut(client: KubeClient, ns: string, name: string): Promise<void> {
  const d = await client.get(resources.deployments, ns, name);
  const replicas = (d['spec'] as { replicas: number }).replicas;
  await client.replaceStatus(resources.deployments, { ...d, status: { observedGeneration: d.metadata.generation, replicas, readyReplicas: replicas, updatedReplicas: replicas } });
}

/**
 * A canary of `name` measured against the Prometheus at `address` (which the policy allows):
 * initialised, a new image, the canary ready; resolves with the status once the first check
 * has failed (threshold 1: the rollout is Failed).
 */
async function firstCheck(client: KubeClient, ns: string, name: string, address: string): Promise<Record<string, unknown>> {
  await client.create(resources.imageServices, imageService(name, ns, { replicas: 1, canary: { interval: '1s', threshold: 1, analysis: { prometheus: { address } } } }));
  await eventually('Initialized', async () => (await statusOf(client, ns, name))['phase'] === 'Initialized');
  await rolledOut(client, ns, `${name}-primary`);
  await client.mergePatch(resources.imageServices, ns, name, { spec: { image: 'imageops/image-service:1.1.0' } });
  await eventually('the canary scaled up', async () => ((await client.get(resources.deployments, ns, `${name}-canary`))['spec'] as { replicas: number }).replicas === 1);
  await rolledOut(client, ns, `${name}-canary`);
  return eventually(
    'the check to fail',
    async () => {
      const s = await statusOf(client, ns, name);
      return s['phase'] === 'Failed' ? s : undefined;
    },
    20_000,
  );
}

async function eventsOf(client: KubeClient, ns: string): Promise<KubeObject[]> {
  return (await client.list(resources.events, { namespace: ns })).items;
}

describe.each(CONTROL_PLANES)('on the %s control plane', { timeout: 120_000 }, (controlPlane) => {
  describe('1. SSRF through spec.canary.analysis.prometheus.address', () => {
    it('an address the installer did not allow is refused with a condition, and never fetched', async () => {
      const { client, ns } = await tenant(controlPlane);
      let fetched = 0;
      const metadata = await serve((_q, r) => {
        fetched++;
        r.end(SECRET);
      });
      const m = await operatorFor(client, ns, CLOSED_POLICY);
      await client.create(resources.imageServices, imageService('thumbs', ns, { canary: { analysis: { prometheus: { address: metadata.url } } } }));
      await settled(client, m, ns, 'thumbs');
      const status = await statusOf(client, ns, 'thumbs');
      expect(condition(status, 'PolicyViolation')).toMatchObject({ status: 'True', reason: 'PrometheusNotAllowed' });
      expect(String(condition(status, 'PolicyViolation')?.['message'])).toMatch(
        /^spec\.canary\.analysis\.prometheus\.address: http:\/\/127\.0\.0\.1:\d+ is not a Prometheus this operator may query \(none is allowed/,
      );
      expect(condition(status, 'Ready')).toMatchObject({ status: 'False', reason: 'PolicyViolation' });
      expect(await getOrUndefined(client, resources.deployments, ns, 'thumbs-primary')).toBeUndefined();
      expect((await eventsOf(client, ns)).map((e) => e['reason'])).toContain('PrometheusNotAllowed');
      expect(fetched).toBe(0);
      await metadata.close();
    });
  });

  describe('3. an ImageService as a way to run any pod', () => {
    it('hostPath is refused unless the installer allows it', async () => {
      const { client, ns } = await tenant(controlPlane);
      const m = await operatorFor(client, ns, CLOSED_POLICY);
      await client.create(resources.imageServices, imageService('thumbs', ns, { source: { file: { path: '/srv/images', hostPath: '/' } } }));
      await settled(client, m, ns, 'thumbs');
      const status = await statusOf(client, ns, 'thumbs');
      expect(condition(status, 'PolicyViolation')).toMatchObject({ status: 'True', reason: 'HostPathNotAllowed' });
      expect(String(condition(status, 'PolicyViolation')?.['message'])).toMatch(/^spec\.source\.file\.hostPath: node directories are not allowed/);
      expect(await getOrUndefined(client, resources.deployments, ns, 'thumbs-primary')).toBeUndefined();
      expect(await getOrUndefined(client, resources.deployments, ns, 'thumbs-canary')).toBeUndefined();
    });

    it('an image outside the allowed registries is refused, nothing written; one inside runs', async () => {
      const { client, ns } = await tenant(controlPlane);
      const m = await operatorFor(client, ns, { ...CLOSED_POLICY, imageRegistries: ['registry.example.com/imageops'] });
      await client.create(resources.imageServices, imageService('thumbs', ns, { image: 'registry.example.com/imageops-evil/miner:1' }));
      await settled(client, m, ns, 'thumbs');
      const status = await statusOf(client, ns, 'thumbs');
      expect(condition(status, 'PolicyViolation')).toMatchObject({ status: 'True', reason: 'ImageNotAllowed' });
      expect(String(condition(status, 'PolicyViolation')?.['message'])).toMatch(/^spec\.image: registry\.example\.com\/imageops-evil\/miner is outside the registries/);
      expect(await getOrUndefined(client, resources.deployments, ns, 'thumbs-primary')).toBeUndefined();

      await client.mergePatch(resources.imageServices, ns, 'thumbs', { spec: { image: 'registry.example.com/imageops/image-service:1.0.0' } });
      await settled(client, m, ns, 'thumbs');
      expect(condition(await statusOf(client, ns, 'thumbs'), 'PolicyViolation')).toBeUndefined();
      expect(await getOrUndefined(client, resources.deployments, ns, 'thumbs-primary')).toBeDefined();
    });
  });

  describe('4. taking mesh traffic', () => {
    it('a wildcard host is refused by the CRD at apply, naming the field', async () => {
      const { client, ns } = await tenant(controlPlane);
      const err = await client.create(resources.imageServices, imageService('thumbs', ns, { traffic: { hosts: ['*.example.com'] } })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidError);
      expect((err as Error).message).toContain('spec.traffic.hosts[0]');
    });

    it("another namespace's Service as a host, or its Gateway, is refused with a condition", async () => {
      const { client, ns } = await tenant(controlPlane);
      const m = await operatorFor(client, ns, CLOSED_POLICY);
      await client.create(resources.imageServices, imageService('thumbs', ns, { traffic: { hosts: ['payments.billing.svc.cluster.local'], gateways: ['istio-system/public'] } }));
      await settled(client, m, ns, 'thumbs');
      const status = await statusOf(client, ns, 'thumbs');
      expect(condition(status, 'PolicyViolation')).toMatchObject({ status: 'True', reason: 'HostNotAllowed' });
      const message = String(condition(status, 'PolicyViolation')?.['message']);
      expect(message).toContain('spec.traffic.hosts[0]: payments.billing.svc.cluster.local names a Service of namespace billing');
      expect(message).toContain('spec.traffic.gateways[0]: istio-system/public is a Gateway of another namespace');
      expect(await getOrUndefined(client, resources.virtualServices, ns, 'thumbs')).toBeUndefined();
    });

    it("no VirtualService is written over a Service that is someone else's", async () => {
      const { client, ns } = await tenant(controlPlane);
      const service = (name: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { selector: { app: name }, ports: [{ port: 80 }] } });
      await client.create(resources.services, service('thumbs'));
      await client.create(resources.services, service('payments'));
      const m = await operatorFor(client, ns, CLOSED_POLICY);
      // its own name is someone else's Service: no route at all
      await client.create(resources.imageServices, imageService('thumbs', ns));
      // a host of traffic.hosts is: the route leaves that host out
      await client.create(resources.imageServices, imageService('resize', ns, { traffic: { hosts: ['payments', `payments.${ns}.svc.cluster.local`, 'images.example.com'] } }));
      await settled(client, m, ns, 'thumbs');
      await settled(client, m, ns, 'resize');

      expect(await getOrUndefined(client, resources.virtualServices, ns, 'thumbs')).toBeUndefined();
      const thumbs = await statusOf(client, ns, 'thumbs');
      expect(String(condition(thumbs, 'ConflictingChild')?.['message'])).toMatch(/^Service thumbs, VirtualService thumbs \(not written/);

      const vs = await client.get(resources.virtualServices, ns, 'resize');
      expect((vs['spec'] as { hosts: string[] }).hosts).toEqual(['resize', 'images.example.com']);
      const resize = await statusOf(client, ns, 'resize');
      expect(condition(resize, 'ConflictingChild')).toMatchObject({ status: 'True', reason: 'NotOwned' });
      expect(String(condition(resize, 'ConflictingChild')?.['message'])).toContain('Service payments (host payments of traffic.hosts, left out of the VirtualService)');
    });

    it("another ImageService's external host is not taken: the later route leaves it out", async () => {
      const { client, ns } = await tenant(controlPlane);
      const m = await operatorFor(client, ns, CLOSED_POLICY);
      await client.create(resources.imageServices, imageService('victim', ns, { traffic: { hosts: ['images.example.com'] } }));
      await settled(client, m, ns, 'victim');
      // creation times are whole seconds: the victim's route is older by one
      await new Promise((r) => setTimeout(r, 1100));
      await client.create(resources.imageServices, imageService('thief', ns, { traffic: { hosts: ['images.example.com', 'thief.example.com'] } }));
      const hostsOf = async (name: string) => ((await client.get(resources.virtualServices, ns, name))['spec'] as { hosts: string[] }).hosts;
      // level-triggered: should the cache not show the victim's route yet, the next look leaves the host out
      await eventually(
        "the thief's route without the host",
        async () => (await getOrUndefined(client, resources.virtualServices, ns, 'thief'))?.['spec'] !== undefined && !(await hostsOf('thief')).includes('images.example.com'),
      );
      await settled(client, m, ns, 'thief');
      expect(await hostsOf('thief')).toEqual(['thief', 'thief.example.com']);
      expect(await hostsOf('victim')).toEqual(['victim', 'images.example.com']);
      const thief = await statusOf(client, ns, 'thief');
      expect(String(condition(thief, 'ConflictingChild')?.['message'])).toContain(`VirtualService ${ns}/victim (routes host images.example.com since before this one; left out of the VirtualService)`);
      // the victim, reconciled again, keeps its host: its route is the older
      await client.mergePatch(resources.imageServices, ns, 'victim', { spec: { replicas: 3 } });
      await settled(client, m, ns, 'victim');
      expect(await hostsOf('victim')).toEqual(['victim', 'images.example.com']);
      expect(condition(await statusOf(client, ns, 'victim'), 'ConflictingChild')).toBeUndefined();
    });
  });

  describe('5. specs larger than status', () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['65 env variables', { env: Array.from({ length: 65 }, (_, i) => ({ name: `V${i}`, value: 'x' })) }, 'spec.env'],
      ['an env value of 2049 characters', { env: [{ name: 'BIG', value: 'x'.repeat(2049) }] }, 'spec.env[0].value'],
      ['65 presets', { serving: { presets: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`p${i}`, { w: 10 }])) } }, 'spec.serving.presets'],
      ['a long quantity', { resources: { limits: { memory: `${'1'.repeat(70)}` } } }, 'spec.resources.limits.memory'],
    ];
    // one control plane for the table: a real one takes seconds to start
    it('an oversized spec is refused by the CRD at apply, naming the field', async () => {
      const { client, ns } = await tenant(controlPlane);
      for (const [what, spec, field] of cases) {
        const err = await client.create(resources.imageServices, imageService('thumbs', ns, spec)).catch((e: unknown) => e);
        expect(err, what).toBeInstanceOf(InvalidError);
        expect((err as Error).message, what).toContain(field);
      }
    });

    it('a refusal longer than a status message may be: cut to the bound, the status and Event written', async () => {
      const { client, ns } = await tenant(controlPlane);
      const m = await operatorFor(client, ns, CLOSED_POLICY);
      // 32 hosts of another namespace, each a refusal of some 400 characters
      const hosts = Array.from({ length: 32 }, (_, i) => `${'a'.repeat(60)}${i}.billing.svc.cluster.local`);
      await client.create(resources.imageServices, imageService('thumbs', ns, { traffic: { hosts } }));
      await settled(client, m, ns, 'thumbs');
      const status = await statusOf(client, ns, 'thumbs');
      const message = String(condition(status, 'PolicyViolation')?.['message']);
      expect(message.length).toBe(4096);
      expect(message).toMatch(/^spec\.traffic\.hosts\[0\]: .* \.\.\. \(cut from \d+ characters\)$/);
      expect(String(status['message']).length).toBe(4096);
      const [event] = (await eventsOf(client, ns)).filter((e) => e['reason'] === 'HostNotAllowed');
      expect(String(event?.['message']).length).toBe(1024);
    });

    it('a spec within every bound whose template JSON still outgrows status: InvalidSpec, a status written, no child', async () => {
      const { client, ns } = await tenant(controlPlane);
      const m = await operatorFor(client, ns, CLOSED_POLICY);
      // quotes double in JSON: 64 values of 2048 characters make a template over 262144
      const env = Array.from({ length: 64 }, (_, i) => ({ name: `V${i}`, value: '"'.repeat(2048) }));
      await client.create(resources.imageServices, imageService('thumbs', ns, { env }));
      await settled(client, m, ns, 'thumbs');
      const status = await statusOf(client, ns, 'thumbs');
      expect(condition(status, 'InvalidSpec')).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
      expect(String(condition(status, 'InvalidSpec')?.['message'])).toMatch(/^spec: the pod template it makes is \d+ characters as JSON, more than the 262144 status keeps/);
      expect(await getOrUndefined(client, resources.deployments, ns, 'thumbs-primary')).toBeUndefined();
    });
  });
});

describe('on the emulated control plane, playing the Deployment controller', () => {
  describe('1. SSRF through spec.canary.analysis.prometheus.address', () => {
    it('what an allowed address answers never reaches status or Events: an HTTP status and a fixed reason', async () => {
      const { client, ns } = await tenant('emulated');
      const metadata = await serve((_q, r) => r.end(`{"Code":"Success","SecretAccessKey":"${SECRET}"}\n${SECRET}`));
      const m = await operatorFor(client, ns, { ...CLOSED_POLICY, prometheusUrls: [metadata.url] });
      const status = await firstCheck(client, ns, 'thumbs', metadata.url);
      await m.recorder.flush();
      const events = await eventsOf(client, ns);
      expect((status['lastAnalysis'] as { reason: string }).reason).toMatch(/answered with HTTP 200 and no JSON: is it the Prometheus HTTP API\?/);
      expect(JSON.stringify(status)).not.toContain('SECRET');
      expect(events.map((e) => e['reason'])).toContain('RolledBack');
      expect(JSON.stringify(events)).not.toContain('SECRET');
      await metadata.close();
    });
  });

  describe("2. an endless answer against the operator's memory", () => {
    it('is cut at the byte cap long before the timeout; the check fails saying so', async () => {
      const { client, ns } = await tenant('emulated');
      const answer = endlessAnswer();
      const endless = await serve(answer.listener);
      // a timeout far beyond the wait below: only the byte cap can end these reads in time
      const m = await operatorFor(client, ns, { ...CLOSED_POLICY, prometheusUrls: [endless.url] }, 120_000);
      const status = await firstCheck(client, ns, 'thumbs', endless.url);
      expect((status['lastAnalysis'] as { reason: string }).reason).toMatch(/answered with more than 262144 bytes/);
      // what the server could push before the operator hung up: the cap and the sockets' buffers
      expect(answer.sent()).toBeLessThan(64 * 1024 * 1024);
      await m.stop();
      await endless.close();
    });
  });
});
