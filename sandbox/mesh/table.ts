// The mesh's routing table: a pure function of the cluster's VirtualServices, HTTPRoutes, Services,
// endpoints and pods. The router asks it where a request goes; the watcher rebuilds it on every change and
// swaps it whole, so a request in flight keeps the backend it was given.
import type { EndpointSlice, Endpoints, HTTPRoute, Pod, Service, ServicePort, VirtualService } from '../kube/types.ts';

export const CLUSTER_DOMAIN = 'svc.cluster.local';

export interface Snapshot {
  virtualServices: VirtualService[];
  /** Gateway API routes; none when the cluster does not serve them. */
  httpRoutes?: HTTPRoute[];
  services: Service[];
  endpoints: Endpoints[];
  endpointSlices: EndpointSlice[];
  pods: Pod[];
}

/** A pod that can take a request, with the identity Istio's telemetry gives it. */
export interface Backend {
  ip: string;
  port: number;
  pod: string;
  namespace: string;
  workload: string;
  app: string;
  version: string;
  canonicalService: string;
}

export interface Destination {
  /** FQDN of the destination Service: NAME.NAMESPACE.svc.cluster.local */
  host: string;
  weight: number;
  port: number | undefined;
}

export interface StringMatch {
  exact?: string | undefined;
  prefix?: string | undefined;
  regex?: string | undefined;
}

/** A share of a rule's requests copied to another destination, as Envoy shadows them. */
export interface Mirror {
  host: string;
  port: number | undefined;
  /** 0-100: the share of requests copied. */
  percent: number;
}

export interface Rule {
  matches: { uri?: StringMatch | undefined; headers?: Record<string, StringMatch> | undefined }[];
  destinations: Destination[];
  mirrors: Mirror[];
}

export interface HostRoute {
  /** The route object (`VirtualService namespace/name` or `HTTPRoute namespace/name`) that owns this host, or undefined for a plain Service. */
  owner: string | undefined;
  rules: Rule[];
}

interface ServiceEntry {
  name: string;
  namespace: string;
  ports: ServicePort[];
  /** Ready backends by service port number. */
  backends: Map<number, Backend[]>;
}

export interface RoutingTable {
  routes: Map<string, HostRoute>;
  wildcards: { suffix: string; route: HostRoute }[];
  services: Map<string, ServiceEntry>;
  /** Short name -> namespaces where a VirtualService host or a Service of that name exists. */
  shortNames: Map<string, string[]>;
}

/** Canonical form of a VirtualService host or destination, written in namespace `ns` (Istio's rule: short names are relative to the resource's namespace). */
export function qualify(host: string, ns: string): string {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (h.includes('*')) return h;
  if (!h.includes('.')) return `${h}.${ns}.${CLUSTER_DOMAIN}`;
  return h;
}

function serviceFqdn(name: string, ns: string): string {
  return `${name}.${ns}.${CLUSTER_DOMAIN}`;
}

/** Istio's workload name: a pod owned by a ReplicaSet belongs to the Deployment (the ReplicaSet name minus its pod-template-hash). */
export function workloadOf(pod: Pod): string {
  const owner = pod.metadata.ownerReferences?.find((o) => o.controller === true) ?? pod.metadata.ownerReferences?.[0];
  if (owner === undefined) return pod.metadata.name;
  if (owner.kind === 'ReplicaSet') {
    const hash = pod.metadata.labels?.['pod-template-hash'];
    if (hash !== undefined && owner.name.endsWith(`-${hash}`)) return owner.name.slice(0, -hash.length - 1);
  }
  return owner.name;
}

function backendOf(ip: string, port: number, pod: Pod | undefined, namespace: string, podName: string): Backend {
  const labels = pod?.metadata.labels ?? {};
  const workload = pod === undefined ? 'unknown' : workloadOf(pod);
  const app = labels['app.kubernetes.io/name'] ?? labels.app ?? 'unknown';
  return {
    ip,
    port,
    pod: podName,
    namespace,
    workload,
    app,
    version: labels['app.kubernetes.io/version'] ?? labels.version ?? 'unknown',
    canonicalService: labels['service.istio.io/canonical-name'] ?? labels['app.kubernetes.io/name'] ?? labels.app ?? workload,
  };
}

