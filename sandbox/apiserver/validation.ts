import { cause, type StatusCause } from './errors.ts';
import type { ResourceType } from './resources.ts';
import { parseLabelSelector, type StructuredSelector, selectorToString } from './selectors.ts';
import { isObject, type KubeObject } from './types.ts';

// Validation the real API server applies to metadata and to the built-in kinds, limited to what
// a user or a controller can get wrong in this project's flows. Messages are apimachinery's.

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const qualifiedNamePart = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/** Types whose names must be DNS labels rather than subdomains. */
const labelNamed = new Set(['/namespaces', '/services']);

function validName(t: ResourceType, name: string): StatusCause | undefined {
  if (t.crd !== undefined || t.storage === '/events' || t.group === 'rbac.authorization.k8s.io') {
    // Path-segment names: anything a URL can carry.
    if (name === '.' || name === '..' || name.includes('/') || name.includes('%')) {
      return cause.invalid('metadata.name', name, `may not contain '/' or '%' and may not be '.' or '..'`);
    }
    return undefined;
  }
  if (labelNamed.has(t.storage)) {
    if (name.length > 63) return cause.invalid('metadata.name', name, 'must be no more than 63 characters');
    if (!dns1123Label.test(name)) return cause.invalid('metadata.name', name, LABEL_MSG);
    return undefined;
  }
  if (name.length > 253) return cause.invalid('metadata.name', name, 'must be no more than 253 characters');
  if (!dns1123Subdomain.test(name)) return cause.invalid('metadata.name', name, SUBDOMAIN_MSG);
  return undefined;
}

function validQualifiedName(key: string): boolean {
  const slash = key.indexOf('/');
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  if (prefix !== undefined && (!dns1123Subdomain.test(prefix) || prefix.length > 253)) return false;
  return name.length > 0 && name.length <= 63 && qualifiedNamePart.test(name);
}

export function validateMetadata(t: ResourceType, obj: KubeObject): StatusCause[] {
  const out: StatusCause[] = [];
  const m = obj.metadata;
  if (!m.name) out.push({ ...cause.required('metadata.name'), message: 'Required value: name or generateName is required' });
  else {
    const bad = validName(t, m.name);
    if (bad) out.push(bad);
  }
  for (const [k, v] of Object.entries(m.labels ?? {})) {
    if (!validQualifiedName(k))
      out.push(cause.invalid('metadata.labels', k, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"));
    if (v.length > 63 || !labelValue.test(v)) {
      out.push(
        cause.invalid('metadata.labels', v, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"),
      );
    }
  }
  for (const k of Object.keys(m.annotations ?? {})) {
    if (!validQualifiedName(k))
      out.push(cause.invalid('metadata.annotations', k, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"));
  }
  (m.ownerReferences ?? []).forEach((ref, i) => {
    if (!ref.uid) out.push(cause.invalid(`metadata.ownerReferences[${i}].uid`, ref.uid, 'uid must not be empty'));
  });
  if ((m.ownerReferences ?? []).filter((r) => r.controller).length > 1) {
    out.push(cause.invalid('metadata.ownerReferences', m.ownerReferences, 'Only one reference can have Controller set to true'));
  }
  return out;
}

function containers(spec: unknown, path: string): StatusCause[] {
  const out: StatusCause[] = [];
  const list = isObject(spec) ? spec['containers'] : undefined;
  if (!Array.isArray(list) || list.length === 0) return [cause.required(`${path}.containers`)];
  const names = new Set<string>();
  list.forEach((c, i) => {
    const p = `${path}.containers[${i}]`;
    if (!isObject(c)) return;
    const name = c['name'];
    if (typeof name !== 'string' || name === '') out.push(cause.required(`${p}.name`));
    else if (!dns1123Label.test(name)) out.push(cause.invalid(`${p}.name`, name, LABEL_MSG));
    else if (names.has(name)) out.push(cause.duplicate(`${p}.name`, name));
    else names.add(name);
    if (typeof c['image'] !== 'string' || c['image'] === '') out.push(cause.required(`${p}.image`));
  });
  return out;
}

function workload(obj: KubeObject, old: KubeObject | undefined): StatusCause[] {
  const spec = isObject(obj['spec']) ? obj['spec'] : {};
  const out: StatusCause[] = [];
  const selector = spec['selector'];
  const template = isObject(spec['template']) ? spec['template'] : {};
  const templateMeta = isObject(template['metadata']) ? template['metadata'] : {};
  const templateLabels = (isObject(templateMeta['labels']) ? templateMeta['labels'] : {}) as Record<string, string>;
  if (!isObject(selector) || Object.keys(selector).length === 0) out.push(cause.required('spec.selector'));
  else if (!parseLabelSelector(selectorToString(selector as StructuredSelector))(templateLabels)) {
    out.push(cause.invalid('spec.template.metadata.labels', templateLabels, '`selector` does not match template `labels`'));
  }
  const replicas = spec['replicas'];
  if (typeof replicas === 'number' && replicas < 0) out.push(cause.invalid('spec.replicas', replicas, 'must be greater than or equal to 0'));
  out.push(...containers(template['spec'], 'spec.template.spec'));
  const oldSpec = old && isObject(old['spec']) ? old['spec'] : undefined;
  if (oldSpec && JSON.stringify(oldSpec['selector']) !== JSON.stringify(selector)) {
    out.push(cause.invalid('spec.selector', selector, 'field is immutable'));
  }
  return out;
}

function service(obj: KubeObject, old: KubeObject | undefined): StatusCause[] {
  const spec = isObject(obj['spec']) ? obj['spec'] : {};
  const out: StatusCause[] = [];
  const ports = Array.isArray(spec['ports']) ? spec['ports'] : [];
  if (ports.length === 0 && spec['clusterIP'] !== 'None' && spec['type'] !== 'ExternalName') out.push(cause.required('spec.ports'));
  ports.forEach((p: unknown, i: number) => {
    const port = isObject(p) ? p['port'] : undefined;
    if (typeof port !== 'number' || port < 1 || port > 65535) {
      out.push(cause.invalid(`spec.ports[${i}].port`, port ?? 0, 'must be between 1 and 65535, inclusive'));
    }
    if (ports.length > 1 && !(isObject(p) && p['name'])) out.push(cause.required(`spec.ports[${i}].name`));
  });
  const oldSpec = old && isObject(old['spec']) ? old['spec'] : undefined;
  if (oldSpec?.['clusterIP'] && spec['clusterIP'] !== oldSpec['clusterIP']) {
    out.push(cause.invalid('spec.clusterIPs[0]', spec['clusterIP'], 'may not change once set'));
  }
  return out;
}

function dataKeys(obj: KubeObject): StatusCause[] {
  const out: StatusCause[] = [];
  for (const field of ['data', 'binaryData']) {
    const data = obj[field];
    if (!isObject(data)) continue;
    for (const k of Object.keys(data)) {
      if (!/^[-._a-zA-Z0-9]+$/.test(k)) {
        out.push(cause.invalid(`${field}[${k}]`, k, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"));
      }
    }
  }
  return out;
}

type Validator = (obj: KubeObject, old: KubeObject | undefined) => StatusCause[];

export const builtinValidators: Record<string, Validator> = {
  '/pods': (pod) => containers(pod['spec'], 'spec'),
  'apps/deployments': workload,
  'apps/replicasets': workload,
  '/services': service,
  '/configmaps': dataKeys,
  '/secrets': dataKeys,
};
