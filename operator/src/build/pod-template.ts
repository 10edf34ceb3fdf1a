// The pod template a track runs: everything the spec says about the pods. Both
// tracks run the same template for the same spec; its hash is the revision.
import { pathToFileURL } from 'node:url';
import type { V1Container, V1EnvVar, V1PodTemplateSpec, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { z } from 'zod';
import { parseDuration } from '../api/durations.ts';
import { type ImageService, type ImageServiceSpec, MAX_KEPT_TEMPLATE_LENGTH } from '../api/image-service.ts';
import { CONTAINER_NAME, commonLabels, MANAGEMENT_PORT_NAME, managementPort, PORT_NAME } from './labels.ts';
import { canonicalJson } from './revision.ts';
import { deriveThreads, threadEnv } from './threads.ts';

/** The image runs as this numeric user and group (the image's own non-root user). */
export const RUN_AS_USER = 10001;
export const RUN_AS_GROUP = 10001;
/** Seconds SIGKILL waits beyond the service's own drain, for process exit and endpoint propagation. */
export const GRACE_MARGIN_SECONDS = 10;
export const ADMIN_TOKEN_DIR = '/var/run/secrets/imageops/admin';
export const ADMIN_TOKEN_KEY = 'token';
export const SIGNING_KEYS_KEY = 'keys';
export const S3_ACCESS_KEY_ID = 'AWS_ACCESS_KEY_ID';
export const S3_SECRET_ACCESS_KEY = 'AWS_SECRET_ACCESS_KEY';
export const METRICS_PATH = '/metrics';

/** The version the service reports: the image's tag, or the digest, or "latest". */
export function imageVersion(image: string): string {
  const at = image.indexOf('@');
  if (at >= 0) return image.slice(at + 1).slice(0, 128);
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const colon = lastSegment.lastIndexOf(':');
  return colon >= 0 ? lastSegment.slice(colon + 1) : 'latest';
}

/** Longest in-flight request: the route timeout; the service drains that long at most. */
export function drainSeconds(spec: ImageServiceSpec): number {
  return Math.max(1, Math.ceil(parseDuration(spec.traffic.timeout) / 1000));
}

const plain = (name: string, value: string): V1EnvVar => ({ name, value });
const fromSecret = (name: string, secret: string, key: string): V1EnvVar => ({
  name,
  valueFrom: { secretKeyRef: { name: secret, key } },
});

interface SourceWiring {
  env: V1EnvVar[];
  volumes: V1Volume[];
  mounts: V1VolumeMount[];
}

function sourceWiring(source: ImageServiceSpec['source']): SourceWiring {
  if (source.file) {
    const f = source.file;
    const volume: V1Volume | undefined = f.claimName
      ? { name: 'originals', persistentVolumeClaim: { claimName: f.claimName, readOnly: true } }
      : f.hostPath
        ? { name: 'originals', hostPath: { path: f.hostPath, type: 'Directory' } }
        : undefined;
    return {
      env: [plain('IMAGE_SOURCE', pathToFileURL(f.path).href)],
      volumes: volume ? [volume] : [],
      mounts: volume ? [{ name: 'originals', mountPath: f.path, readOnly: true }] : [],
    };
  }
  if (source.s3) {
    const s = source.s3;
    return {
      env: [
        plain('IMAGE_SOURCE', `s3://${s.bucket}/${s.prefix.replace(/^\/+/, '')}`),
        plain('S3_REGION', s.region),
        ...(s.endpoint ? [plain('S3_ENDPOINT', s.endpoint)] : []),
        ...(s.forcePathStyle === undefined ? [] : [plain('S3_FORCE_PATH_STYLE', String(s.forcePathStyle))]),
        ...(s.credentialsSecret ? [fromSecret(S3_ACCESS_KEY_ID, s.credentialsSecret, S3_ACCESS_KEY_ID), fromSecret(S3_SECRET_ACCESS_KEY, s.credentialsSecret, S3_SECRET_ACCESS_KEY)] : []),
      ],
      volumes: [],
      mounts: [],
    };
  }
  if (source.http) {
    const h = source.http;
    const hosts = h.allowedHosts ?? [new URL(h.baseUrl).hostname];
    return {
      env: [plain('IMAGE_SOURCE', h.baseUrl), plain('HTTP_SOURCE_ALLOWED_HOSTS', hosts.join(',')), plain('HTTP_SOURCE_ALLOW_PRIVATE', String(h.allowPrivate))],
      volumes: [],
      mounts: [],
    };
  }
  throw new Error('spec.source sets none of file, s3, http: validate the spec before building');
}

function servingEnv(spec: ImageServiceSpec): { env: V1EnvVar[]; volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const s = spec.serving;
  const env: V1EnvVar[] = [
    plain('IMAGE_SERVICE_PORT', String(spec.traffic.port)),
    plain('IMAGE_SERVICE_MANAGEMENT_PORT', String(managementPort(spec.traffic.port))),
    plain('IMAGE_SERVICE_VERSION', imageVersion(spec.image)),
    plain('IMAGE_SERVICE_DRAIN_SECONDS', String(drainSeconds(spec))),
    plain('IMAGE_SERVICE_MAX_INPUT_PIXELS', String(s.maxInputPixels)),
    plain('IMAGE_SERVICE_MAX_SOURCE_BYTES', String(s.maxSourceBytes)),
    // an empty list is meaningful to the service: negotiate nothing
    plain('IMAGE_SERVICE_AUTO_FORMATS', s.autoFormats.join(',')),
    plain('IMAGE_SERVICE_CACHE_MAX_AGE_SECONDS', String(s.cacheMaxAgeSeconds)),
    ...(s.cacheBytes === undefined ? [] : [plain('IMAGE_SERVICE_CACHE_BYTES', String(s.cacheBytes))]),
    // sorted keys: the same presets always give the same value, and so the same revision
    ...(Object.keys(s.presets).length ? [plain('IMAGE_SERVICE_PRESETS', canonicalJson(s.presets))] : []),
    ...(s.signingKeysSecret ? [fromSecret('IMAGE_SERVICE_SIGNING_KEYS', s.signingKeysSecret, SIGNING_KEYS_KEY)] : []),
  ];
  if (!s.adminTokenSecret) return { env, volumes: [], mounts: [] };
  // a file rather than a variable: it does not leak through /proc/<pid>/environ or crash dumps
  return {
    env: [...env, plain('IMAGE_SERVICE_ADMIN_TOKEN_FILE', `${ADMIN_TOKEN_DIR}/${ADMIN_TOKEN_KEY}`)],
    volumes: [
      {
        name: 'admin-token',
        secret: { secretName: s.adminTokenSecret, items: [{ key: ADMIN_TOKEN_KEY, path: ADMIN_TOKEN_KEY }], defaultMode: 0o440 },
      },
    ],
    mounts: [{ name: 'admin-token', mountPath: ADMIN_TOKEN_DIR, readOnly: true }],
  };
}

function resources(spec: ImageServiceSpec): V1Container['resources'] {
  const list = (r: { cpu?: string | number | undefined; memory?: string | number | undefined } | undefined) => {
    const out: Record<string, string> = {};
    if (r?.cpu !== undefined) out.cpu = String(r.cpu);
    if (r?.memory !== undefined) out.memory = String(r.memory);
    return Object.keys(out).length ? out : undefined;
  };
  const requests = list(spec.resources.requests);
  const limits = list(spec.resources.limits);
  return { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) };
}