function readyBackends(svc: Service, port: ServicePort, slices: EndpointSlice[], endpoints: Endpoints | undefined, pods: Map<string, Pod>): Backend[] {
  const ns = svc.metadata.namespace ?? 'default';
  const portName = port.name ?? '';
  const out: Backend[] = [];
  if (slices.length > 0) {
    for (const slice of slices) {
      const p = (slice.ports ?? []).find((sp) => (sp.name ?? '') === portName) ?? (slice.ports?.length === 1 ? slice.ports[0] : undefined);
      if (p === undefined) continue;
      for (const ep of slice.endpoints ?? []) {
        if (ep.conditions?.ready === false) continue;
        const podName = ep.targetRef?.name ?? '';
        for (const ip of ep.addresses) out.push(backendOf(ip, p.port, pods.get(`${ns}/${podName}`), ns, podName));
      }
    }
    return out;
  }
  for (const subset of endpoints?.subsets ?? []) {
    const p = (subset.ports ?? []).find((sp) => (sp.name ?? '') === portName) ?? (subset.ports?.length === 1 ? subset.ports[0] : undefined);
    if (p === undefined) continue;
    for (const addr of subset.addresses ?? []) {
      const podName = addr.targetRef?.name ?? '';
      out.push(backendOf(addr.ip, p.port, pods.get(`${ns}/${podName}`), ns, podName));
    }
  }
  return out;
}

function addShortName(map: Map<string, string[]>, name: string, ns: string): void {
  const list = map.get(name) ?? [];
  if (!list.includes(ns)) list.push(ns);
  map.set(name, list);
}

export function buildRoutingTable(snap: Snapshot): RoutingTable {
  const pods = new Map(snap.pods.map((p) => [`${p.metadata.namespace ?? 'default'}/${p.metadata.name}`, p]));
  const slicesBySvc = new Map<string, EndpointSlice[]>();
  for (const s of snap.endpointSlices) {
    const svc = s.metadata.labels?.['kubernetes.io/service-name'];
    if (svc === undefined || s.addressType !== 'IPv4') continue;
    const key = `${s.metadata.namespace ?? 'default'}/${svc}`;
    slicesBySvc.set(key, [...(slicesBySvc.get(key) ?? []), s]);
  }
  const endpointsBySvc = new Map(snap.endpoints.map((e) => [`${e.metadata.namespace ?? 'default'}/${e.metadata.name}`, e]));

  const services = new Map<string, ServiceEntry>();
  const routes = new Map<string, HostRoute>();
  const wildcards: RoutingTable['wildcards'] = [];
  const shortNames = new Map<string, string[]>();

  for (const svc of snap.services) {
    const ns = svc.metadata.namespace ?? 'default';
    const key = `${ns}/${svc.metadata.name}`;
    const ports = svc.spec.ports ?? [];
    const backends = new Map<number, Backend[]>();
    for (const port of ports) backends.set(port.port, readyBackends(svc, port, slicesBySvc.get(key) ?? [], endpointsBySvc.get(key), pods));
    const fqdn = serviceFqdn(svc.metadata.name, ns);
    services.set(fqdn, { name: svc.metadata.name, namespace: ns, ports, backends });
    // A host without a VirtualService goes to the Service of that name, as in a mesh.
    routes.set(fqdn, { owner: undefined, rules: [{ matches: [], destinations: [{ host: fqdn, weight: 100, port: undefined }], mirrors: [] }] });
    addShortName(shortNames, svc.metadata.name, ns);
  }

  // Routes override the Service default for their hosts; the oldest wins a conflict, as in Istio
  // (and as the Gateway API orders routes: by creation, then namespace/name).
  const claims = [...snap.virtualServices.map(virtualServiceClaim), ...(snap.httpRoutes ?? []).map(httpRouteClaim)].sort(
    (a, b) => a.created.localeCompare(b.created) || `${a.ns}/${a.name}`.localeCompare(`${b.ns}/${b.name}`),
  );
  const claimed = new Set<string>();
  for (const { route, hosts, ns } of claims) {
    for (const { host, q } of hosts) {
      if (claimed.has(q)) continue;
      claimed.add(q);
      if (q.startsWith('*')) wildcards.push({ suffix: q.slice(1), route });
      else routes.set(q, route);
      if (!host.includes('.') && !host.includes('*')) addShortName(shortNames, host.toLowerCase(), ns);
    }
  }
  for (const list of shortNames.values()) list.sort((a, b) => (a === 'default' ? -1 : b === 'default' ? 1 : a.localeCompare(b)));
  return { routes, wildcards, services, shortNames };
}

