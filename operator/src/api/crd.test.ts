import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { compile, toCel } from '../../../sandbox/apiserver/cel.ts';
import { fieldPathProblem, schemaCauses } from '../../../sandbox/apiserver/crd.ts';
import type { StructuralSchema } from '../../../sandbox/apiserver/schema.ts';
import type { JsonObject } from '../../../sandbox/apiserver/types.ts';
import { CrdSchemaError, imageServiceCrd, type JSONSchemaProps, toOpenApi } from './crd.ts';
import { maxEntries, withCrd } from './crd-meta.ts';
import { exampleImageServices } from './examples.ts';
import { validateImageService, validateSpec } from './image-service.ts';

const crd = imageServiceCrd();
const version = crd.spec.versions[0]!;
const root = version.schema.openAPIV3Schema as JSONSchemaProps;
const specSchema = root.properties!.spec!;

/** Every schema node with its JSON path. */
function* nodes(s: JSONSchemaProps, path = ''): Generator<[string, JSONSchemaProps]> {
  yield [path, s];
  for (const [k, v] of Object.entries(s.properties ?? {})) yield* nodes(v, `${path}.${k}`);
  if (s.items) yield* nodes(s.items, `${path}[]`);
  if (s.additionalProperties) yield* nodes(s.additionalProperties, `${path}{}`);
}

const ALLOWED = new Set([
  'type',
  'description',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'anyOf',
  'enum',
  'default',
  'nullable',
  'pattern',
  'format',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'maxProperties',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-validations',
]);

