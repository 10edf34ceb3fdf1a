import type { PrinterColumn, ResourceType } from './resources.ts';
import { type StructuredSelector, selectorToString } from './selectors.ts';
import { isObject, type JsonObject, type KubeObject } from './types.ts';

// Server-side printing: the Table (meta.k8s.io/v1) that `kubectl get` asks for, with CRD
// additionalPrinterColumns and the real server's default columns for built-in kinds
// (https://kubernetes.io/docs/reference/using-api/api-concepts/#receiving-resources-as-tables).

export type IncludeObject = 'None' | 'Metadata' | 'Object';

type Column = PrinterColumn & { cell: (obj: KubeObject, now: number) => unknown };

/** kubectl's HumanDuration: how `AGE` reads. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < -1) return '<invalid>';
  if (s < 0) return '0s';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 24 * 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (h < 24 * 365 * 2) return `${d}d`;
  const y = Math.floor(d / 365);
  if (y < 8) return d % 365 === 0 ? `${y}y` : `${y}y${d % 365}d`;
  return `${y}y`;
}

function age(timestamp: unknown, now: number): string {
  if (typeof timestamp !== 'string') return '<unknown>';
  return humanDuration(now - Date.parse(timestamp));
}

// A filter `[?(@.a.b == "x")]` (or !=) with a string, number or boolean on the right.
const FILTER_RE = /^\?\(@((?:\.[^.\s=!]+)+)\s*(==|!=)\s*(?:"([^"]*)"|'([^']*)'|(-?[0-9.]+|true|false))\s*\)$/;

function filter(items: unknown[], inner: string): unknown[] {
  const m = FILTER_RE.exec(inner);
  if (!m) return [];
  const [, path = '', op, dq, sq, bare] = m;
  const want = dq ?? sq ?? JSON.parse(bare as string);
  return items.filter((item) => {
    const got = evalJsonPath(item, path);
    const equal = got.length === 1 && got[0] === want;
    return op === '==' ? equal : !equal;
  });
}

/** A JSONPath subset (`.a.b`, `.a[0]`, `.a[*].b`, `.a[?(@.k=="v")].b`, `{...}`): enough for printer columns. */
export function evalJsonPath(obj: unknown, path: string): unknown[] {
  const expr = path.trim().replace(/^\{/, '').replace(/\}$/, '');
  const tokens = expr.match(/[^.[\]]+|\[[^\]]*\]/g) ?? [];
  let nodes: unknown[] = [obj];
  for (const token of tokens) {
    const next: unknown[] = [];
    for (const node of nodes) {
      if (token.startsWith('[')) {
        const inner = token.slice(1, -1);
        if (!Array.isArray(node)) continue;
        if (inner === '*') next.push(...node);
        else if (inner.startsWith('?')) next.push(...filter(node, inner));
        else {
          const i = Number(inner);
          const v = node[i < 0 ? node.length + i : i];
          if (v !== undefined) next.push(v);
        }
      } else if (token === '*') {
        if (isObject(node)) next.push(...Object.values(node));
      } else if (isObject(node) && node[token] !== undefined) next.push(node[token]);
    }
    nodes = next;
  }
  return nodes;
}

function jsonPathCell(obj: KubeObject, col: PrinterColumn): unknown {
  const values = evalJsonPath(obj, col.jsonPath);
  if (values.length === 0) return null;
  const render = (v: unknown) => (typeof v === 'object' ? JSON.stringify(v) : v);
  if (values.length === 1) {
    const v = values[0];
    // The real server renders date columns of custom resources as an age.
    if (col.type === 'date') return typeof v === 'string' ? age(v, Date.now()) : null;
    if (col.type === 'integer' || col.type === 'number' || col.type === 'boolean') return v;
    return typeof v === 'string' ? v : render(v);
  }
  return values.map(render).join(',');
}

const get = (obj: unknown, ...path: string[]): unknown => {
  let node = obj;
  for (const p of path) node = isObject(node) ? node[p] : undefined;
  return node;
};
const list = (v: unknown): JsonObject[] => (Array.isArray(v) ? v.filter(isObject) : []);
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
const col = (name: string, cell: Column['cell'], extra: Partial<PrinterColumn> = {}): Column => ({
  name,
  type: 'string',
  jsonPath: '',
  description: '',
  cell,
  ...extra,
});

const nameCol = col('Name', (o) => o.metadata.name ?? '', {
  format: 'name',
  description: 'Name must be unique within a namespace. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
});
const ageCol = col('Age', (o, now) => age(o.metadata.creationTimestamp, now), {
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
});
const createdAtCol = col('Created At', (o) => o.metadata.creationTimestamp ?? '', { type: 'date' });