/** A route object's rules and the hosts it claims (as written, and qualified). */
interface Claim {
  created: string;
  ns: string;
  name: string;
  route: HostRoute;
  hosts: { host: string; q: string }[];
}

function virtualServiceClaim(vs: VirtualService): Claim {
  const ns = vs.metadata.namespace ?? 'default';
  const rules: Rule[] = (vs.spec.http ?? []).map((http) => ({
    matches: (http.match ?? []).map((m) => ({ uri: m.uri, headers: m.headers })),
    destinations: (http.route ?? []).map((r, _i, all) => ({
      host: qualify(r.destination.host, ns),
      weight: r.weight ?? (all.length === 1 ? 100 : 0),
      port: r.destination.port?.number,
    })),
    // Istio's `mirror` (all requests unless `mirrorPercentage` says less) and its newer `mirrors` list
    mirrors: [...(http.mirror ? [{ destination: http.mirror, percentage: http.mirrorPercentage }] : []), ...(http.mirrors ?? [])].map((m) => ({
      host: qualify(m.destination.host, ns),
      port: m.destination.port?.number,
      percent: Math.min(100, Math.max(0, m.percentage?.value ?? 100)),
    })),
  }));
  return {
    created: vs.metadata.creationTimestamp ?? '',
    ns,
    name: vs.metadata.name,
    route: { owner: `VirtualService ${ns}/${vs.metadata.name}`, rules },
    hosts: (vs.spec.hosts ?? []).map((host) => ({ host, q: qualify(host, ns) })),
  };
}

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * An HTTPRoute as Istio reads it: a Service parent (GAMMA, the mesh) claims that Service's name;
 * a Gateway parent (the mesh's router plays every Gateway) claims the hostnames. Matches follow
 * the Gateway API's precedence (an exact path, then the longest prefix, then the most headers;
 * a regular expression, whose rank the API leaves to the implementation, after exact paths as
 * Istio orders it), a rule without matches matching every path; a backend without a weight has
 * weight 1. A RequestMirror filter becomes the rule's mirror, as a VirtualService's `mirror` does.
 */
function httpRouteClaim(route: HTTPRoute): Claim {
  const ns = route.metadata.namespace ?? 'default';
  const parents = route.spec.parentRefs ?? [];
  const isService = (p: { group?: string | undefined; kind?: string | undefined }) => (p.group ?? 'gateway.networking.k8s.io') === '' && p.kind === 'Service';
  const hosts = [
    ...parents.filter(isService).map((p) => ({ host: p.name, q: serviceFqdn(p.name, p.namespace ?? ns) })),
    ...(parents.some((p) => !isService(p)) ? (route.spec.hostnames ?? []).map((h) => ({ host: h, q: h.toLowerCase() })) : []),
  ];
  const ranked: { rule: Rule; kind: number; prefix: number; headers: number }[] = [];
  for (const r of route.spec.rules ?? []) {
    const destinations = (r.backendRefs ?? []).map((b) => ({ host: serviceFqdn(b.name, b.namespace ?? ns), weight: b.weight ?? 1, port: b.port }));
    // RequestMirror filters: all requests unless percent or fraction says less (HTTPRequestMirrorFilter)
    const mirrors = (r.filters ?? []).flatMap(({ type, requestMirror: m }) => {
      if (type !== 'RequestMirror' || m === undefined) return [];
      const share = m.percent ?? (m.fraction === undefined ? 100 : (100 * m.fraction.numerator) / (m.fraction.denominator ?? 100));
      return [{ host: serviceFqdn(m.backendRef.name, m.backendRef.namespace ?? ns), port: m.backendRef.port, percent: Math.min(100, Math.max(0, share)) }];
    });
    for (const m of r.matches?.length ? r.matches : [{}]) {
      const type = m.path?.type ?? 'PathPrefix';
      const value = m.path?.value ?? '/';
      const trimmed = value.replace(/\/+$/, '');
      const uri: StringMatch = type === 'Exact' ? { exact: value } : type === 'RegularExpression' ? { regex: value } : trimmed === '' ? { prefix: '/' } : { regex: `${escapeRegex(trimmed)}(/.*)?` };
      const headers = Object.fromEntries((m.headers ?? []).map((h) => [h.name.toLowerCase(), h.type === 'RegularExpression' ? { regex: h.value } : { exact: h.value }]));
      const kind = type === 'Exact' ? 0 : type === 'RegularExpression' ? 1 : 2;
      ranked.push({ rule: { matches: [{ uri, headers }], destinations, mirrors }, kind, prefix: type === 'PathPrefix' ? trimmed.length : 0, headers: m.headers?.length ?? 0 });
    }
  }
  ranked.sort((a, b) => a.kind - b.kind || b.prefix - a.prefix || b.headers - a.headers);
  return {
    created: route.metadata.creationTimestamp ?? '',
    ns,
    name: route.metadata.name,
    route: { owner: `HTTPRoute ${ns}/${route.metadata.name}`, rules: ranked.map((r) => r.rule) },
    hosts,
  };
}

