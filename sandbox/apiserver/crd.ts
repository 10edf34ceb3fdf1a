import { CelError } from './cel.ts';
import { cause, type StatusCause } from './errors.ts';
import { type PrinterColumn, type ResourceType, resourceType } from './resources.ts';
import { programOf, type StructuralSchema } from './schema.ts';
import { isObject, type JsonObject, type KubeObject } from './types.ts';

// CustomResourceDefinitions: what makes one acceptable, the status the real server reports, and
// the resource types it serves
// (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/).

export const CRD_STORAGE = 'apiextensions.k8s.io/customresourcedefinitions';
export const CRD_CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';

type Names = { plural: string; singular: string; kind: string; listKind: string; shortNames: string[]; categories: string[] };

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function namesOf(spec: JsonObject): Names {
  const n = isObject(spec['names']) ? spec['names'] : {};
  const kind = str(n['kind']);
  return {
    plural: str(n['plural']),
    singular: str(n['singular']) || kind.toLowerCase(),
    kind,
    listKind: str(n['listKind']) || `${kind}List`,
    shortNames: strings(n['shortNames']),
    categories: strings(n['categories']),
  };
}

function versionsOf(spec: JsonObject): JsonObject[] {
  return Array.isArray(spec['versions']) ? spec['versions'].filter(isObject) : [];
}

export function validateCrd(crd: KubeObject): StatusCause[] {
  const out: StatusCause[] = [];
  const spec = isObject(crd['spec']) ? crd['spec'] : {};
  const group = str(spec['group']);
  const names = namesOf(spec);
  if (!group) out.push(cause.required('spec.group'));
  if (!names.plural) out.push(cause.required('spec.names.plural'));
  if (!names.kind) out.push(cause.required('spec.names.kind'));
  if (crd.metadata.name !== `${names.plural}.${group}`) {
    out.push(cause.invalid('metadata.name', crd.metadata.name, 'must be spec.names.plural+"."+spec.group'));
  }
  const scope = spec['scope'];
  if (scope !== 'Namespaced' && scope !== 'Cluster') out.push(cause.notSupported('spec.scope', scope, ['Cluster', 'Namespaced']));
  const versions = versionsOf(spec);
  if (versions.length === 0) out.push(cause.required('spec.versions'));
  if (versions.filter((v) => v['storage'] === true).length !== 1) {
    out.push(
      cause.invalid(
        'spec.versions',
        versions.map((v) => v['name']),
        'must have exactly one version marked as storage version',
      ),
    );
  }
  versions.forEach((v, i) => {
    if (!str(v['name'])) out.push(cause.required(`spec.versions[${i}].name`));
    const schema = isObject(v['schema']) ? v['schema']['openAPIV3Schema'] : undefined;
    if (!isObject(schema)) out.push({ ...cause.required(`spec.versions[${i}].schema.openAPIV3Schema`), message: 'Required value: schemas are required' });
    else if (schema['type'] !== 'object') out.push(cause.invalid(`spec.versions[${i}].schema.openAPIV3Schema.type`, schema['type'] ?? '', 'must be object at the root'));
    else out.push(...schemaCauses(schema, `spec.versions[${i}].schema.openAPIV3Schema`, true));
  });
  return out;
}

/**
 * The rules kube-apiserver holds a CRD's schema to that a generator can get wrong: root
 * metadata may constrain only name and generateName (and carries nothing else, not even a
 * description), every CEL rule compiles, and every rule's fieldPath resolves through declared
 * properties or additionalProperties.
 */
export function schemaCauses(schema: JsonObject, at: string, root: boolean): StatusCause[] {
  const out: StatusCause[] = [];
  const props = isObject(schema['properties']) ? schema['properties'] : {};
  const metadata = props['metadata'];
  if (root && isObject(metadata)) {
    const where = `${at}.properties[metadata]`;
    const names = isObject(metadata['properties']) ? Object.keys(metadata['properties']) : [];
    const extra = Object.keys(metadata).filter((k) => k !== 'type' && k !== 'properties' && k !== 'default');
    if (extra.length > 0 || names.some((n) => n !== 'name' && n !== 'generateName')) {
      out.push(cause.forbidden(where, 'must not specify anything other than name and generateName, but metadata is implicitly specified'));
    }
  }
  const rules = Array.isArray(schema['x-kubernetes-validations']) ? schema['x-kubernetes-validations'].filter(isObject) : [];
  rules.forEach((r, i) => {
    const compiled = programOf(str(r['rule']));
    if (compiled instanceof CelError) {
      out.push(cause.invalid(`${at}.x-kubernetes-validations[${i}].rule`, str(r['rule']), `compilation failed: ${compiled.message}`));
    }
    const fieldPath = str(r['fieldPath']);
    const problem = fieldPath ? fieldPathProblem(schema, fieldPath) : undefined;
    if (problem) {
      out.push(cause.invalid(`${at}.x-kubernetes-validations[${i}].fieldPath`, fieldPath, `fieldPath must be a valid path: ${problem}`));
    }
  });
  for (const [name, child] of Object.entries(props)) {
    if (isObject(child) && !(root && name === 'metadata')) out.push(...schemaCauses(child, `${at}.properties[${name}]`, false));
  }
  for (const key of ['items', 'additionalProperties'] as const) {
    const child = schema[key];
    if (isObject(child)) out.push(...schemaCauses(child, `${at}.${key}`, false));
  }
  return out;
}