function podStatus(pod: KubeObject): string {
  if (pod.metadata.deletionTimestamp) return 'Terminating';
  const reason = get(pod, 'status', 'reason');
  if (typeof reason === 'string' && reason) return reason;
  for (const cs of list(get(pod, 'status', 'containerStatuses'))) {
    const waiting = get(cs, 'state', 'waiting', 'reason');
    if (typeof waiting === 'string' && waiting) return waiting;
    const terminated = get(cs, 'state', 'terminated', 'reason');
    if (typeof terminated === 'string' && terminated) return terminated;
  }
  return String(get(pod, 'status', 'phase') ?? 'Unknown');
}

function servicePorts(svc: KubeObject): string {
  const ports = list(get(svc, 'spec', 'ports')).map((p) => `${String(p['port'])}${p['nodePort'] ? `:${String(p['nodePort'])}` : ''}/${String(p['protocol'] ?? 'TCP')}`);
  return ports.length ? ports.join(',') : '<none>';
}

function endpointAddresses(ep: KubeObject): string {
  const out: string[] = [];
  for (const subset of list(ep['subsets'])) {
    const ports = list(subset['ports']);
    for (const addr of list(subset['addresses'])) {
      if (ports.length === 0) out.push(String(addr['ip']));
      for (const p of ports) out.push(`${String(addr['ip'])}:${String(p['port'])}`);
    }
  }
  if (out.length === 0) return '<none>';
  return out.length > 3 ? `${out.slice(0, 3).join(',')} + ${out.length - 3} more...` : out.join(',');
}

/** A workload's pod template: its containers' names and images, as kubectl -o wide shows them. */
const templateColumns: Column[] = (['name', 'image'] as const).map((field) =>
  col(
    field === 'name' ? 'Containers' : 'Images',
    (w) =>
      list(get(w, 'spec', 'template', 'spec', 'containers'))
        .map((c) => c[field])
        .join(','),
    { priority: 1 },
  ),
);

const selectorCol = col('Selector', (w) => selectorToString(get(w, 'spec', 'selector') as StructuredSelector), { priority: 1 });