describe('the generated CRD', () => {
  it('names, scope, subresource, printer columns', () => {
    expect(crd.metadata.name).toBe('imageservices.imageops.dev');
    expect(crd.spec.names).toMatchObject({ kind: 'ImageService', plural: 'imageservices', shortNames: ['imgsvc'], categories: ['imageops'] });
    expect(crd.spec.scope).toBe('Namespaced');
    expect(version).toMatchObject({ name: 'v1alpha1', served: true, storage: true, subresources: { status: {} } });
    expect(version.additionalPrinterColumns.map((c) => [c.name, c.jsonPath])).toEqual([
      ['Ready', '.status.conditions[?(@.type=="Ready")].status'],
      ['Reason', '.status.conditions[?(@.type=="Ready")].reason'],
      ['Phase', '.status.phase'],
      ['Weight', '.status.canaryWeight'],
      ['Primary', '.status.primary.image'],
      ['Canary', '.status.canary.image'],
      ['Age', '.metadata.creationTimestamp'],
      ['Message', '.status.conditions[?(@.type=="Ready")].message'],
    ]);
    expect(version.additionalPrinterColumns.filter((c) => 'priority' in c).map((c) => c.name)).toEqual(['Message']);
  });

  it('is structural: a type on every node, int-or-string only in its one allowed form', () => {
    for (const [path, s] of nodes(root)) {
      if (s['x-kubernetes-int-or-string']) {
        expect(s.type, path).toBeUndefined();
        expect(s.anyOf, path).toEqual([{ type: 'integer' }, { type: 'string' }]);
      } else {
        expect(s.type, `${path} has no type`).toBeDefined();
        expect(s.anyOf, path).toBeUndefined();
      }
      for (const key of Object.keys(s)) expect(ALLOWED.has(key), `${path}: ${key} is not allowed`).toBe(true);
      expect(s.properties && s.additionalProperties, `${path}: properties and additionalProperties`).toBeFalsy();
    }
  });

  it("holds every CEL rule's fieldPath and placement to kube-apiserver's rules", () => {
    // The walk is the one the emulated API server applies to every CRD; it follows
    // apiextensions-apiserver (ValidFieldPath, validateStructuralMetadataInvariants).
    expect(schemaCauses(root as unknown as JsonObject, 'openAPIV3Schema', true)).toEqual([]);
    const withPath = [...nodes(root)].flatMap(([path, s]) => (s['x-kubernetes-validations'] ?? []).filter((r) => r.fieldPath).map((r) => [path, r.fieldPath!] as const));
    expect(withPath.length).toBeGreaterThan(5);
    expect(withPath).toContainEqual(['', '.metadata.name']);
    expect(Object.keys(root.properties!.metadata!.properties ?? {}).every((k) => k === 'name' || k === 'generateName')).toBe(true);
  });

  it.each([
    ['declared property', { properties: { a: { type: 'object', properties: { b: { type: 'string' } } } } }, '.a.b', undefined],
    ['bracketed key', { properties: { a: { type: 'string' } } }, "['a']", undefined],
    ['map key', { properties: { m: { type: 'object', additionalProperties: { type: 'string' } } } }, '.m.anything', undefined],
    ['undeclared metadata field', { properties: { metadata: { type: 'object' } } }, '.metadata.name', 'does not refer to a valid field'],
    ['into a list', { properties: { l: { type: 'array', items: { type: 'object', properties: { x: { type: 'string' } } } } } }, '.l.x', 'does not refer to a valid field'],
    ['no leading dot', { properties: { a: { type: 'string' } } }, 'a', 'expected [ or . but got: a'],
  ])('fieldPath through a %s', (_, schema, path, problem) => {
    expect(fieldPathProblem(schema as JsonObject, path)).toBe(problem);
  });

  it('refuses a rule that does not compile, as kube-apiserver does', () => {
    const causes = schemaCauses({ type: 'object', 'x-kubernetes-validations': [{ rule: 'self.size() > 0' }, { rule: 'nope(self)' }] }, 's', true);
    expect(causes).toEqual([expect.objectContaining({ field: 's.x-kubernetes-validations[1].rule', message: expect.stringMatching(/compilation failed: .*nope/) })]);
  });

  it('refuses root metadata constraining more than name and generateName', () => {
    const at = 's';
    expect(schemaCauses({ type: 'object', properties: { metadata: { type: 'object', properties: { name: { type: 'string' } } } } }, at, true)).toEqual([]);
    expect(schemaCauses({ type: 'object', properties: { metadata: { type: 'object', properties: { labels: { type: 'object' } } } } }, at, true)).toHaveLength(1);
    expect(schemaCauses({ type: 'object', properties: { metadata: { type: 'object', description: 'x' } } }, at, true)).toHaveLength(1);
    expect(schemaCauses({ type: 'object', properties: { spec: { type: 'object', properties: { metadata: { type: 'object', description: 'x' } } } } }, at, true)).toEqual([]);
  });

  it('describes every field, so kubectl explain helps', () => {
    const undocumented = [...nodes(specSchema, 'spec'), ...nodes(root.properties!.status!, 'status')].filter(([, s]) => !s.description).map(([p]) => p);
    expect(undocumented).toEqual([]);
  });

  it('defaults nothing inside a list item, so that client-side kubectl apply stays idempotent', () => {
    // the server fills a default in each live item; kubectl's merge patch replaces a CRD's list
    // whole, so the live list never equals the applied one and every apply reads "configured"
    const defaulted = [...nodes(specSchema, 'spec')].filter(([path, s]) => path.includes('[]') && s.default !== undefined).map(([path]) => path);
    expect(defaulted).toEqual([]);
  });

  it('bounds every list (CEL cost) and keys every list-map by a required field', () => {
    for (const [path, s] of nodes(root)) {
      if (s.type !== 'array') continue;
      expect(s.maxItems, `${path} has no maxItems`).toBeGreaterThan(0);
      for (const key of s['x-kubernetes-list-map-keys'] ?? []) expect(s.items?.required, path).toContain(key);
    }
  });

  it('carries enums, bounds and patterns', () => {
    const canary = specSchema.properties!.canary!;
    expect(canary.properties!.maxWeight).toMatchObject({ type: 'integer', minimum: 1, maximum: 100, default: 100 });
    expect(canary.properties!.threshold).toMatchObject({ minimum: 1 });
    expect(canary.properties!.analysis!.properties!.onNoData).toMatchObject({ enum: ['fail', 'hold'], default: 'fail' });
    expect(canary.properties!.analysis!.properties!.provider!.enum).toEqual(['prometheus', 'direct']);
    expect(canary.properties!.interval!.pattern).toBeDefined();
    expect(canary.properties!.analysis!.properties!.latencyP99Ms).toMatchObject({ minimum: 0, exclusiveMinimum: true });
    expect(specSchema.properties!.resources!.properties!.limits!.properties!.cpu!['x-kubernetes-int-or-string']).toBe(true);
  });

  // A spec too large for etcd or for status is refused at apply, naming the field; and the API
  // server estimates each CEL rule's cost from these bounds.
  it('bounds every string, list and map of spec and status', () => {
    const unbounded = [...nodes(root)]
      .filter(([path]) => path.startsWith('.spec') || path.startsWith('.status'))
      .filter(
        ([, s]) =>
          (s.type === 'string' && s.enum === undefined && s.maxLength === undefined) ||
          (s['x-kubernetes-int-or-string'] && s.maxLength === undefined) ||
          (s.type === 'array' && s.maxItems === undefined) ||
          (s.additionalProperties !== undefined && s.maxProperties === undefined),
      )
      .map(([path]) => path);
    expect(unbounded).toEqual([]);
  });

  it('the converter refuses a field without a description and a list, string or map without a bound', () => {
    expect(() => toOpenApi(z.object({ a: z.string().max(1) }))).toThrow(CrdSchemaError);
    expect(() => toOpenApi(z.object({ a: z.array(z.string().max(1).describe('s')).describe('a') }))).toThrow(/maximum length/);
    expect(() => toOpenApi(z.object({ a: z.string().describe('s') }))).toThrow(/^a has no maximum length/);
    expect(() => toOpenApi(z.object({ a: z.record(z.string(), z.number().describe('n')).describe('m') }))).toThrow(/maximum number of entries/);
    expect(toOpenApi(maxEntries(z.record(z.string(), z.number().describe('n')).describe('m'), 3, 'm'))).toEqual({
      type: 'object',
      description: 'm',
      additionalProperties: { type: 'number', description: 'n' },
      maxProperties: 3,
    });
    expect(() => toOpenApi(z.object({ a: z.date().describe('d') }))).toThrow(/no CRD mapping/);
    expect(toOpenApi(withCrd(z.array(z.string().max(9).describe('s')).max(2).describe('l'), { listType: 'set' }))).toEqual({
      type: 'array',
      description: 'l',
      items: { type: 'string', description: 's', maxLength: 9 },
      maxItems: 2,
      'x-kubernetes-list-type': 'set',
    });
  });
});

