import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type Http, watchEvents, watchStream, withServer } from './emulator.testkit.ts';
import type { ApiServer } from './server.ts';

// The emulator against the real API server's rules, over HTTP (docs/sandbox.md names the
// Kubernetes documentation behind each).

let server: ApiServer;
let http: Http;
let n = 0;

beforeAll(async () => {
  ({ server, http } = await withServer({ bookmarkIntervalMs: 100 }));
});
afterAll(async () => {
  await server.stop();
});

async function namespace(): Promise<string> {
  const name = `t${++n}`;
  const r = await http('POST', '/api/v1/namespaces', { metadata: { name } });
  expect(r.status).toBe(201);
  return name;
}

const deployment = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, labels: { app: name } },
  spec: {
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'img:1', ports: [{ containerPort: 80 }] }] } },
    ...extra,
  },
});

const widgetCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.example.com' },
  spec: {
    group: 'example.com',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', shortNames: ['wd'] },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [{ name: 'Size', type: 'integer', jsonPath: '.spec.size' }],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['image'],
                properties: {
                  image: { type: 'string', minLength: 1 },
                  size: { type: 'integer', minimum: 1, maximum: 10, default: 3 },
                  mode: { type: 'string', enum: ['fast', 'safe'] },
                  routes: { type: 'array', items: { type: 'object', properties: { weight: { type: 'integer', maximum: 100 } } } },
                },
              },
              status: { type: 'object', properties: { phase: { type: 'string' } } },
            },
          },
        },
      },
    ],
  },
};

