// zod -> the structural OpenAPI v3 schema of a CustomResourceDefinition
// (apiextensions.k8s.io/v1). Structural means: a type on every node (int-or-string
// excepted), no $ref/oneOf/not, defaults and enums inline, a description on every
// field so `kubectl explain` helps. Only the zod kinds the ImageService schema
// uses are supported; anything else throws so a new field cannot silently vanish.
import { z } from 'zod';
import { type CelRule, type CrdMeta, crdMeta } from './crd-meta.ts';
import { GROUP, ImageServiceSchema, ImageServiceSpecSchema, ImageServiceStatusSchema, KIND, PLURAL, VERSION } from './image-service.ts';

export interface JSONSchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  additionalProperties?: JSONSchemaProps;
  items?: JSONSchemaProps;
  anyOf?: JSONSchemaProps[];
  enum?: unknown[];
  default?: unknown;
  nullable?: boolean;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: CelRule[];
}

// zod's internal definition, read structurally: the public types do not expose it uniformly.
interface Def {
  type: string;
  innerType?: z.ZodType;
  defaultValue?: unknown;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  entries?: Record<string, string>;
  values?: unknown[];
  options?: z.ZodType[];
}
interface CheckDef {
  check: string;
  value?: number;
  inclusive?: boolean;
  minimum?: number;
  maximum?: number;
  format?: string;
  pattern?: RegExp;
}
interface Bounds {
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  format?: string;
  patterns: RegExp[];
}

const internals = (s: z.ZodType) => s._zod as unknown as { def: Def & { checks?: z.ZodType[] }; traits: Set<string>; optin?: string };

/** The bounds, format and patterns of a schema's checks (a format schema is its own first check). */
function bounds(node: z.ZodType): Bounds {
  const { def, traits } = internals(node);
  const checks = [...(traits.has('$ZodCheck') ? [node] : []), ...(def.checks ?? [])];
  const b: Bounds = { patterns: [] };
  for (const c of checks) {
    const d = internals(c).def as unknown as CheckDef;
    switch (d.check) {
      case 'greater_than':
        if (d.inclusive) b.minimum = Math.max(b.minimum ?? -Infinity, d.value as number);
        else b.exclusiveMinimum = d.value as number;
        break;
      case 'less_than':
        b.maximum = Math.min(b.maximum ?? Infinity, d.value as number);
        break;
      case 'min_length':
        b.minimum = d.minimum as number;
        break;
      case 'max_length':
        b.maximum = d.maximum as number;
        break;
      case 'number_format':
      case 'string_format':
        b.format = d.format;
        if (d.pattern && d.format === 'regex') b.patterns.push(d.pattern);
        break;
    }
  }
  return b;
}
const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault']);

export class CrdSchemaError extends Error {
  override name = 'CrdSchemaError';
}

/** The structural OpenAPI schema of a zod schema; `at` names the field in errors. */
export function toOpenApi(schema: z.ZodType, at = '$'): JSONSchemaProps {
  let description: string | undefined;
  let nullable = false;
  let hasDefault = false;
  let defaultValue: unknown;
  const meta: CrdMeta = {};
  const validations: CelRule[] = [];
  let node = schema;
  for (;;) {
    description ??= z.globalRegistry.get(node)?.description;
    const m = crdMeta.get(node);
    if (m) {
      validations.push(...(m.validations ?? []));
      Object.assign(meta, { ...m, validations: undefined }, meta);
    }
    const def = internals(node).def;
    if (!WRAPPERS.has(def.type)) break;
    if (def.type === 'nullable') nullable = true;
    if ((def.type === 'default' || def.type === 'prefault') && !hasDefault) {
      hasDefault = true;
      defaultValue = def.defaultValue;
    }
    node = def.innerType as z.ZodType;
  }
  const { type, ...rest } = base(node, at, meta);
  // type and description first: the order kubectl explain and readers expect
  const out: JSONSchemaProps = { ...(type ? { type } : {}), ...(description ? { description } : {}), ...rest };
  if (!description && at !== '$') throw new CrdSchemaError(`${at} has no description: add .describe() so kubectl explain can help`);
  if (nullable) out.nullable = true;
  if (hasDefault) out.default = structuredClone(defaultValue);
  if (meta.listType) out['x-kubernetes-list-type'] = meta.listType;
  if (meta.listMapKeys) out['x-kubernetes-list-map-keys'] = meta.listMapKeys;
  if (validations.length) out['x-kubernetes-validations'] = validations;
  return out;
}

/** Whether a field may be left out: optional, or filled in by a default. */
function isOptional(s: z.ZodType): boolean {
  const { def, optin } = internals(s);
  return optin === 'optional' || def.type === 'default' || def.type === 'prefault';
}

// Bounds zod adds for z.int() (the safe-integer range) say nothing a reader needs.
const meaningful = (n: number | undefined) => n !== undefined && Math.abs(n) < Number.MAX_SAFE_INTEGER;