// ------------------------------------------------------------- defaulting

/** What the API server does with a CRD's defaults: fill absent fields, then descend (so {} defaults nest). */
function applyDefaults(s: JSONSchemaProps, value: unknown): unknown {
  if (Array.isArray(value) && s.items) return value.map((v) => applyDefaults(s.items!, v));
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const [k, p] of Object.entries(s.properties ?? {})) {
    if (out[k] === undefined && p.default !== undefined) out[k] = structuredClone(p.default);
    if (out[k] !== undefined) out[k] = applyDefaults(p, out[k]);
  }
  if (s.additionalProperties) for (const k of Object.keys(out)) out[k] = applyDefaults(s.additionalProperties, out[k]);
  return out;
}

describe('defaults in the CRD and in zod agree', () => {
  const specs: [string, unknown][] = [
    ...[...exampleImageServices()].map(([f, o]) => [f, (o as { spec: unknown }).spec] as [string, unknown]),
    ['only image and source', { image: 'i:1', source: { s3: { bucket: 'abc' } } }],
    [
      'autoscaling with a partial behavior',
      { image: 'i:1', source: { file: {} }, resources: { limits: { cpu: '1' } }, autoscaling: { maxReplicas: 4, behavior: { scaleDown: { stabilizationWindowSeconds: 5 } } } },
    ],
    [
      'partial nested objects',
      { image: 'i:1', source: { file: {} }, canary: { analysis: { metrics: [{ name: 'm', query: 'q', thresholdRange: { max: 1 } }] } }, serving: { presets: { t: { w: 1 } } } },
    ],
  ];
  it.each(specs)('%s', (_name, spec) => {
    const r = validateSpec(spec);
    expect(r.ok).toBe(true);
    expect(applyDefaults(specSchema, spec)).toEqual(r.ok ? JSON.parse(JSON.stringify(r.value)) : undefined);
  });
});

