import type { ImageService } from './api/image-service.ts';

/**
 * What the installer lets a tenant do through the operator beyond what Kubernetes lets it do
 * itself (the chart's `tenancy` and `prometheus` values, the operator's environment). Whoever may
 * create an ImageService in a namespace may run an image there with its Secrets, as a Deployment
 * would; the operator adds its own network position (Prometheus queries), node directories
 * (hostPath) and mesh routes, so those are the installer's choice, closed by default. Pure.
 */
export interface TenantPolicy {
  /** Prometheus base URLs an ImageService may name in spec.canary.analysis.prometheus.address. */
  prometheusUrls: readonly string[];
  /** Hook URLs an ImageService may name in spec.canary.webhooks[].url. */
  webhookUrls: readonly string[];
  /** Whether source.file.hostPath (a node directory) is allowed; Pod Security "baseline" forbids it. */
  allowHostPath: boolean;
  /** Whether traffic.hosts may name Services of other namespaces (`name.namespace[.svc...]`). */
  allowCrossNamespaceHosts: boolean;
  /** Gateways of other namespaces an ImageService may bind (traffic.gateways) or attach to (traffic.parentRefs): `namespace/name`, `namespace/*`, or `*`. */
  allowedGateways: readonly string[];
  /** Image name prefixes (`registry.example.com`, `registry.example.com/team`); empty: any image. */
  imageRegistries: readonly string[];
}

/** Nothing beyond what a Deployment could do: the chart's defaults. */
export const CLOSED_POLICY: TenantPolicy = {
  prometheusUrls: [],
  webhookUrls: [],
  allowHostPath: false,
  allowCrossNamespaceHosts: false,
  allowedGateways: [],
  imageRegistries: [],
};

export type PolicyReason = 'ImageNotAllowed' | 'HostPathNotAllowed' | 'PrometheusNotAllowed' | 'WebhookNotAllowed' | 'HostNotAllowed' | 'GatewayNotAllowed';

export interface PolicyViolation {
  reason: PolicyReason;
  /** Starts with the field's path, e.g. `spec.traffic.hosts[1]: ...`. */
  message: string;
}

/** A Prometheus base URL or a hook URL as compared: parsed, without trailing slashes. */
export function normalizeUrl(url: string): string {
  return new URL(url).href.replace(/\/+$/, '');
}

/**
 * The repository of an image reference as a registry names it: `nginx:1` is
 * `docker.io/library/nginx`, `team/app@sha256:...` is `docker.io/team/app`.
 */
export function imageRepository(image: string): string {
  const name = image.split('@')[0] as string;
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  const repo = colon > slash ? name.slice(0, colon) : name;
  const first = repo.split('/')[0] as string;
  const hasRegistry = repo.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasRegistry) return repo;
  return `docker.io/${repo.includes('/') ? repo : `library/${repo}`}`;
}

export function imageAllowed(image: string, registries: readonly string[]): boolean {
  if (registries.length === 0) return true;
  const repo = imageRepository(image);
  return registries.some((r) => {
    const prefix = r.replace(/\/+$/, '');
    return repo === prefix || repo.startsWith(`${prefix}/`);
  });
}

/**
 * The namespace whose Service a VirtualService host names inside the mesh, or undefined for a
 * name outside the cluster. A name without a dot is a Service of the VirtualService's own
 * namespace (Istio appends it); `name.namespace` and `name.namespace.svc[.domain]` are what
 * cluster DNS resolves to Services of that namespace.
 */
export function hostNamespace(host: string, own: string): string | undefined {
  const labels = host.split('.');
  if (labels.length === 1) return own;
  if (labels.length === 2 || labels[2] === 'svc') return labels[1];
  return undefined;
}

function gatewayAllowed(gateway: string, own: string, allowed: readonly string[]): boolean {
  const slash = gateway.indexOf('/');
  if (slash === -1) return true;
  const ns = gateway.slice(0, slash);
  return ns === own || allowed.some((a) => a === '*' || a === gateway || a === `${ns}/*`);
}