function base(node: z.ZodType, at: string, meta: CrdMeta): JSONSchemaProps {
  const { def } = internals(node);
  const bag = bounds(node);
  if (meta.intOrString) {
    return {
      anyOf: [{ type: 'integer' }, { type: 'string' }],
      ...(meta.pattern ? { pattern: meta.pattern } : {}),
      ...(meta.maxLength ? { maxLength: meta.maxLength } : {}),
      'x-kubernetes-int-or-string': true,
    };
  }
  switch (def.type) {
    case 'string': {
      const out: JSONSchemaProps = { type: 'string' };
      if (meaningful(bag.minimum)) out.minLength = bag.minimum as number;
      if (meaningful(bag.maximum)) out.maxLength = bag.maximum as number;
      else throw new CrdSchemaError(`${at} has no maximum length: CEL cost and etcd size need one`);
      if (bag.format === 'datetime') out.format = 'date-time';
      const patterns = bag.patterns;
      if (patterns.length > 1) throw new CrdSchemaError(`${at} has ${patterns.length} patterns; OpenAPI allows one`);
      const pattern = meta.pattern ?? patterns[0]?.source;
      if (pattern) out.pattern = pattern;
      return out;
    }
    case 'number': {
      const out: JSONSchemaProps = { type: bag.format?.includes('int') ? 'integer' : 'number' };
      if (meaningful(bag.minimum)) out.minimum = bag.minimum as number;
      if (meaningful(bag.exclusiveMinimum) && !(out.minimum !== undefined && out.minimum > (bag.exclusiveMinimum as number))) {
        out.minimum = bag.exclusiveMinimum as number;
        out.exclusiveMinimum = true;
      }
      if (meaningful(bag.maximum)) out.maximum = bag.maximum as number;
      return out;
    }
    case 'boolean':
      return { type: 'boolean' };
    case 'enum':
      return { type: 'string', enum: Object.values(def.entries ?? {}) };
    case 'literal':
      return { type: 'string', enum: [...(def.values ?? [])] };
    case 'array': {
      const out: JSONSchemaProps = { type: 'array', items: toOpenApi(def.element as z.ZodType, `${at}[]`) };
      if (meaningful(bag.minimum)) out.minItems = bag.minimum as number;
      if (meaningful(bag.maximum)) out.maxItems = bag.maximum as number;
      else throw new CrdSchemaError(`${at} has no maximum length: CEL cost and etcd size need one`);
      return out;
    }
    case 'record':
      if (meta.maxProperties === undefined) throw new CrdSchemaError(`${at} has no maximum number of entries: CEL cost and etcd size need one (maxEntries)`);
      return { type: 'object', additionalProperties: toOpenApi(def.valueType as z.ZodType, `${at}{}`), maxProperties: meta.maxProperties };
    case 'object': {
      const properties: Record<string, JSONSchemaProps> = {};
      const required: string[] = [];
      for (const [key, child] of Object.entries(def.shape ?? {})) {
        properties[key] = toOpenApi(child, at === '$' ? key : `${at}.${key}`);
        if (!isOptional(child)) required.push(key);
      }
      const out: JSONSchemaProps = { type: 'object', properties };
      if (required.length) out.required = required;
      // a loose object (catchall unknown) keeps what it does not know, as zod does
      if (def.catchall && internals(def.catchall).def.type === 'unknown') out['x-kubernetes-preserve-unknown-fields'] = true;
      return out;
    }
    default:
      throw new CrdSchemaError(`${at}: zod type "${def.type}" has no CRD mapping`);
  }
}

const READY = '.status.conditions[?(@.type=="Ready")]';

// Ready and its reason say at a glance what is wrong (InvalidSpec, PrimaryNotReady, ...);
// `kubectl get -o wide` adds the condition's message, which says what to do.
const printerColumns = [
  { name: 'Ready', type: 'string', jsonPath: `${READY}.status`, description: 'Whether the primary serves: True, False or Unknown.' },
  { name: 'Reason', type: 'string', jsonPath: `${READY}.reason`, description: 'Why the ImageService is or is not ready.' },
  { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Where the rollout stands.' },
  { name: 'Weight', type: 'integer', jsonPath: '.status.canaryWeight', description: 'Percent of traffic on the canary.' },
  { name: 'Primary', type: 'string', jsonPath: '.status.primary.image', description: 'Image of the primary.' },
  { name: 'Canary', type: 'string', jsonPath: '.status.canary.image', description: 'Image of the canary under analysis.' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  { name: 'Message', type: 'string', jsonPath: `${READY}.message`, description: 'What the Ready condition says.', priority: 1 },
];

/** The ImageService CustomResourceDefinition, as an object ready to serialise. */
export function imageServiceCrd() {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${PLURAL}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'imageops', 'app.kubernetes.io/component': 'crd' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: KIND.toLowerCase(),
        shortNames: ['imgsvc'],
        categories: ['imageops'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: printerColumns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description:
                'An image resize service (sharp/libvips) and its safe rollout: the operator runs it as primary and canary Deployments behind an Istio VirtualService, and promotes a new pod template step by step while its latency and error SLOs hold.',
              properties: {
                apiVersion: { type: 'string', description: 'Versioned schema of this representation of an object.' },
                kind: { type: 'string', description: 'The REST resource this object represents.' },
                // The root rule on metadata.name names it as its fieldPath, which kube-apiserver
                // resolves only through declared properties; root metadata may declare nothing
                // but name and generateName, and no description.
                metadata: { type: 'object', properties: { name: { type: 'string' } } },
                spec: toOpenApi(ImageServiceSpecSchema),
                status: toOpenApi(ImageServiceStatusSchema),
              },
              required: ['spec'],
              'x-kubernetes-validations': crdMeta.get(ImageServiceSchema)?.validations ?? [],
            },
          },
        },
      ],
    },
  };
}