/**
 * The route for a request's Host header. Accepted forms: any host of a VirtualService; NAME (the
 * `default` namespace first, else the alphabetically first namespace that has it); NAME.NAMESPACE;
 * NAME.NAMESPACE.svc; NAME.NAMESPACE.svc.cluster.local; wildcard VirtualService hosts.
 */
export function resolveHost(table: RoutingTable, rawHost: string): HostRoute | undefined {
  const host = stripPort(rawHost).toLowerCase().replace(/\.$/, '');
  const exact = table.routes.get(host);
  if (exact !== undefined) return exact;
  const labels = host.split('.');
  if (labels.length === 1) {
    const ns = table.shortNames.get(host)?.[0];
    return ns === undefined ? undefined : table.routes.get(serviceFqdn(host, ns));
  }
  if (labels.length === 2 || (labels.length === 3 && labels[2] === 'svc')) {
    const r = table.routes.get(serviceFqdn(labels[0] ?? '', labels[1] ?? ''));
    if (r !== undefined) return r;
  }
  let best: { suffix: string; route: HostRoute } | undefined;
  for (const w of table.wildcards) if (host.endsWith(w.suffix) && (best === undefined || w.suffix.length > best.suffix.length)) best = w;
  return best?.route;
}

function stripPort(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return colon >= 0 ? host.slice(0, colon) : host;
}

function matchString(m: StringMatch, value: string | undefined): boolean {
  if (value === undefined) return false;
  if (m.exact !== undefined) return value === m.exact;
  if (m.prefix !== undefined) return value.startsWith(m.prefix);
  if (m.regex !== undefined) return new RegExp(`^(?:${m.regex})$`).test(value);
  return true;
}

/** The first rule whose match (any of its entries; none means all) fits the request, as Envoy's route order. */
export function selectRule(route: HostRoute, path: string, headers: Record<string, string | string[] | undefined>): Rule | undefined {
  const uri = path.split('?')[0] ?? path;
  return route.rules.find(
    (rule) =>
      rule.matches.length === 0 ||
      rule.matches.some(
        (m) =>
          (m.uri === undefined || matchString(m.uri, uri)) &&
          Object.entries(m.headers ?? {}).every(([name, sm]) => {
            const v = headers[name.toLowerCase()];
            return matchString(sm, Array.isArray(v) ? v[0] : v);
          }),
      ),
  );
}

/** Weighted choice: `r` uniform in [0, 1). Destinations of weight 0 are never chosen. */
export function chooseDestination(rule: Pick<Rule, 'destinations'>, r: number): Destination | undefined {
  const total = rule.destinations.reduce((s, d) => s + Math.max(0, d.weight), 0);
  if (total <= 0) return undefined;
  let point = r * total;
  for (const d of rule.destinations) {
    if (d.weight <= 0) continue;
    if (point < d.weight) return d;
    point -= d.weight;
  }
  return rule.destinations.findLast((d) => d.weight > 0);
}

/** Ready backends of a destination (the given port, else the Service's first port), and the Service's identity. */
export function backendsOf(table: RoutingTable, dest: Destination): { service: ServiceEntry | undefined; backends: Backend[] } {
  const service = table.services.get(dest.host);
  if (service === undefined) return { service, backends: [] };
  const port = dest.port ?? service.ports[0]?.port;
  return { service, backends: port === undefined ? [] : (service.backends.get(port) ?? []) };
}

/** Every backend address (ip:port) the table can route to. */
export function endpointsOf(table: RoutingTable): Set<string> {
  const out = new Set<string>();
  for (const service of table.services.values()) for (const backends of service.backends.values()) for (const b of backends) out.add(`${b.ip}:${b.port}`);
  return out;
}