const builtinColumns: Record<string, Column[]> = {
  '/pods': [
    nameCol,
    col('Ready', (p) => {
      const statuses = list(get(p, 'status', 'containerStatuses'));
      return `${statuses.filter((s) => s['ready'] === true).length}/${list(get(p, 'spec', 'containers')).length}`;
    }),
    col('Status', podStatus),
    col('Restarts', (p) => String(list(get(p, 'status', 'containerStatuses')).reduce((n, s) => n + num(s['restartCount']), 0))),
    ageCol,
    col('IP', (p) => get(p, 'status', 'podIP') ?? '<none>', { priority: 1 }),
    col('Node', (p) => get(p, 'spec', 'nodeName') ?? '<none>', { priority: 1 }),
  ],
  'apps/deployments': [
    nameCol,
    col('Ready', (d) => `${num(get(d, 'status', 'readyReplicas'))}/${num(get(d, 'spec', 'replicas'))}`),
    col('Up-to-date', (d) => num(get(d, 'status', 'updatedReplicas')), { type: 'integer' }),
    col('Available', (d) => num(get(d, 'status', 'availableReplicas')), { type: 'integer' }),
    ageCol,
    ...templateColumns,
    selectorCol,
  ],
  'apps/replicasets': [
    nameCol,
    col('Desired', (r) => num(get(r, 'spec', 'replicas')), { type: 'integer' }),
    col('Current', (r) => num(get(r, 'status', 'replicas')), { type: 'integer' }),
    col('Ready', (r) => num(get(r, 'status', 'readyReplicas')), { type: 'integer' }),
    ageCol,
    ...templateColumns,
    selectorCol,
  ],
  '/services': [
    nameCol,
    col('Type', (s) => get(s, 'spec', 'type') ?? 'ClusterIP'),
    col('Cluster-IP', (s) => get(s, 'spec', 'clusterIP') ?? '<none>'),
    col('External-IP', (s) => {
      const ips = list(get(s, 'status', 'loadBalancer', 'ingress')).map((i) => i['ip'] ?? i['hostname']);
      return ips.length ? ips.join(',') : '<none>';
    }),
    col('Port(s)', servicePorts),
    ageCol,
    col('Selector', (s) => selectorToString(get(s, 'spec', 'selector') as Record<string, string>) || '<none>', { priority: 1 }),
  ],
  '/endpoints': [nameCol, col('Endpoints', endpointAddresses), ageCol],
  'discovery.k8s.io/endpointslices': [
    nameCol,
    col('AddressType', (s) => s['addressType'] ?? ''),
    col(
      'Ports',
      (s) =>
        list(s['ports'])
          .map((p) => p['port'])
          .join(',') || '<unset>',
    ),
    col(
      'Endpoints',
      (s) =>
        list(s['endpoints'])
          .flatMap((e) => (Array.isArray(e['addresses']) ? e['addresses'] : []))
          .join(',') || '<unset>',
    ),
    ageCol,
  ],
  '/configmaps': [
    nameCol,
    col('Data', (c) => Object.keys(isObject(c['data']) ? c['data'] : {}).length + Object.keys(isObject(c['binaryData']) ? c['binaryData'] : {}).length, { type: 'integer' }),
    ageCol,
  ],
  '/secrets': [nameCol, col('Type', (s) => s['type'] ?? ''), col('Data', (s) => Object.keys(isObject(s['data']) ? s['data'] : {}).length, { type: 'integer' }), ageCol],
  '/serviceaccounts': [nameCol, col('Secrets', (s) => list(s['secrets']).length, { type: 'integer' }), ageCol],
  '/nodes': [
    nameCol,
    col('Status', (n) => {
      const ready = list(get(n, 'status', 'conditions')).find((c) => c['type'] === 'Ready');
      const state = ready?.['status'] === 'True' ? 'Ready' : 'NotReady';
      return get(n, 'spec', 'unschedulable') === true ? `${state},SchedulingDisabled` : state;
    }),
    col('Roles', () => '<none>'),
    ageCol,
    col('Version', (n) => get(n, 'status', 'nodeInfo', 'kubeletVersion') ?? ''),
  ],
  '/namespaces': [nameCol, col('Status', (n) => get(n, 'status', 'phase') ?? ''), ageCol],
  '/events': [
    col('Last Seen', (e, now) => age(e['lastTimestamp'] ?? e['eventTime'] ?? e.metadata.creationTimestamp, now)),
    col('Type', (e) => e['type'] ?? ''),
    col('Reason', (e) => e['reason'] ?? ''),
    col('Object', (e) => `${String(get(e, 'involvedObject', 'kind') ?? '').toLowerCase()}/${String(get(e, 'involvedObject', 'name') ?? '')}`),
    col('Message', (e) => e['message'] ?? ''),
  ],
  'coordination.k8s.io/leases': [nameCol, col('Holder', (l) => get(l, 'spec', 'holderIdentity') ?? ''), ageCol],
  'apiextensions.k8s.io/customresourcedefinitions': [nameCol, createdAtCol],
  'rbac.authorization.k8s.io/roles': [nameCol, createdAtCol],
  'rbac.authorization.k8s.io/clusterroles': [nameCol, createdAtCol],
  'rbac.authorization.k8s.io/rolebindings': [nameCol, col('Role', (b) => `${String(get(b, 'roleRef', 'kind'))}/${String(get(b, 'roleRef', 'name'))}`), ageCol],
  'rbac.authorization.k8s.io/clusterrolebindings': [nameCol, col('Role', (b) => `${String(get(b, 'roleRef', 'kind'))}/${String(get(b, 'roleRef', 'name'))}`), ageCol],
};

function columnsOf(t: ResourceType): Column[] {
  if (t.printerColumns) {
    return [nameCol, ...t.printerColumns.map((c) => ({ ...c, description: c.description ?? '', cell: (o: KubeObject) => jsonPathCell(o, c) }))];
  }
  return builtinColumns[t.storage] ?? [nameCol, ageCol];
}

function rowObject(obj: KubeObject, include: IncludeObject): unknown {
  if (include === 'None') return undefined;
  if (include === 'Object') return obj;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

export function toTable(t: ResourceType, items: KubeObject[], options: { include: IncludeObject; headers: boolean; listMeta?: JsonObject }): JsonObject {
  const columns = columnsOf(t);
  const now = Date.now();
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: options.listMeta ?? {},
    columnDefinitions: options.headers
      ? columns.map((c) => ({
          name: c.name,
          type: c.type,
          format: c.format ?? '',
          description: c.description ?? '',
          priority: c.priority ?? 0,
        }))
      : [],
    rows: items.map((obj) => {
      const row: JsonObject = { cells: columns.map((c) => c.cell(obj, now) ?? null) };
      const o = rowObject(obj, options.include);
      if (o !== undefined) row['object'] = o;
      return row;
    }),
  };
}