// ------------------------------------------------------------- CEL

// The CRD's rules run in the emulated API server's CEL environment: cel-js with Kubernetes'
// libraries (quantity(), the list functions) over the operator's own exact quantities.
/** Messages of every CEL rule the (defaulted) spec breaks, evaluated at each node as the API server does. */
function celViolations(s: JSONSchemaProps, v: unknown, out: string[] = []): string[] {
  if (v === undefined || v === null) return out;
  for (const rule of s['x-kubernetes-validations'] ?? []) {
    if (compile(rule.rule)({ self: toCel(s as StructuralSchema, v) }) !== true) out.push(rule.message);
  }
  if (Array.isArray(v)) for (const e of v) celViolations(s.items ?? {}, e, out);
  else if (typeof v === 'object') {
    for (const [k, e] of Object.entries(v)) {
      const child = s.properties?.[k] ?? s.additionalProperties;
      if (child) celViolations(child, e, out);
    }
  }
  return out;
}

const celMessages = new Set([...nodes(root)].flatMap(([, s]) => (s['x-kubernetes-validations'] ?? []).map((r) => r.message)));

describe('CEL rules agree with zod', () => {
  const base = { image: 'i:1', source: { file: {} } };
  const specs: [string, unknown][] = [
    ...[...exampleImageServices()].map(([f, o]) => [f, (o as { spec: unknown }).spec] as [string, unknown]),
    ['two sources', { ...base, source: { file: {}, s3: { bucket: 'abc' } } }],
    ['no source kind', { ...base, source: {} }],
    ['claim and hostPath', { ...base, source: { file: { claimName: 'c', hostPath: '/x' } } }],
    ['stepWeight and stepWeights', { ...base, canary: { stepWeight: 10, stepWeights: [10, 20] } }],
    ['descending', { ...base, canary: { stepWeights: [30, 20] } }],
    ['above maxWeight', { ...base, canary: { stepWeights: [10, 60], maxWeight: 50 } }],
    ['stepWeight above maxWeight', { ...base, canary: { stepWeight: 60, maxWeight: 50 } }],
    ['stepWeights at maxWeight', { ...base, canary: { stepWeights: [25, 50], maxWeight: 50 } }],
    ['env value and valueFrom', { ...base, env: [{ name: 'A', value: 'x', valueFrom: { fieldRef: { fieldPath: 'f' } } }] }],
    ['env valueFrom with two refs', { ...base, env: [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'f' }, secretKeyRef: { name: 's', key: 'k' } } }] }],
    ['operator env', { ...base, env: [{ name: 'IMAGE_SOURCE', value: 'file:///x' }] }],
    ['empty thresholdRange', { ...base, canary: { analysis: { metrics: [{ name: 'm', query: 'q', thresholdRange: {} }] } } }],
    ['min above max', { ...base, canary: { analysis: { metrics: [{ name: 'm', query: 'q', thresholdRange: { min: 2.5, max: 1 } }] } } }],
    ['cpu request above limit', { ...base, resources: { requests: { cpu: '2' }, limits: { cpu: '1' } } }],
    ['cpu request above limit, as integers', { ...base, resources: { requests: { cpu: 2 }, limits: { cpu: 1 } } }],
    ['cpu request at limit, written differently', { ...base, resources: { requests: { cpu: '1000m' }, limits: { cpu: 1 } } }],
    ['cpu request a nanocore above limit', { ...base, resources: { requests: { cpu: '1.000000001' }, limits: { cpu: '1' } } }],
    ['cpu request below a fractional limit', { ...base, resources: { requests: { cpu: '1.0001' }, limits: { cpu: '1.0002' } } }],
    ['memory request above limit', { ...base, resources: { requests: { memory: '1Gi' }, limits: { memory: '1G' } } }],
    ['memory request below limit', { ...base, resources: { requests: { memory: '1G' }, limits: { memory: '1Gi' } } }],
    ['request without limit', { ...base, resources: { requests: { cpu: '64', memory: '1Ei' } } }],
    ['unparsable request', { ...base, resources: { requests: { cpu: '2x' }, limits: { cpu: '1' } } }],
    ['zero interval', { ...base, canary: { interval: '0s' } }],
    ['interval over a day', { ...base, canary: { interval: '24h1s' } }],
    ['interval of a day', { ...base, canary: { interval: '23h59m60s' } }],
    ["timeout beyond Go's range", { ...base, traffic: { timeout: '100000000000000h' } }],
    ['malformed timeout', { ...base, traffic: { timeout: '1d' } }],
    ['timeout with a part over a day', { ...base, traffic: { timeout: '1m0100h' } }],
    ['timeout over a day in small parts', { ...base, traffic: { timeout: '86399s999ms1000000ns' } }],
    ['timeout of many digits in small units', { ...base, traffic: { timeout: '99999999ms99999999999us' } }],
    ['autoscaling min above max', { ...base, resources: { limits: { cpu: '1' } }, autoscaling: { minReplicas: 3, maxReplicas: 2 } }],
    ['autoscaling min at max', { ...base, resources: { requests: { cpu: '1' } }, autoscaling: { minReplicas: 2, maxReplicas: 2 } }],
    ['autoscaling without a CPU request', { ...base, resources: { requests: { memory: '1Gi' } }, autoscaling: { maxReplicas: 2 } }],
    ['autoscaling without resources', { ...base, autoscaling: { maxReplicas: 2 } }],
    ['output of 21 requests', { ...base, canary: { analysis: { output: { samples: [{ key: 'a.jpg' }], fromTraffic: 20 } } } }],
    ['output of 20 requests', { ...base, canary: { analysis: { output: { samples: [{ key: 'a.jpg' }], fromTraffic: 19 } } } }],
    ['output from traffic only', { ...base, canary: { analysis: { output: { fromTraffic: 20 } } } }],
  ];
  const object = (spec: unknown, name = 'thumbs') => ({ apiVersion: 'imageops.dev/v1alpha1', kind: 'ImageService', metadata: { name }, spec });
  const objects: [string, unknown][] = [
    ...specs.map(([n, spec]) => [n, object(spec)] as [string, unknown]),
    ['name starting with a digit', object(base, '1thumbs')],
    ['name with a dot', object(base, 'thumbs.v2')],
    ['name of 56 characters', object(base, 'a'.repeat(56))],
    ['name of 55 characters', object(base, 'a'.repeat(55))],
  ];
  it.each(objects)('%s', (_name, obj) => {
    const r = validateImageService(obj);
    const zodMessages = r.ok ? [] : r.issues.map((i) => i.message.replace(/^[^:]*: /, '')).filter((m) => celMessages.has(m));
    const defaulted = applyDefaults(root, obj);
    expect(celViolations(root, defaulted).sort()).toEqual(zodMessages.sort());
  });

  it('each rule is exercised: every CEL message is broken by some case', () => {
    const broken = new Set(objects.flatMap(([, o]) => celViolations(root, applyDefaults(root, o))));
    expect([...celMessages].filter((m) => !broken.has(m))).toEqual([]);
  });
});