describe('discovery', () => {
  it('serves the aggregated form to clients that ask for it, and the per-group form otherwise', async () => {
    const res = await fetch(`${server.url}/apis`, { headers: { Accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' } });
    expect(res.headers.get('content-type')).toBe('application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
    const doc = (await res.json()) as { kind: string; items: { metadata: { name: string }; versions: { version: string; resources: Record<string, unknown>[] }[] }[] };
    expect(doc.kind).toBe('APIGroupDiscoveryList');
    const apps = doc.items.find((i) => i.metadata.name === 'apps');
    expect(apps?.versions[0]?.resources.find((r) => r['resource'] === 'deployments')).toMatchObject({
      responseKind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      scope: 'Namespaced',
      singularResource: 'deployment',
      shortNames: ['deploy'],
      subresources: [{ subresource: 'status' }, { subresource: 'scale', responseKind: { group: 'autoscaling', kind: 'Scale' } }],
    });
    const core = (await (await fetch(`${server.url}/api`, { headers: { Accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList' } })).json()) as typeof doc;
    expect(core.items[0]?.versions[0]?.resources.map((r) => r['resource'])).toContain('pods');
    expect((await http('GET', '/apis')).body).toMatchObject({ kind: 'APIGroupList' });
    expect((await http('GET', '/api')).body).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
  });
});

describe('identity, concurrency and status', () => {
  it('assigns uid, creationTimestamp, resourceVersion and a generated name', async () => {
    const ns = await namespace();
    const r = await http('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { generateName: 'cfg-' }, data: { a: '1' } });
    expect(r.status).toBe(201);
    const m = r.body['metadata'] as Record<string, string>;
    expect(m['name']).toMatch(/^cfg-[a-z0-9]{5}$/);
    expect(m['uid']).toMatch(/^[0-9a-f-]{36}$/);
    expect(m['creationTimestamp']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(m['resourceVersion']).toMatch(/^\d+$/);
  });

  it('refuses a stale update with 409 Conflict and a duplicate create with AlreadyExists', async () => {
    const ns = await namespace();
    const created = await http('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'a' }, data: { v: '1' } });
    const stale = created.body;
    const ok = await http('PUT', `/api/v1/namespaces/${ns}/configmaps/a`, { ...stale, data: { v: '2' } });
    expect(ok.status).toBe(200);
    const conflict = await http('PUT', `/api/v1/namespaces/${ns}/configmaps/a`, { ...stale, data: { v: '3' } });
    expect(conflict.status).toBe(409);
    expect(conflict.body).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'Conflict',
      code: 409,
      details: { name: 'a', kind: 'configmaps' },
      message: 'Operation cannot be fulfilled on configmaps "a": the object has been modified; please apply your changes to the latest version and try again',
    });
    const dup = await http('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'a' } });
    expect(dup.body).toMatchObject({ code: 409, reason: 'AlreadyExists', message: 'configmaps "a" already exists' });
  });

  it('answers 404, 405 and 415 with Status bodies', async () => {
    const ns = await namespace();
    const missing = await http('GET', `/apis/apps/v1/namespaces/${ns}/deployments/nope`);
    expect(missing.body).toMatchObject({ code: 404, reason: 'NotFound', message: 'deployments.apps "nope" not found', details: { name: 'nope', group: 'apps', kind: 'deployments' } });
    const noNs = await http('POST', '/api/v1/namespaces/ghost/configmaps', { metadata: { name: 'x' } });
    expect(noNs.body).toMatchObject({ code: 404, message: 'namespaces "ghost" not found' });
    const put = await http('PUT', `/api/v1/namespaces/${ns}/configmaps`, {});
    expect(put.body).toMatchObject({ code: 405, reason: 'MethodNotAllowed' });
    await http('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'p' } });
    const badType = await http('PATCH', `/api/v1/namespaces/${ns}/configmaps/p`, '{}', { 'Content-Type': 'text/plain' });
    expect(badType.body).toMatchObject({ code: 415, reason: 'UnsupportedMediaType' });
  });

  it('bumps generation on spec changes only and splits the status subresource', async () => {
    const ns = await namespace();
    const base = `/apis/apps/v1/namespaces/${ns}/deployments`;
    const created = await http('POST', base, deployment('web'));
    expect(created.body).toMatchObject({ metadata: { generation: 1 }, status: {} });
    const withStatus = await http('PUT', `${base}/web/status`, { ...created.body, status: { replicas: 1 }, spec: { ...(created.body['spec'] as object), replicas: 9 } });
    expect(withStatus.body).toMatchObject({ metadata: { generation: 1 }, spec: { replicas: 1 }, status: { replicas: 1 } });
    const labelled = await http('PATCH', `${base}/web`, { metadata: { labels: { x: 'y' } } }, { 'Content-Type': 'application/merge-patch+json' });
    expect(labelled.body).toMatchObject({ metadata: { generation: 1 } });
    const scaled = await http('PATCH', `${base}/web`, { spec: { replicas: 4 }, status: { replicas: 100 } }, { 'Content-Type': 'application/merge-patch+json' });
    expect(scaled.body).toMatchObject({ metadata: { generation: 2 }, spec: { replicas: 4 }, status: { replicas: 1 } });
  });

  it('stores nothing for a write that changes nothing', async () => {
    const ns = await namespace();
    const created = await http('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'same' }, data: { a: '1' } });
    const again = await http('PUT', `/api/v1/namespaces/${ns}/configmaps/same`, created.body);
    expect((again.body['metadata'] as Record<string, unknown>)['resourceVersion']).toBe((created.body['metadata'] as Record<string, unknown>)['resourceVersion']);
  });

  it('applies the defaults of built-in kinds', async () => {
    const ns = await namespace();
    const d = await http('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, deployment('d'));
    expect(d.body).toMatchObject({
      spec: {
        replicas: 1,
        revisionHistoryLimit: 10,
        progressDeadlineSeconds: 600,
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
        template: {
          spec: {
            restartPolicy: 'Always',
            dnsPolicy: 'ClusterFirst',
            terminationGracePeriodSeconds: 30,
            containers: [{ imagePullPolicy: 'IfNotPresent', terminationMessagePath: '/dev/termination-log', ports: [{ protocol: 'TCP' }] }],
          },
        },
      },
    });
    const svc = await http('POST', `/api/v1/namespaces/${ns}/services`, { metadata: { name: 's' }, spec: { selector: { a: 'b' }, ports: [{ port: 80 }] } });
    expect(svc.body).toMatchObject({ spec: { type: 'ClusterIP', sessionAffinity: 'None', ports: [{ port: 80, targetPort: 80, protocol: 'TCP' }] } });
    expect((svc.body['spec'] as Record<string, string>)['clusterIP']).toMatch(/^10\.(9[6-9]|10[0-9]|11[01])\.\d+\.\d+$/);
  });

  it('validates built-in kinds with field paths (422)', async () => {
    const ns = await namespace();
    const bad = deployment('bad');
    (bad.spec.template.metadata.labels as Record<string, string>) = { app: 'other' };
    const r = await http('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, bad);
    expect(r.body).toMatchObject({ code: 422, reason: 'Invalid', details: { name: 'bad', group: 'apps', kind: 'Deployment', causes: [{ field: 'spec.template.metadata.labels' }] } });
    expect(r.body['message']).toMatch(/^Deployment.apps "bad" is invalid: spec.template.metadata.labels: Invalid value/);
    const badName = await http('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'Not_Valid' } });
    expect(badName.body).toMatchObject({ code: 422, details: { causes: [{ field: 'metadata.name', reason: 'FieldValueInvalid' }] } });
  });

  it('drops unknown fields of built-in kinds with a warning, refuses them when Strict, and refuses wrong types', async () => {
    const ns = await namespace();
    const base = `/apis/apps/v1/namespaces/${ns}/deployments`;
    const typo = deployment('typo', { replica: 3 });
    (typo.spec.template.spec.containers[0] as Record<string, unknown>)['imagePullPolice'] = 'Always';
    const warned = await http('POST', base, typo);
    expect(warned.status).toBe(201);
    const warning = warned.headers.get('warning') ?? '';
    expect(warning).toContain('299 - "unknown field \\"spec.replica\\""');
    expect(warning).toContain('299 - "unknown field \\"spec.template.spec.containers[0].imagePullPolice\\""');
    expect(warned.body['spec']).not.toHaveProperty('replica');
    const strict = await http('POST', `${base}?fieldValidation=Strict`, { ...typo, metadata: { name: 'strict', labels: { app: 'typo' } } });
    expect(strict.body).toMatchObject({ code: 400, reason: 'BadRequest' });
    expect(strict.body['message']).toContain('strict decoding error: ');
    expect(strict.body['message']).toContain('unknown field "spec.replica"');
    const wrongType = await http('POST', base, deployment('wrong', { replicas: 'two' }));
    expect(wrongType.body).toMatchObject({ code: 400 });
    expect(wrongType.body['message']).toContain('Deployment in version "v1" cannot be handled as a Deployment: spec.replicas: Invalid value: "string"');
    const quantities = await http('POST', `/api/v1/namespaces/${ns}/pods`, {
      metadata: { name: 'q' },
      spec: { containers: [{ name: 'c', image: 'i', resources: { limits: { cpu: 2, memory: '1Gi' }, requests: { cpu: 0.5 } } }] },
    });
    expect(quantities.status).toBe(201);
  });

  it('performs dryRun=All writes without storing them', async () => {
    const ns = await namespace();
    const r = await http('POST', `/api/v1/namespaces/${ns}/configmaps?dryRun=All`, { metadata: { name: 'dry' } });
    expect(r.status).toBe(201);
    expect((await http('GET', `/api/v1/namespaces/${ns}/configmaps/dry`)).status).toBe(404);
  });
});

describe('patch', () => {
  it('applies JSON, merge and strategic merge patches', async () => {
    const ns = await namespace();
    const base = `/apis/apps/v1/namespaces/${ns}/deployments/p`;
    await http('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, deployment('p'));
    const json = await http(
      'PATCH',
      base,
      [
        { op: 'replace', path: '/spec/replicas', value: 3 },
        { op: 'add', path: '/metadata/labels/j', value: 'p' },
      ],
      { 'Content-Type': 'application/json-patch+json' },
    );
    expect(json.body).toMatchObject({ spec: { replicas: 3 }, metadata: { labels: { j: 'p' } } });
    const smp = await http('PATCH', base, { spec: { template: { spec: { containers: [{ name: 'side', image: 'side:1' }] } } } }, { 'Content-Type': 'application/strategic-merge-patch+json' });
    const containers = ((smp.body['spec'] as any).template.spec.containers as { name: string }[]).map((c) => c.name);
    expect(containers).toEqual(['c', 'side']);
    const merge = await http('PATCH', base, { spec: { template: { spec: { containers: [{ name: 'only', image: 'o:1' }] } } } }, { 'Content-Type': 'application/merge-patch+json' });
    expect(((merge.body['spec'] as any).template.spec.containers as { name: string }[]).map((c) => c.name)).toEqual(['only']);
    const failedTest = await http('PATCH', base, [{ op: 'test', path: '/spec/replicas', value: 99 }], { 'Content-Type': 'application/json-patch+json' });
    expect(failedTest.status).toBe(422);
  });

  it('server-side apply owns fields, refuses conflicting managers and takes over with force', async () => {
    const ns = await namespace();
    const path = `/api/v1/namespaces/${ns}/configmaps/ssa`;
    const apply = (manager: string, data: Record<string, string>, force = false) =>
      http(
        'PATCH',
        `${path}?fieldManager=${manager}${force ? '&force=true' : ''}`,
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa' }, data },
        { 'Content-Type': 'application/apply-patch+yaml' },
      );
    const first = await apply('alice', { a: '1', b: '1' });
    expect(first.status).toBe(201);
    expect((first.body['metadata'] as any).managedFields[0]).toMatchObject({ manager: 'alice', operation: 'Apply', fieldsV1: { 'f:data': { 'f:a': {}, 'f:b': {} } } });
    const clash = await apply('bob', { a: '2' });
    expect(clash.body).toMatchObject({ code: 409, reason: 'Conflict', details: { causes: [{ reason: 'FieldManagerConflict', field: '.data.a' }] } });
    const forced = await apply('bob', { a: '2' }, true);
    expect(forced.body).toMatchObject({ data: { a: '2', b: '1' } });
    const dropped = await apply('alice', { c: '3' });
    // alice no longer applies b (removed) nor owns a (bob took it): a stays, b goes.
    expect(dropped.body['data']).toEqual({ a: '2', c: '3' });
    const missingManager = await http('PATCH', path, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa' } }, { 'Content-Type': 'application/apply-patch+yaml' });
    expect(missingManager.status).toBe(400);
  });

  it('records other writers as Update managers, whose fields an apply may not silently take', async () => {
    const ns = await namespace();
    const created = await http('POST', `/api/v1/namespaces/${ns}/configmaps?fieldManager=operator`, { metadata: { name: 'm' }, data: { a: '1' } });
    expect((created.body['metadata'] as any).managedFields).toMatchObject([{ manager: 'operator', operation: 'Update', fieldsV1: { 'f:data': { 'f:a': {} } } }]);
    const apply = (data: Record<string, string>) =>
      http(
        'PATCH',
        `/api/v1/namespaces/${ns}/configmaps/m?fieldManager=user`,
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'm' }, data },
        { 'Content-Type': 'application/apply-patch+yaml' },
      );
    const clash = await apply({ a: '2' });
    expect(clash.body).toMatchObject({ code: 409, message: 'Apply failed with 1 conflict: conflict with "operator" using v1: .data.a' });
    const same = await apply({ a: '1', b: '1' });
    expect(same.status).toBe(200);
    const managers = ((same.body['metadata'] as any).managedFields as { manager: string }[]).map((e) => e.manager);
    // kube-apiserver's order: Apply entries before Update ones
    expect(managers).toEqual(['user', 'operator']);
    const unchanged = await http('PATCH', `/api/v1/namespaces/${ns}/configmaps/m?fieldManager=operator`, { data: { a: '1' } }, { 'Content-Type': 'application/merge-patch+json' });
    expect((unchanged.body['metadata'] as any).resourceVersion).toBe((same.body['metadata'] as any).resourceVersion);
  });

  it('patches the scale subresource', async () => {
    const ns = await namespace();
    await http('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, deployment('s'));
    const scale = await http('GET', `/apis/apps/v1/namespaces/${ns}/deployments/s/scale`);
    expect(scale.body).toMatchObject({ kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 1 }, status: { selector: 'app=s' } });
    const patched = await http('PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/s/scale`, { spec: { replicas: 5 } }, { 'Content-Type': 'application/merge-patch+json' });
    expect(patched.body).toMatchObject({ spec: { replicas: 5 } });
    expect((await http('GET', `/apis/apps/v1/namespaces/${ns}/deployments/s`)).body).toMatchObject({ spec: { replicas: 5 }, metadata: { generation: 2 } });
  });
});

describe('custom resources', () => {
  beforeAll(async () => {
    const r = await http('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', widgetCrd);
    expect(r.status).toBe(201);
  });

  it('serves a new CRD at once, Established, in discovery', async () => {
    const crd = await http('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com');
    expect((crd.body['status'] as any).conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'Established', status: 'True' })]));
    const disco = await http('GET', '/apis/example.com/v1');
    expect(disco.body).toMatchObject({ kind: 'APIResourceList', groupVersion: 'example.com/v1' });
    expect((disco.body['resources'] as { name: string }[]).map((r) => r.name)).toEqual(['widgets', 'widgets/status']);
  });

  it('defaults, prunes and validates with field paths', async () => {
    const ns = await namespace();
    const base = `/apis/example.com/v1/namespaces/${ns}/widgets`;
    const ok = await http('POST', base, { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' }, spec: { image: 'x', extra: true }, status: { phase: 'ignored' } });
    expect(ok.status).toBe(201);
    expect(ok.body['spec']).toEqual({ image: 'x', size: 3 });
    expect(ok.body['status']).toBeUndefined();
    const bad = await http('POST', base, { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'bad' }, spec: { size: 20, mode: 'slow', routes: [{ weight: 150 }] } });
    expect(bad.status).toBe(422);
    const fields = ((bad.body['details'] as any).causes as { field: string }[]).map((c) => c.field).sort();
    expect(fields).toEqual(['spec.image', 'spec.mode', 'spec.routes[0].weight', 'spec.size']);
    expect(bad.body['message']).toContain('Widget.example.com "bad" is invalid: [');
    expect(bad.body['message']).toContain('spec.size: Invalid value: 20: spec.size in body should be less than or equal to 10');
    const strict = await http('POST', `${base}?fieldValidation=Strict`, { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 's' }, spec: { image: 'x', typo: 1 } });
    expect(strict.status).toBe(400);
    expect(strict.body['message']).toContain('unknown field "spec.typo"');
  });

  it('refuses strategic merge patch for custom resources (415) and requires resourceVersion on PUT', async () => {
    const ns = await namespace();
    const base = `/apis/example.com/v1/namespaces/${ns}/widgets`;
    const created = await http('POST', base, { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' }, spec: { image: 'x' } });
    const smp = await http('PATCH', `${base}/w`, { spec: { size: 2 } }, { 'Content-Type': 'application/strategic-merge-patch+json' });
    expect(smp.body).toMatchObject({ code: 415, reason: 'UnsupportedMediaType' });
    const { resourceVersion: _rv, ...meta } = created.body['metadata'] as Record<string, unknown>;
    const noRv = await http('PUT', `${base}/w`, { ...created.body, metadata: meta });
    expect(noRv.body).toMatchObject({ code: 422, details: { causes: [{ field: 'metadata.resourceVersion' }] } });
  });

  it('prints additionalPrinterColumns as a Table', async () => {
    const ns = await namespace();
    await http('POST', `/apis/example.com/v1/namespaces/${ns}/widgets`, { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 't' }, spec: { image: 'x', size: 7 } });
    const table = await http('GET', `/apis/example.com/v1/namespaces/${ns}/widgets`, undefined, { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
    expect(table.body).toMatchObject({ kind: 'Table', apiVersion: 'meta.k8s.io/v1', columnDefinitions: [{ name: 'Name' }, { name: 'Size', type: 'integer' }], rows: [{ cells: ['t', 7] }] });
  });

  it('deleting the CRD deletes its objects and stops serving them', async () => {
    const crd = { ...widgetCrd, metadata: { name: 'gadgets.example.com' }, spec: { ...widgetCrd.spec, names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget' } } };
    await http('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    const ns = await namespace();
    await http('POST', `/apis/example.com/v1/namespaces/${ns}/gadgets`, { apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'g' }, spec: { image: 'x' } });
    await http('DELETE', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.example.com');
    await eventually(async () => ((await http('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.example.com')).status === 404 ? true : undefined));
    expect((await http('GET', `/apis/example.com/v1/namespaces/${ns}/gadgets`)).status).toBe(404);
  });
});

describe('Istio VirtualService CRD', () => {
  const vs = (weights: number[], timeout = '30s') => ({
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'thumbs' },
    spec: {
      hosts: ['thumbs'],
      gateways: ['mesh'],
      http: [{ timeout, route: weights.map((weight, i) => ({ destination: { host: i ? 'thumbs-canary' : 'thumbs-primary', port: { number: 8080 } }, weight })) }],
    },
  });

  it('accepts a weighted route and refuses bad weights and timeouts with field paths', async () => {
    const ns = await namespace();
    const base = `/apis/networking.istio.io/v1/namespaces/${ns}/virtualservices`;
    expect((await http('POST', base, vs([90, 10]))).status).toBe(201);
    const bad = await http('POST', base, { ...vs([150, -1], 'soon'), metadata: { name: 'bad' } });
    const fields = ((bad.body['details'] as any).causes as { field: string }[]).map((c) => c.field).sort();
    expect(fields).toEqual(['spec.http[0].route[0].weight', 'spec.http[0].route[1].weight', 'spec.http[0].timeout']);
    const noHost = await http('POST', base, { ...vs([100]), metadata: { name: 'nohost' }, spec: { hosts: ['x'], http: [{ route: [{ destination: {} }] }] } });
    expect(noHost.body).toMatchObject({ code: 422, details: { causes: [{ field: 'spec.http[0].route[0].destination.host', reason: 'FieldValueRequired' }] } });
  });

  it('is not served when the server starts without Istio', async () => {
    const { server: plain, http: plainHttp } = await withServer({ istio: false });
    try {
      expect((await plainHttp('GET', '/apis/networking.istio.io/v1/namespaces/default/virtualservices')).status).toBe(404);
      expect(((await plainHttp('GET', '/apis')).body['groups'] as { name: string }[]).map((g) => g.name)).not.toContain('networking.istio.io');
    } finally {
      await plain.stop();
    }
  });
});

describe('list', () => {
  it('filters by label and field selectors and pages with limit and continue', async () => {
    const ns = await namespace();
    for (let i = 0; i < 5; i++) {
      await http('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: `c${i}`, labels: { tier: i % 2 ? 'odd' : 'even' } } });
    }
    const even = await http('GET', `/api/v1/namespaces/${ns}/configmaps?labelSelector=tier%3Deven`);
    expect((even.body['items'] as any[]).map((o) => o.metadata.name)).toEqual(['c0', 'c2', 'c4']);
    const set = await http('GET', `/api/v1/namespaces/${ns}/configmaps?labelSelector=${encodeURIComponent('tier in (odd),tier!=even')}`);
    expect((set.body['items'] as any[]).map((o) => o.metadata.name)).toEqual(['c1', 'c3']);
    const byName = await http('GET', `/api/v1/namespaces/${ns}/configmaps?fieldSelector=metadata.name%3Dc3`);
    expect((byName.body['items'] as any[]).map((o) => o.metadata.name)).toEqual(['c3']);
    const unsupported = await http('GET', `/api/v1/namespaces/${ns}/configmaps?fieldSelector=data.x%3D1`);
    expect(unsupported.body).toMatchObject({ code: 400, message: 'field label not supported: data.x' });
    const page1 = await http('GET', `/api/v1/namespaces/${ns}/configmaps?limit=2`);
    const meta1 = page1.body['metadata'] as Record<string, unknown>;
    expect((page1.body['items'] as any[]).map((o) => o.metadata.name)).toEqual(['c0', 'c1']);
    expect(meta1['remainingItemCount']).toBe(3);
    const page2 = await http('GET', `/api/v1/namespaces/${ns}/configmaps?limit=2&continue=${encodeURIComponent(String(meta1['continue']))}`);
    expect((page2.body['items'] as any[]).map((o) => o.metadata.name)).toEqual(['c2', 'c3']);
    await http('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'c5' } });
    server.faults.compact();
    const expiredPage = await http('GET', `/api/v1/namespaces/${ns}/configmaps?limit=2&continue=${encodeURIComponent(String(meta1['continue']))}`);
    expect(expiredPage.body).toMatchObject({ code: 410, reason: 'Expired' });
  });
});

describe('events and leases', () => {
  it("serves one Event through core/v1 and events.k8s.io/v1, with each API's field names", async () => {
    const ns = await namespace();
    const created = await http('POST', `/apis/events.k8s.io/v1/namespaces/${ns}/events`, {
      metadata: { name: 'e1' },
      eventTime: '2026-01-01T00:00:00.000000Z',
      reason: 'Promoted',
      note: 'canary promoted',
      type: 'Normal',
      action: 'Promote',
      reportingController: 'imageops.dev/operator',
      reportingInstance: 'op-1',
      regarding: { apiVersion: 'imageops.dev/v1alpha1', kind: 'ImageService', name: 'thumbs', namespace: ns, uid: 'u-1' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ apiVersion: 'events.k8s.io/v1', note: 'canary promoted', regarding: { name: 'thumbs' } });
    const core = await http('GET', `/api/v1/namespaces/${ns}/events?fieldSelector=${encodeURIComponent('involvedObject.name=thumbs,involvedObject.kind=ImageService')}`);
    expect(core.body['items']).toMatchObject([
      { apiVersion: 'v1', kind: 'Event', message: 'canary promoted', reason: 'Promoted', involvedObject: { uid: 'u-1' }, reportingComponent: 'imageops.dev/operator' },
    ]);
  });

  it('creates a missing Lease on PUT, as leader election expects', async () => {
    const ns = await namespace();
    const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'leader' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } };
    const put = await http('PUT', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/leader`, lease);
    expect(put.status).toBe(201);
    const cm = await http('PUT', `/api/v1/namespaces/${ns}/configmaps/nope`, { metadata: { name: 'nope' } });
    expect(cm.status).toBe(404);
  });
});

describe('watch', () => {
  it('starts with synthetic ADDED events without a resourceVersion, and none are replayed from the current one', async () => {
    const ns = await namespace();
    await http('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'before' } });
    const list = await http('GET', `/api/v1/namespaces/${ns}/configmaps`);
    const rv = (list.body['metadata'] as Record<string, string>)['resourceVersion'];
    const fromNone = await watchEvents(server, `/api/v1/namespaces/${ns}/configmaps?watch=true`, 1);
    expect(fromNone.map((e) => [e.type, (e.object['metadata'] as any).name])).toEqual([['ADDED', 'before']]);
    const fromRv = await watchEvents(server, `/api/v1/namespaces/${ns}/configmaps?watch=true&resourceVersion=${rv}`, 2, 3000, async () => {
      await http('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'after' } });
      await http('DELETE', `/api/v1/namespaces/${ns}/configmaps/after`);
    });
    expect(fromRv.map((e) => [e.type, (e.object['metadata'] as any).name])).toEqual([
      ['ADDED', 'after'],
      ['DELETED', 'after'],
    ]);
  });

  it('sends an object leaving the label selector as DELETED', async () => {
    const ns = await namespace();
    await http('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'x', labels: { keep: 'yes' } } });
    const events = await watchEvents(server, `/api/v1/namespaces/${ns}/configmaps?watch=true&labelSelector=keep%3Dyes`, 2, 3000, async () => {
      await http('PATCH', `/api/v1/namespaces/${ns}/configmaps/x`, { metadata: { labels: { keep: 'no' } } }, { 'Content-Type': 'application/merge-patch+json' });
    });
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'DELETED']);
  });

  it('sends BOOKMARKs when allowed, and 410 Gone for a compacted resourceVersion', async () => {
    const ns = await namespace();
    const rv = ((await http('GET', `/api/v1/namespaces/${ns}/configmaps`)).body['metadata'] as any).resourceVersion as string;
    const events = await watchEvents(server, `/api/v1/namespaces/${ns}/configmaps?watch=true&allowWatchBookmarks=true&resourceVersion=${rv}`, 1, 3000);
    expect(events[0]).toMatchObject({ type: 'BOOKMARK', object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: expect.stringMatching(/^\d+$/) } } });
    const old = ((await http('GET', `/api/v1/namespaces/${ns}/configmaps`)).body['metadata'] as any).resourceVersion as string;
    await http('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'later' } });
    server.faults.compact();
    const gone = await watchEvents(server, `/api/v1/namespaces/${ns}/configmaps?watch=true&resourceVersion=${old}`, 1);
    expect(gone[0]).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } });
  });

  it('ends at timeoutSeconds, and when the faults close every watch', async () => {
    const ns = await namespace();
    const timed = await watchStream(server, `/api/v1/namespaces/${ns}/configmaps?watch=true&timeoutSeconds=1`, 99, 5000);
    expect(timed).toEqual({ events: [], endedByServer: true });
    const closing = watchStream(server, `/api/v1/namespaces/${ns}/configmaps?watch=true`, 99, 5000);
    await new Promise((r) => setTimeout(r, 200));
    expect(server.faults.closeWatches()).toBeGreaterThan(0);
    expect(await closing).toEqual({ events: [], endedByServer: true });
  });
});

describe('slow watchers', () => {
  it('ends the watch of a client that does not read, instead of buffering without bound', async () => {
    const { server: small, http: smallHttp } = await withServer({ watchBufferBytes: 1024 * 1024 });
    try {
      const { request } = await import('node:http');
      const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
        const req = request(`${small.url}/api/v1/namespaces/default/configmaps?watch=true`, resolve);
        req.on('error', reject);
        req.end();
      });
      response.pause();
      const big = 'x'.repeat(512 * 1024);
      for (let i = 0; i < 24; i++) await smallHttp('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: `big-${i}` }, data: { big } });
      // Only now does the client read: the server must already have given up on it.
      const outcome = await new Promise<{ ended: boolean; bytes: number }>((resolve) => {
        let bytes = 0;
        const timer = setTimeout(() => resolve({ ended: false, bytes }), 5000);
        response.on('data', (d: Buffer) => (bytes += d.length));
        response.on('end', () => {
          clearTimeout(timer);
          resolve({ ended: true, bytes });
        });
        response.resume();
      });
      response.destroy();
      expect(outcome.ended).toBe(true);
      expect(outcome.bytes).toBeLessThan(24 * big.length);
    } finally {
      await small.stop();
    }
  });
});

describe('deletion', () => {
  async function ownerAndChild(ns: string, block = true) {
    const owner = await http('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'owner' } });
    const uid = (owner.body['metadata'] as Record<string, string>)['uid'];
    await http('POST', `/api/v1/namespaces/${ns}/configmaps`, {
      metadata: { name: 'child', finalizers: ['test/hold'], ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid, controller: true, blockOwnerDeletion: block }] },
    });
    return uid;
  }

  it('keeps an object with finalizers until they are removed', async () => {
    const ns = await namespace();
    await http('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'f', finalizers: ['x/y'] } });
    const del = await http('DELETE', `/api/v1/namespaces/${ns}/configmaps/f`);
    expect((del.body['metadata'] as Record<string, unknown>)['deletionTimestamp']).toBeDefined();
    const adding = await http('PATCH', `/api/v1/namespaces/${ns}/configmaps/f`, { metadata: { finalizers: ['x/y', 'new/one'] } }, { 'Content-Type': 'application/merge-patch+json' });
    expect(adding.status).toBe(422);
    await http('PATCH', `/api/v1/namespaces/${ns}/configmaps/f`, { metadata: { finalizers: null } }, { 'Content-Type': 'application/merge-patch+json' });
    expect((await http('GET', `/api/v1/namespaces/${ns}/configmaps/f`)).status).toBe(404);
  });

  it('deletes dependents in the background', async () => {
    const ns = await namespace();
    await ownerAndChild(ns);
    await http('PATCH', `/api/v1/namespaces/${ns}/configmaps/child`, { metadata: { finalizers: null } }, { 'Content-Type': 'application/merge-patch+json' });
    await http('DELETE', `/api/v1/namespaces/${ns}/configmaps/owner`);
    await eventually(async () => ((await http('GET', `/api/v1/namespaces/${ns}/configmaps/child`)).status === 404 ? true : undefined));
  });

  it('foreground deletion keeps the owner until blocking dependents are gone', async () => {
    const ns = await namespace();
    await ownerAndChild(ns);
    await http('DELETE', `/api/v1/namespaces/${ns}/configmaps/owner`, { propagationPolicy: 'Foreground' });
    const owner = await eventually(async () => {
      const child = await http('GET', `/api/v1/namespaces/${ns}/configmaps/child`);
      return (child.body['metadata'] as any).deletionTimestamp ? await http('GET', `/api/v1/namespaces/${ns}/configmaps/owner`) : undefined;
    });
    expect((owner.body['metadata'] as any).finalizers).toEqual(['foregroundDeletion']);
    await http('PATCH', `/api/v1/namespaces/${ns}/configmaps/child`, { metadata: { finalizers: null } }, { 'Content-Type': 'application/merge-patch+json' });
    await eventually(async () => ((await http('GET', `/api/v1/namespaces/${ns}/configmaps/owner`)).status === 404 ? true : undefined));
  });

  it('orphan deletion removes the owner reference and keeps the dependent', async () => {
    const ns = await namespace();
    await ownerAndChild(ns);
    await http('DELETE', `/api/v1/namespaces/${ns}/configmaps/owner?propagationPolicy=Orphan`);
    await eventually(async () => ((await http('GET', `/api/v1/namespaces/${ns}/configmaps/owner`)).status === 404 ? true : undefined));
    const child = await http('GET', `/api/v1/namespaces/${ns}/configmaps/child`);
    expect(child.status).toBe(200);
    expect((child.body['metadata'] as any).ownerReferences ?? []).toEqual([]);
  });

  it('a namespace terminates until its content is gone, refusing new content meanwhile', async () => {
    const ns = await namespace();
    await http('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'held', finalizers: ['x/y'] } });
    await http('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'plain' } });
    const del = await http('DELETE', `/api/v1/namespaces/${ns}`);
    expect(del.body).toMatchObject({ status: { phase: 'Terminating' } });
    await eventually(async () => ((await http('GET', `/api/v1/namespaces/${ns}/configmaps/plain`)).status === 404 ? true : undefined));
    const refused = await http('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'new' } });
    expect(refused.body).toMatchObject({ code: 403, reason: 'Forbidden' });
    await http('PATCH', `/api/v1/namespaces/${ns}/configmaps/held`, { metadata: { finalizers: null } }, { 'Content-Type': 'application/merge-patch+json' });
    await eventually(async () => ((await http('GET', `/api/v1/namespaces/${ns}`)).status === 404 ? true : undefined));
  });

  it('pods on a node terminate gracefully: marked, then removed by a zero grace period', async () => {
    const ns = await namespace();
    await http('POST', `/api/v1/namespaces/${ns}/pods`, { metadata: { name: 'p' }, spec: { nodeName: 'sandbox', containers: [{ name: 'c', image: 'i' }] } });
    const marked = await http('DELETE', `/api/v1/namespaces/${ns}/pods/p`);
    expect(marked.body).toMatchObject({ metadata: { deletionGracePeriodSeconds: 30 } });
    expect((await http('GET', `/api/v1/namespaces/${ns}/pods/p`)).status).toBe(200);
    await http('DELETE', `/api/v1/namespaces/${ns}/pods/p`, { gracePeriodSeconds: 0 });
    expect((await http('GET', `/api/v1/namespaces/${ns}/pods/p`)).status).toBe(404);
  });
});

describe('pods/binding', () => {
  it('assigns a pod to a node once', async () => {
    const ns = await namespace();
    await http('POST', `/api/v1/namespaces/${ns}/pods`, { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i' }] } });
    const bound = await http('POST', `/api/v1/namespaces/${ns}/pods/p/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'p' }, target: { kind: 'Node', name: 'sandbox' } });
    expect(bound.status).toBe(201);
    expect((await http('GET', `/api/v1/namespaces/${ns}/pods/p`)).body).toMatchObject({ spec: { nodeName: 'sandbox' } });
    const again = await http('POST', `/api/v1/namespaces/${ns}/pods/p/binding`, { target: { name: 'other' } });
    expect(again.body).toMatchObject({ code: 409, message: 'Operation cannot be fulfilled on pods "p": pod p is already assigned to node "sandbox"' });
  });
});

describe('pods/log', () => {
  it('reads from the log provider, and says so when there is none', async () => {
    const ns = await namespace();
    await http('POST', `/api/v1/namespaces/${ns}/pods`, { metadata: { name: 'p' }, spec: { nodeName: 'sandbox', containers: [{ name: 'c', image: 'i' }] } });
    const none = await http('GET', `/api/v1/namespaces/${ns}/pods/p/log`);
    expect(none.status).toBe(400);
    server.setLogProvider(async (r) => `log of ${r.pod}/${r.container} tail=${String(r.tailLines)}\n`);
    try {
      const text = (await http('GET', `/api/v1/namespaces/${ns}/pods/p/log?tailLines=5`)).text;
      expect(text).toBe('log of p/c tail=5\n');
      await http('POST', `/api/v1/namespaces/${ns}/pods`, {
        metadata: { name: 'two' },
        spec: {
          nodeName: 'sandbox',
          containers: [
            { name: 'a', image: 'i' },
            { name: 'b', image: 'i' },
          ],
        },
      });
      expect((await http('GET', `/api/v1/namespaces/${ns}/pods/two/log`)).body).toMatchObject({ code: 400, message: 'a container name must be specified for pod two, choose one of: [a b]' });
      expect((await http('GET', `/api/v1/namespaces/${ns}/pods/two/log?container=c`)).body).toMatchObject({ code: 400, message: 'container c is not valid for pod two' });
    } finally {
      server.setLogProvider(undefined);
    }
  });
});

describe('faults', () => {
  it('fails the next requests with 500 or 429 and Retry-After, adds latency and counts by verb', async () => {
    const ns = await namespace();
    server.faults.resetCounts();
    server.faults.failNext(1, { code: 429, retryAfterSeconds: 2 });
    const limited = await http('GET', `/api/v1/namespaces/${ns}/configmaps`);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(limited.body).toMatchObject({ reason: 'TooManyRequests', details: { retryAfterSeconds: 2 } });
    server.faults.failNext(1, { code: 500, verbs: ['create'] });
    expect((await http('GET', `/api/v1/namespaces/${ns}/configmaps`)).status).toBe(200);
    expect((await http('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'a' } })).body).toMatchObject({ code: 500, reason: 'InternalError' });
    expect((await http('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'a' } })).status).toBe(201);
    const counts = server.faults.counts();
    expect(counts.byVerb).toEqual({ list: 2, create: 2 });
    expect(counts.writes).toBe(2);
    expect(counts.byResource['create configmaps']).toBe(2);
  });

  it('is driven over the admin endpoint too', async () => {
    const ns = await namespace();
    await http('POST', '/_sandbox/faults/fail', { count: 1, code: 500 });
    expect((await http('GET', `/api/v1/namespaces/${ns}/configmaps`)).status).toBe(500);
    await http('DELETE', '/_sandbox/requests');
    await http('GET', `/api/v1/namespaces/${ns}/configmaps`);
    expect((await http('GET', '/_sandbox/requests')).body).toMatchObject({ byVerb: { list: 1 } });
  });
});

describe('authorization seam', () => {
  it('answers 403 with the real message when the authorizer denies', async () => {
    server.setAuth({ authorize: (a) => ({ allowed: a.verb !== 'delete' }) });
    try {
      const r = await http('DELETE', '/api/v1/namespaces/default/configmaps/x');
      expect(r.body).toMatchObject({ code: 403, message: 'configmaps "x" is forbidden: User "system:admin" cannot delete resource "configmaps" in API group "" in the namespace "default"' });
    } finally {
      server.setAuth({ authorize: () => ({ allowed: true }) });
    }
  });
});