/** Every way the ImageService asks for more than the policy grants; empty when it does not. */
export function policyViolations(isvc: ImageService, policy: TenantPolicy): PolicyViolation[] {
  const { spec } = isvc;
  const own = isvc.metadata.namespace ?? 'default';
  const out: PolicyViolation[] = [];
  if (!imageAllowed(spec.image, policy.imageRegistries)) {
    out.push({
      reason: 'ImageNotAllowed',
      message: `spec.image: ${imageRepository(spec.image)} is outside the registries this operator may run (${policy.imageRegistries.join(', ')}; the chart's tenancy.allowedImageRegistries)`,
    });
  }
  if (spec.source.file?.hostPath !== undefined && !policy.allowHostPath) {
    out.push({
      reason: 'HostPathNotAllowed',
      message: "spec.source.file.hostPath: node directories are not allowed by this operator (the chart's tenancy.allowHostPath); use claimName, s3 or http",
    });
  }
  const address = spec.canary.analysis.prometheus?.address;
  if (address !== undefined && !policy.prometheusUrls.includes(normalizeUrl(address))) {
    const allowed = policy.prometheusUrls.length === 0 ? 'none is allowed' : `allowed: ${policy.prometheusUrls.join(', ')}`;
    out.push({
      reason: 'PrometheusNotAllowed',
      message: `spec.canary.analysis.prometheus.address: ${normalizeUrl(address)} is not a Prometheus this operator may query (${allowed}; the chart's prometheus.url and prometheus.allowedUrls); leave it unset to use the operator's`,
    });
  }
  // A hook is fetched from the operator's network position, as Prometheus is: the installer's list only.
  spec.canary.webhooks.forEach((hook, i) => {
    if (!policy.webhookUrls.includes(normalizeUrl(hook.url))) {
      const allowed = policy.webhookUrls.length === 0 ? 'none is allowed' : `allowed: ${policy.webhookUrls.join(', ')}`;
      out.push({
        reason: 'WebhookNotAllowed',
        message: `spec.canary.webhooks[${i}].url: ${normalizeUrl(hook.url)} is not a hook this operator may call (${allowed}; the chart's webhooks.allowedUrls)`,
      });
    }
  });
  if (!policy.allowCrossNamespaceHosts) {
    spec.traffic.hosts.forEach((host, i) => {
      const ns = hostNamespace(host, own);
      if (ns !== undefined && ns !== own) {
        out.push({
          reason: 'HostNotAllowed',
          message: `spec.traffic.hosts[${i}]: ${host} names a Service of namespace ${ns} inside the mesh; only this namespace's are allowed (the chart's tenancy.allowCrossNamespaceHosts); an external name needs three labels or more`,
        });
      }
    });
  }
  spec.traffic.gateways.forEach((gateway, i) => {
    if (!gatewayAllowed(gateway, own, policy.allowedGateways)) {
      out.push({
        reason: 'GatewayNotAllowed',
        message: `spec.traffic.gateways[${i}]: ${gateway} is a Gateway of another namespace that this operator does not let ImageServices bind (the chart's tenancy.allowedGateways)`,
      });
    }
  });
  // The same rule for the Gateway API: the Gateway's allowedRoutes is its owner's say, this the installer's.
  spec.traffic.parentRefs.forEach((ref, i) => {
    const gateway = ref.namespace === undefined ? ref.name : `${ref.namespace}/${ref.name}`;
    if (!gatewayAllowed(gateway, own, policy.allowedGateways)) {
      out.push({
        reason: 'GatewayNotAllowed',
        message: `spec.traffic.parentRefs[${i}]: ${gateway} is a Gateway of another namespace that this operator does not let ImageServices attach to (the chart's tenancy.allowedGateways)`,
      });
    }
  });
  return out;
}