/** Why a CEL rule's fieldPath (`.a.b`, `['a'].b`) does not resolve in a schema, as kube-apiserver walks it. */
export function fieldPathProblem(schema: JsonObject, fieldPath: string): string | undefined {
  const steps = fieldPath.match(/\.[^.[\]]*|\['(?:[^'\\]|\\.)*'\]|./g) ?? [];
  if (steps.join('') !== fieldPath) return 'cannot be parsed';
  let node: JsonObject = schema;
  for (const step of steps) {
    let name: string;
    if (step.startsWith('.')) name = step.slice(1);
    else if (step.startsWith("['")) name = step.slice(2, -2).replace(/\\(.)/g, '$1');
    else return `expected [ or . but got: ${step}`;
    if (name === '') return 'unexpected end of JSON path';
    const props = node['properties'];
    const additional = node['additionalProperties'];
    let next: unknown;
    if (isObject(props)) next = props[name];
    else if (isObject(additional)) next = additional;
    if (!isObject(next)) return 'does not refer to a valid field';
    node = next;
  }
  return undefined;
}

/** The status the apiextensions server reports once it serves the CRD. */
export function establishedStatus(crd: KubeObject, now: string): JsonObject {
  const spec = isObject(crd['spec']) ? crd['spec'] : {};
  const names = namesOf(spec);
  const previous = isObject(crd['status']) && Array.isArray(crd['status']['conditions']) ? crd['status']['conditions'].filter(isObject) : [];
  const since = (type: string) => str(previous.find((c) => c['type'] === type)?.['lastTransitionTime']) || now;
  const condition = (type: string, reason: string, message: string) => ({
    type,
    status: 'True',
    lastTransitionTime: since(type),
    reason,
    message,
  });
  return {
    conditions: [condition('NamesAccepted', 'NoConflicts', 'no conflicts found'), condition('Established', 'InitialNamesAccepted', 'the initial names have been accepted')],
    acceptedNames: {
      plural: names.plural,
      singular: names.singular,
      kind: names.kind,
      listKind: names.listKind,
      ...(names.shortNames.length ? { shortNames: names.shortNames } : {}),
      ...(names.categories.length ? { categories: names.categories } : {}),
    },
    storedVersions: versionsOf(spec)
      .filter((v) => v['storage'] === true)
      .map((v) => v['name']),
  };
}

function printerColumns(v: JsonObject): PrinterColumn[] | undefined {
  const cols = v['additionalPrinterColumns'];
  if (!Array.isArray(cols)) return undefined;
  return cols.filter(isObject).map((c) => ({
    name: str(c['name']),
    type: str(c['type']) || 'string',
    jsonPath: str(c['jsonPath']),
    ...(c['description'] ? { description: str(c['description']) } : {}),
    ...(c['format'] ? { format: str(c['format']) } : {}),
    ...(typeof c['priority'] === 'number' ? { priority: c['priority'] } : {}),
  }));
}

/** One served type per served version; every version shares the storage version's collection. */
export function typesOfCrd(crd: KubeObject): ResourceType[] {
  const spec = isObject(crd['spec']) ? crd['spec'] : {};
  const group = str(spec['group']);
  const names = namesOf(spec);
  return versionsOf(spec)
    .filter((v) => v['served'] !== false)
    .map((v) => {
      const version = str(v['name']);
      const sub = isObject(v['subresources']) ? v['subresources'] : {};
      const scale = isObject(sub['scale']) ? sub['scale'] : undefined;
      const schema = isObject(v['schema']) ? (v['schema']['openAPIV3Schema'] as StructuralSchema) : undefined;
      const selectable = Array.isArray(v['selectableFields']) ? v['selectableFields'].filter(isObject) : [];
      const apiVersion = `${group}/${version}`;
      return resourceType({
        group,
        version,
        resource: names.plural,
        kind: names.kind,
        listKind: names.listKind,
        singular: names.singular,
        namespaced: spec['scope'] !== 'Cluster',
        shortNames: names.shortNames,
        categories: names.categories,
        storage: `${group}/${names.plural}`,
        statusSubresource: isObject(sub['status']),
        scale: scale
          ? {
              specReplicasPath: str(scale['specReplicasPath']),
              statusReplicasPath: str(scale['statusReplicasPath']),
              ...(scale['labelSelectorPath'] ? { labelSelectorPath: str(scale['labelSelectorPath']) } : {}),
            }
          : undefined,
        generation: true,
        fieldSelectors: selectable.map((f) => str(f['jsonPath']).replace(/^\./, '')),
        printerColumns: printerColumns(v),
        schema,
        // Versions share storage without conversion (strategy None): only apiVersion changes.
        codec:
          v['storage'] === true
            ? undefined
            : {
                toStorage: (o) => ({ ...o, apiVersion: `${group}/${storageVersion(spec)}` }),
                fromStorage: (o) => ({ ...o, apiVersion }),
              },
        crd: crd.metadata.name,
      });
    });
}

function storageVersion(spec: JsonObject): string {
  return str(versionsOf(spec).find((v) => v['storage'] === true)?.['name']);
}