function userEnv(spec: ImageServiceSpec): V1EnvVar[] {
  return spec.env.map((e) => {
    const r = e.valueFrom?.resourceFieldRef;
    if (!r || r.divisor === undefined) return e as V1EnvVar;
    return { ...e, valueFrom: { resourceFieldRef: { ...r, divisor: String(r.divisor) } } };
  });
}

/** The pod template of an ImageService, without the track (see deployment.ts). */
export function buildPodTemplate(isvc: ImageService): V1PodTemplateSpec {
  const spec = isvc.spec;
  const source = sourceWiring(spec.source);
  const serving = servingEnv(spec);
  const port = spec.traffic.port;
  const container: V1Container = {
    name: CONTAINER_NAME,
    image: spec.image,
    ports: [
      { name: PORT_NAME, containerPort: port, protocol: 'TCP' },
      { name: MANAGEMENT_PORT_NAME, containerPort: managementPort(port), protocol: 'TCP' },
    ],
    env: [...source.env, ...serving.env, ...threadEnv(deriveThreads(spec)), ...userEnv(spec)],
    resources: resources(spec),
    readinessProbe: {
      httpGet: { path: '/readyz', port: PORT_NAME },
      periodSeconds: 2,
      timeoutSeconds: 2,
      failureThreshold: 2,
    },
    livenessProbe: {
      httpGet: { path: '/healthz', port: PORT_NAME },
      periodSeconds: 10,
      timeoutSeconds: 2,
      failureThreshold: 3,
    },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: RUN_AS_USER,
      runAsGroup: RUN_AS_GROUP,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...source.mounts, ...serving.mounts],
  };
  return {
    metadata: {
      labels: commonLabels(isvc),
      annotations: {
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(port),
        'prometheus.io/path': METRICS_PATH,
      },
    },
    spec: {
      terminationGracePeriodSeconds: drainSeconds(spec) + GRACE_MARGIN_SECONDS,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: RUN_AS_USER,
        runAsGroup: RUN_AS_GROUP,
        fsGroup: RUN_AS_GROUP,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [container],
      // libvips and Node need a writable /tmp on a read-only root filesystem
      volumes: [{ name: 'tmp', emptyDir: {} }, ...source.volumes, ...serving.volumes],
    },
  };
}

/**
 * Why status cannot keep this template (status.primary.template), or undefined when it can. The
 * CRD's bounds keep a template of plain text within it; characters JSON escapes (quotes,
 * control characters) can still take it over, and a status write refused for size would be
 * retried forever, so the operator refuses such a spec instead.
 */
export function templateSizeIssue(template: V1PodTemplateSpec): string | undefined {
  const length = JSON.stringify(template).length;
  if (length <= MAX_KEPT_TEMPLATE_LENGTH) return undefined;
  return `spec: the pod template it makes is ${length} characters as JSON, more than the ${MAX_KEPT_TEMPLATE_LENGTH} status keeps to recreate primary; move long env values into a ConfigMap or Secret (valueFrom)`;
}

/** Enough of a pod template to build a Deployment from; the API server validates the rest. */
const KeptPodTemplateSchema = z.looseObject({
  metadata: z.looseObject({}).optional(),
  spec: z.looseObject({ containers: z.array(z.looseObject({ name: z.string(), image: z.string() })).min(1) }),
});

/** status.primary.template, or undefined when it is absent or not JSON of a pod template (then the spec is all there is). */
export function parseKeptTemplate(text: string | undefined): V1PodTemplateSpec | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return KeptPodTemplateSchema.safeParse(value).success ? (value as V1PodTemplateSpec) : undefined;
}
