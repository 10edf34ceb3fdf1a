// The ImageService resource: the single source of truth for its validation, its
// TypeScript types, its defaults and (through crd.ts) its CRD.
import { z } from 'zod';
import { type CrossFieldRule, crossField, maxEntries, withCrd } from './crd-meta.ts';
import { duration } from './durations.ts';
import { compareQuantities, quantity } from './quantities.ts';

export const GROUP = 'imageops.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'ImageService';
export const PLURAL = 'imageservices';

/** A longer env value belongs in a ConfigMap or Secret: with 64 of them the pod template still fits in status. */
export const MAX_ENV_VALUE_LENGTH = 2048;
/** Longest pod template status keeps (status.primary.template), in characters. */
export const MAX_KEPT_TEMPLATE_LENGTH = 262_144;

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

const secretName = (what: string) => z.string().max(253).regex(new RegExp(DNS_SUBDOMAIN), `${what} must be a Secret name (lowercase letters, digits, '-' and '.')`);

// ---------------------------------------------------------------- resources

const ResourceList = z
  .strictObject({
    cpu: quantity().describe('CPU as a Kubernetes quantity: cores (1, 1.5) or millicores (500m).').optional(),
    memory: quantity().describe('Memory as a Kubernetes quantity: bytes, or with a suffix (256Mi, 1Gi, 1G, 12E6).').optional(),
  })
  .describe('CPU and memory.');

const ResourcesObject = z.strictObject({
  requests: ResourceList.describe('What the scheduler reserves for each pod.').optional(),
  limits: ResourceList.describe("The most each pod may use. limits.cpu sizes the service's workers and threads; limits.memory sizes Node's heap.").optional(),
});

/** requests.<resource> <= limits.<resource>, compared exactly as pod validation does; an unparsable value has its own issue. */
const requestWithinLimit = (resource: 'cpu' | 'memory'): CrossFieldRule<z.output<typeof ResourcesObject>> => {
  const [req, lim] = [`self.requests.${resource}`, `self.limits.${resource}`];
  return {
    cel: `!has(self.requests) || !has(self.limits) || !has(${req}) || !has(${lim}) || !isQuantity(string(${req})) || !isQuantity(string(${lim})) || quantity(string(${req})).compareTo(quantity(string(${lim}))) <= 0`,
    holds: (r) => r.requests?.[resource] === undefined || r.limits?.[resource] === undefined || compareQuantities(r.requests[resource], r.limits[resource]) <= 0,
    message: `requests.${resource} must not exceed limits.${resource}`,
    path: ['requests', resource],
  };
};

// CEL's quantity library needs Kubernetes 1.29+; the operator keeps the same check for objects
// stored before the rule existed, and reports it as InvalidSpec.
export const ResourcesSchema = crossField(ResourcesObject, [requestWithinLimit('cpu'), requestWithinLimit('memory')]);

// ---------------------------------------------------------------- runtime

const threadCount = (what: string) => z.number().int().min(1).max(1024).describe(what).nullish();

export const RuntimeSchema = z.strictObject({
  workers: threadCount('Images resized at once (IMAGE_SERVICE_WORKERS). Unset: floor of limits.cpu, else requests.cpu, else 1.'),
  threadpoolSize: threadCount('libuv threads (UV_THREADPOOL_SIZE). Unset: workers + 1.'),
});

// ---------------------------------------------------------------- env

const KeyRef = (kind: string) =>
  z.strictObject({
    name: z.string().min(1).max(253).describe(`Name of the ${kind}.`),
    key: z.string().min(1).max(253).describe(`Key in the ${kind}.`),
    optional: z.boolean().describe(`Whether the ${kind} or its key may be missing.`).optional(),
  });

export const EnvVarSchema = crossField(
  z.strictObject({
    name: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/, "env name must be letters, digits, '_', '-' or '.', not starting with a digit")
      .describe('Name of the environment variable.'),
    value: z.string().max(MAX_ENV_VALUE_LENGTH).describe('Value of the variable; a longer one belongs in a ConfigMap or Secret (valueFrom). Exclusive with valueFrom.').optional(),
    valueFrom: z
      .strictObject({
        secretKeyRef: KeyRef('Secret').describe("A key of a Secret in the ImageService's namespace.").optional(),
        configMapKeyRef: KeyRef('ConfigMap').describe("A key of a ConfigMap in the ImageService's namespace.").optional(),
        fieldRef: z
          .strictObject({
            fieldPath: z.string().min(1).max(256).describe('Path of the pod field, e.g. metadata.name or status.podIP.'),
            apiVersion: z.string().max(64).describe('Schema version of fieldPath, v1 by default.').optional(),
          })
          .describe('A field of the pod.')
          .optional(),
        resourceFieldRef: z
          .strictObject({
            resource: z.string().min(1).max(64).describe('limits.cpu, limits.memory, requests.cpu or requests.memory.'),
            containerName: z.string().max(63).describe('Container whose resource is read; this one by default.').optional(),
            divisor: quantity().describe('Unit of the exposed value, 1 by default.').optional(),
          })
          .describe('A resource of a container.')
          .optional(),
      })
      .describe("Source of the variable's value. Exclusive with value.")
      .optional(),
  }),
  [
    {
      cel: '!(has(self.value) && has(self.valueFrom))',
      holds: (e) => !(e.value !== undefined && e.valueFrom !== undefined),
      message: 'set value or valueFrom, not both',
      path: ['valueFrom'],
    },
    {
      cel: '!has(self.valueFrom) || (has(self.valueFrom.secretKeyRef) ? 1 : 0) + (has(self.valueFrom.configMapKeyRef) ? 1 : 0) + (has(self.valueFrom.fieldRef) ? 1 : 0) + (has(self.valueFrom.resourceFieldRef) ? 1 : 0) == 1',
      holds: (e) =>
        e.valueFrom === undefined || [e.valueFrom.secretKeyRef, e.valueFrom.configMapKeyRef, e.valueFrom.fieldRef, e.valueFrom.resourceFieldRef].filter((x) => x !== undefined).length === 1,
      message: 'valueFrom must set exactly one of secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef',
      path: ['valueFrom'],
    },
  ],
).describe('An environment variable (Kubernetes EnvVar).');

/** Variables the operator derives from the spec; setting them in env would silently fight the operator. */
export const OPERATOR_ENV = [
  'IMAGE_SOURCE',
  'IMAGE_SERVICE_PORT',
  'IMAGE_SERVICE_MANAGEMENT_PORT',
  'IMAGE_SERVICE_VERSION',
  'IMAGE_SERVICE_WORKERS',
  'IMAGE_SERVICE_MAX_INPUT_PIXELS',
  'IMAGE_SERVICE_MAX_SOURCE_BYTES',
  'IMAGE_SERVICE_AUTO_FORMATS',
  'IMAGE_SERVICE_CACHE_MAX_AGE_SECONDS',
  'IMAGE_SERVICE_CACHE_BYTES',
  'IMAGE_SERVICE_PRESETS',
  'IMAGE_SERVICE_SIGNING_KEYS',
  'IMAGE_SERVICE_ADMIN_TOKEN_FILE',
  'IMAGE_SERVICE_DRAIN_SECONDS',
  'S3_ENDPOINT',
  'S3_REGION',
  'S3_FORCE_PATH_STYLE',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'HTTP_SOURCE_ALLOWED_HOSTS',
  'HTTP_SOURCE_ALLOW_PRIVATE',
  'UV_THREADPOOL_SIZE',
  'VIPS_CONCURRENCY',
  'MALLOC_ARENA_MAX',
  'NODE_OPTIONS',
] as const;

const EnvListSchema = crossField(
  withCrd(
    z
      .array(EnvVarSchema)
      .max(64)
      .describe(
        'Extra environment variables of the image-service container (Kubernetes EnvVar). Variables the operator derives from the spec (IMAGE_SOURCE, IMAGE_SERVICE_WORKERS, UV_THREADPOOL_SIZE, ...) are refused: set the spec field instead.',
      ),
    { listType: 'map', listMapKeys: ['name'] },
  ),
  [
    {
      cel: `self.all(e, !(e.name in [${OPERATOR_ENV.map((n) => `'${n}'`).join(', ')}]))`,
      holds: (list) => list.every((e) => !(OPERATOR_ENV as readonly string[]).includes(e.name)),
      message: 'env must not set a variable the operator derives from the spec (use the spec field instead)',
    },
    {
      // the API server enforces this through the list-map key
      holds: (list) => new Set(list.map((e) => e.name)).size === list.length,
      message: 'env names must be unique',
    },
  ],
).prefault([]);

// ---------------------------------------------------------------- source

const FileSourceSchema = crossField(
  z.strictObject({
    path: z
      .string()
      .regex(/^\//, 'file.path must be an absolute path')
      .max(1024)
      .describe('Absolute directory of the originals inside the container; the service reads file://<path>.')
      .default('/srv/images'),
    claimName: z
      .string()
      .max(253)
      .regex(new RegExp(DNS_SUBDOMAIN), 'file.claimName must be a PersistentVolumeClaim name')
      .describe('PersistentVolumeClaim mounted read-only at path (ReadOnlyMany or ReadWriteMany for several replicas).')
      .optional(),
    hostPath: z
      .string()
      .regex(/^\//, 'file.hostPath must be an absolute path')
      .max(1024)
      .describe('Directory of the node mounted read-only at path (single-node and development clusters).')
      .optional(),
  }),
  [
    {
      cel: '!(has(self.claimName) && has(self.hostPath))',
      holds: (f) => !(f.claimName !== undefined && f.hostPath !== undefined),
      message: 'file: set claimName or hostPath, not both',
      path: ['hostPath'],
    },
  ],
).describe('Originals on a filesystem: a PersistentVolumeClaim (claimName) or a node directory (hostPath) mounted read-only at path; with neither, path must exist in the image.');

const S3SourceSchema = z
  .strictObject({
    bucket: z
      .string()
      .min(3)
      .max(63)
      .regex(/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/, "s3.bucket must be a bucket name (lowercase letters, digits, '.', '-')")
      .describe('Bucket holding the originals.'),
    prefix: z.string().max(1024).describe('Key prefix prepended to every requested key, e.g. products/.').default(''),
    region: z.string().min(1).max(64).describe('Region of the bucket (S3_REGION).').default('us-east-1'),
    endpoint: z
      .string()
      .max(2048)
      .regex(/^https?:\/\/[^\s/]+(\/.*)?$/, 's3.endpoint must be an http(s) URL')
      .describe('Endpoint of an S3-compatible store (S3_ENDPOINT). Unset: AWS.')
      .nullish(),
    credentialsSecret: secretName('s3.credentialsSecret')
      .describe("Secret with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, passed to the container. Unset: the pod's ambient credentials (e.g. a workload identity).")
      .optional(),
    forcePathStyle: z.boolean().describe('Address the bucket in the path rather than the host name (S3_FORCE_PATH_STYLE). Unset: true with an endpoint, false on AWS.').optional(),
  })
  .describe('Originals in an S3 bucket; the service reads s3://<bucket>/<prefix>.');

const HOST_RE = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const HttpSourceSchema = z
  .strictObject({
    baseUrl: z
      .string()
      .regex(/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/, 'http.baseUrl must be an http(s) URL without query or fragment')
      .max(2048)
      .refine((u) => URL.canParse(u), 'http.baseUrl is not a valid URL')
      .describe('Origin the keys are appended to, e.g. https://origin.example.com/images.'),
    allowedHosts: z
      .array(z.string().max(253).regex(HOST_RE, 'http.allowedHosts entries must be host names').describe('A host name.'))
      .max(64)
      .describe('Hosts the service may fetch from, redirects included (HTTP_SOURCE_ALLOWED_HOSTS). Unset: the host of baseUrl.')
      .optional(),
    allowPrivate: z.boolean().describe('Allow loopback, private and link-local addresses after DNS resolution (HTTP_SOURCE_ALLOW_PRIVATE). Off: SSRF guard.').default(false),
  })
  .describe('Originals fetched from an HTTP origin.');

export const SourceSchema = crossField(
  z.strictObject({
    file: FileSourceSchema.optional(),
    s3: S3SourceSchema.optional(),
    http: HttpSourceSchema.optional(),
  }),
  [
    {
      cel: '(has(self.file) ? 1 : 0) + (has(self.s3) ? 1 : 0) + (has(self.http) ? 1 : 0) == 1',
      holds: (s) => [s.file, s.s3, s.http].filter((x) => x !== undefined).length === 1,
      message: 'source must set exactly one of file, s3, http',
    },
  ],
).describe('Where the originals come from: exactly one of file, s3, http.');

// ---------------------------------------------------------------- serving

export const FITS = ['cover', 'contain', 'fill', 'inside', 'outside'] as const;
export const OUTPUT_FORMATS = ['auto', 'jpeg', 'png', 'webp', 'avif'] as const;
export const AUTO_FORMATS = ['avif', 'webp'] as const;

const dimension = (what: string) => z.number().int().min(1).max(16384).describe(what).optional();

export const PresetSchema = z
  .strictObject({
    w: dimension('Width in pixels.'),
    h: dimension('Height in pixels.'),
    fit: z.enum(FITS).describe('How the image fits w x h.').optional(),
    q: z.number().int().min(1).max(100).describe('Quality, 1 to 100.').optional(),
    fm: z.enum(OUTPUT_FORMATS).describe('Output format; auto negotiates from Accept.').optional(),
  })
  .describe('Named transform parameters, used as ?preset=<name>.');

export const ServingSchema = z.strictObject({
  maxInputPixels: z.number().int().min(1).describe('Largest source image, in pixels, checked from the header before decoding (422 above).').default(50_000_000),
  maxSourceBytes: z.number().int().min(1).describe('Largest source file in bytes (413 above).').default(52_428_800),
  autoFormats: withCrd(
    z.array(z.enum(AUTO_FORMATS).describe('A modern format offered when the client accepts it.')).max(2).describe('Formats fm=auto may choose, by the Accept header; empty: JPEG or PNG only.'),
    { listType: 'set' },
  )
    .refine((a) => new Set(a).size === a.length, 'autoFormats must not repeat a format')
    .default(['webp']),
  cacheMaxAgeSeconds: z.number().int().min(0).describe('max-age of the Cache-Control header of resized images.').default(86_400),
  cacheBytes: z.number().int().min(0).describe("Bytes of the in-memory result cache; 0 turns it off. Unset: the service's default.").optional(),
  presets: maxEntries(
    z.record(z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "preset names must be 1-64 letters, digits, '_' or '-'"), PresetSchema).describe('Named presets, e.g. {thumb: {w: 200, h: 200, fit: cover}}.'),
    64,
    'serving.presets',
  ).default({}),
  signingKeysSecret: secretName('serving.signingKeysSecret')
    .describe('Secret whose key `keys` holds comma-separated HMAC keys (the first signs); set: only signed URLs are served, and the output check signs its samples with the first key.')
    .nullish(),
  adminTokenSecret: secretName('serving.adminTokenSecret').describe('Secret whose key `token` is the bearer token of PUT and DELETE, mounted as a file; unset: those routes are absent.').nullish(),
});

// ---------------------------------------------------------------- traffic

// A route's host is one name: a wildcard or an address would take others' traffic.
const ROUTE_HOST_RE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)*[a-z]([-a-z0-9]*[a-z0-9])?$/;

export const TrafficSchema = z.strictObject({
  port: z.number().int().min(1).max(65535).describe('Port of the Services and of the container.').default(8080),
  hosts: withCrd(
    z
      .array(z.string().max(253).regex(ROUTE_HOST_RE, 'traffic.hosts entries must be host names: no wildcard, no IP address').describe('A host name.'))
      .max(32)
      .describe("Extra hosts of the route (VirtualService hosts, HTTPRoute hostnames), beside the ImageService's own name."),
    { listType: 'set' },
  ).default([]),
  gateways: withCrd(
    z
      .array(
        z
          .string()
          .max(317)
          .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?\/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'traffic.gateways entries must be [namespace/]name')
          .describe('An Istio Gateway, [namespace/]name.'),
      )
      .max(16)
      .describe('Istio Gateways the VirtualService binds, beside mesh.'),
    { listType: 'set' },
  ).default([]),
  parentRefs: withCrd(
    z
      .array(
        z
          .strictObject({
            name: z.string().min(1).max(253).regex(new RegExp(DNS_SUBDOMAIN), 'traffic.parentRefs[].name must be a Gateway name').describe('Name of the Gateway.'),
            namespace: z
              .string()
              .max(63)
              .regex(new RegExp(DNS_LABEL), 'traffic.parentRefs[].namespace must be a namespace name')
              .describe("Namespace of the Gateway; unset: the ImageService's.")
              .optional(),
            sectionName: z.string().min(1).max(253).regex(new RegExp(DNS_SUBDOMAIN), 'traffic.parentRefs[].sectionName must be a listener name').describe('Listener of the Gateway.').optional(),
          })
          .describe('A Gateway API Gateway the HTTPRoute attaches to.'),
      )
      .max(16)
      .describe("With router gatewayapi: Gateways the HTTPRoute attaches to, beside the mesh (the ImageService's own Service)."),
    { listType: 'atomic' },
  ).default([]),
  timeout: duration().describe('Request timeout of the route, e.g. 30s.').default('30s'),
});

export const ROUTERS = ['istio', 'gatewayapi'] as const;

// ---------------------------------------------------------------- canary

export const PROVIDERS = ['prometheus', 'direct'] as const;
export const MAX_METRICS = 10;
export const ON_NO_DATA = ['fail', 'hold'] as const;

const weight = (what: string) => z.number().int().min(1).max(100).describe(what);

/** The name of an entry of the analysis (a metric, a hook), shown in status and Events. */
const checkName = (what: string, description: string) =>
  z
    .string()
    .max(63)
    .regex(/^[a-zA-Z_][a-zA-Z0-9_-]{0,62}$/, `${what} name must be letters, digits, '_' or '-'`)
    .describe(description);

export const MetricSchema = z
  .strictObject({
    name: checkName('metric', 'Name of the check, shown in status and events.'),
    query: z.string().min(1).max(4096).describe('PromQL returning one number; {{namespace}}, {{target}} and {{interval}} are substituted.'),
    thresholdRange: crossField(
      z.strictObject({
        min: z.number().describe('Lowest passing value.').optional(),
        max: z.number().describe('Highest passing value.').optional(),
      }),
      [
        {
          cel: 'has(self.min) || has(self.max)',
          holds: (r) => r.min !== undefined || r.max !== undefined,
          message: 'thresholdRange needs min, max or both',
        },
        {
          cel: '!has(self.min) || !has(self.max) || self.min <= self.max',
          holds: (r) => r.min === undefined || r.max === undefined || r.min <= r.max,
          message: 'thresholdRange.min must not exceed max',
        },
      ],
    ).describe('The passing range of the value, bounds included.'),
  })
  .describe('An extra check: a PromQL query and its passing range.');

export const MAX_OUTPUT_SAMPLES = 20;
/** Largest picture the output check decodes (each side's answer), and the bounds of its fetches. */
export const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

export const OutputSampleSchema = z
  .strictObject({
    key: z
      .string()
      .min(1)
      .max(1024)
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
      .regex(/^[^\x00-\x1f?#]+$/, "key must be an image key without control characters, '?' or '#'")
      .describe('Image key, as in /image/files/<key>.'),
    params: z
      .string()
      .max(512)
      .regex(/^[A-Za-z0-9_.,=&-]*$/, 'params must be a query string such as w=640&fm=webp')
      .describe('Query parameters of the request, e.g. w=640&fm=webp.')
      // no default: a defaulted field inside a list item makes every client-side kubectl apply "configured"
      .optional(),
    preset: z
      .string()
      .max(64)
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'preset names use letters, digits, - and _')
      .describe('A preset of serving.presets, by name.')
      .optional(),
  })
  .describe('One request fetched from primary and from the canary and compared.');

export const OutputCheckSchema = crossField(
  z.strictObject({
    samples: z.array(OutputSampleSchema).max(MAX_OUTPUT_SAMPLES).describe('Requests compared before the first weight and at each check; none and no fromTraffic: no output check.').default([]),
    fromTraffic: z
      .number()
      .int()
      .min(0)
      .max(MAX_OUTPUT_SAMPLES)
      .describe("How many of primary's most recent distinct requests (its record of recent renders) are compared as well, at each check.")
      .default(0),
    minSsim: z.number().min(0).max(1).describe("Lowest passing SSIM of the two pictures' lightness (L*), 1 being identical.").default(0.92),
    maxDeltaE: z
      .number()
      .min(0)
      .max(100)
      .describe('Highest passing mean colour difference (CIEDE2000) of the two pictures; averaged over 8x8 blocks; about 2 is where people start to see one.')
      .default(1.5),
    maxSizeRatio: z.number().min(1).max(100).describe("Highest passing ratio of the larger answer's bytes to the smaller's.").default(1.5),
    timeoutSeconds: z.number().int().min(1).max(60).describe('Longest wait for one answer, body included.').default(10),
    maxBytes: z
      .number()
      .int()
      .min(1024)
      .max(MAX_OUTPUT_BYTES)
      .describe('Largest answer read; a larger one fails the sample.')
      .default(16 * 1024 * 1024),
  }),
  [
    {
      cel: `!has(self.samples) || !has(self.fromTraffic) || size(self.samples) + self.fromTraffic <= ${MAX_OUTPUT_SAMPLES}`,
      holds: (o) => o.samples.length + o.fromTraffic <= MAX_OUTPUT_SAMPLES,
      message: `samples and fromTraffic together may compare at most ${MAX_OUTPUT_SAMPLES} requests`,
      path: ['fromTraffic'],
    },
  ],
).describe("Compare the canary's pictures with primary's: status, content type, dimensions, size and a perceptual difference.");

export const AnalysisSchema = z.strictObject({
  provider: z
    .enum(PROVIDERS)
    .describe("Where measurements come from. Unset: prometheus when an address is known (here or the operator's PROMETHEUS_URL), else direct (the canary pods' own /metrics).")
    .optional(),
  prometheus: z
    .strictObject({
      address: z
        .string()
        .max(2048)
        .regex(/^https?:\/\/[^\s/]+(\/.*)?$/, 'prometheus.address must be an http(s) URL')
        .describe('Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090.'),
    })
    .describe("Prometheus to query. Unset: the operator's PROMETHEUS_URL.")
    .optional(),
  latencyP99Ms: z.number().positive().describe("SLO: the canary's p99 latency in milliseconds must stay at or under this.").default(500),
  errorRatePercent: z.number().min(0).max(100).describe("SLO: the canary's share of 5xx answers, in percent, must stay at or under this.").default(1),
  minRequests: z.number().int().min(0).describe('Fewer canary requests than this in an interval counts as no data.').default(20),
  onNoData: z.enum(ON_NO_DATA).describe('No data: fail counts a failed check; hold keeps the weight and waits.').default('fail'),
  metrics: crossField(
    withCrd(z.array(MetricSchema).max(MAX_METRICS).describe('Extra checks, each passing when its value lies in thresholdRange.'), {
      listType: 'map',
      listMapKeys: ['name'],
    }),
    [
      {
        // the API server enforces this through the list-map key
        holds: (list) => new Set(list.map((m) => m.name)).size === list.length,
        message: 'metric names must be unique',
      },
    ],
  ).default([]),
  output: OutputCheckSchema.prefault({}),
});

/** Flagger's hook kinds that this operator calls. */
export const WEBHOOK_TYPES = ['confirm-rollout', 'pre-rollout', 'rollout', 'confirm-promotion', 'post-rollout', 'rollback'] as const;
export const MAX_WEBHOOKS = 10;
/** Longest wait for one answer of a hook, whatever its timeout says: a reconcile waits for it. */
export const MAX_WEBHOOK_TIMEOUT_MS = 30_000;
export const DEFAULT_WEBHOOK_TIMEOUT = '10s';

export const WebhookSchema = z
  .strictObject({
    name: checkName('webhook', 'Name of the hook, shown in status and Events.'),
    type: z
      .enum(WEBHOOK_TYPES)
      .describe(
        'When it is called, and what its answer (2xx: yes) does. confirm-rollout: before the canary is scaled up, every interval until it says yes; the rollout waits (phase Waiting). pre-rollout: at the check before the first weight; a no fails that check. rollout: at each check; a no fails the check. confirm-promotion: at each check at the last step; a no holds the promotion (not a failed check). post-rollout: once after the rollout ends (Succeeded or Failed); a no is a Warning Event only. rollback: at each check; a yes rolls the canary back.',
      ),
    url: z
      .string()
      .max(2048)
      .regex(/^https?:\/\/[^\s/]+(\/.*)?$/, 'webhook url must be an http(s) URL')
      .describe("Where the operator POSTs the JSON payload; must be one the installer allowed (the chart's webhooks.allowedUrls)."),
    // No defaults inside a list item: the live list would never equal an applied one, and every
    // client-side `kubectl apply` would report it configured. The reader fills them in.
    timeout: duration()
      .describe(`Longest wait for one answer, e.g. 5s; at most ${MAX_WEBHOOK_TIMEOUT_MS / 1000}s is waited. Unset: ${DEFAULT_WEBHOOK_TIMEOUT}.`)
      .optional(),
    retries: z.number().int().min(0).max(5).describe('Further attempts after an answer other than 2xx or none. Unset: 0.').optional(),
    metadata: maxEntries(
      z
        .record(z.string().regex(/^[a-zA-Z0-9_.-]{1,63}$/, "webhook metadata keys must be 1-63 letters, digits, '_', '-' or '.'"), z.string().max(1024).describe('A value.'))
        .describe("Sent as the payload's metadata."),
      16,
      'webhooks[].metadata',
    ).optional(),
  })
  .describe("An HTTP hook the analysis calls (Flagger's webhooks).");

export const MAX_STEPS = 20;

export const CanarySchema = crossField(
  z.strictObject({
    stepWeight: weight('Percent of traffic added to the canary after each passing check. Unset with no stepWeights: 10.').optional(),
    stepWeights: withCrd(
      z.array(weight('A canary weight in percent.')).min(1).max(MAX_STEPS).describe('Explicit weight schedule, strictly ascending, each at most maxWeight. Exclusive with stepWeight.'),
      { listType: 'set' },
    ).optional(),
    maxWeight: weight('Canary weight at which a passing check promotes.').default(100),
    interval: duration().describe('Time between checks, e.g. 1m.').default('1m'),
    threshold: z.number().int().min(1).describe('Failed checks that roll the canary back.').default(5),
    progressDeadlineSeconds: z.number().int().min(1).describe('Longest wait for a Deployment to become ready before the rollout fails.').default(600),
    paused: z.boolean().describe('Stop analysing and advancing; the weights stay as they are.').default(false),
    preview: z
      .strictObject({
        header: z
          .string()
          .max(64)
          .regex(/^[a-z0-9][a-z0-9-]*$/, 'preview.header must be a lowercase HTTP header name')
          .describe('Name of the request header, e.g. x-imageops-preview.'),
        value: z
          .string()
          .min(1)
          .max(128)
          .regex(/^[\x21-\x7e]+$/, 'preview.value must be visible ASCII without spaces')
          .describe('Value the header must have, exactly.')
          .default('true'),
      })
      .describe('Requests carrying this header and value always reach the canary while it runs, so people can look at its pictures before it takes traffic.')
      .optional(),
    mirror: z
      .number()
      .int()
      .min(1)
      .max(100)
      .describe('Percent of user requests copied to the canary before it takes any (responses discarded); the first check reads its latency and errors from them, and only then do weights move.')
      .optional(),
    analysis: AnalysisSchema.describe('How each check measures the canary.').prefault({}),
    webhooks: crossField(withCrd(z.array(WebhookSchema).max(MAX_WEBHOOKS).describe('HTTP hooks of the rollout.'), { listType: 'map', listMapKeys: ['name'] }), [
      {
        // the API server enforces this through the list-map key
        holds: (list) => new Set(list.map((w) => w.name)).size === list.length,
        message: 'webhook names must be unique',
      },
    ]).default([]),
  }),
  [
    {
      cel: '!(has(self.stepWeight) && has(self.stepWeights))',
      holds: (c) => !(c.stepWeight !== undefined && c.stepWeights !== undefined),
      message: 'set stepWeight or stepWeights, not both',
      path: ['stepWeights'],
    },
    {
      cel: '!has(self.stepWeights) || self.stepWeights.isSorted()',
      holds: (c) => c.stepWeights === undefined || c.stepWeights.every((w, i, a) => i === 0 || (a[i - 1] as number) < w),
      message: 'stepWeights must be strictly ascending',
      path: ['stepWeights'],
    },
    {
      cel: '!has(self.stepWeights) || self.stepWeights.all(w, w <= self.maxWeight)',
      holds: (c) => c.stepWeights === undefined || c.stepWeights.every((w) => w <= c.maxWeight),
      message: 'stepWeights must each be at most maxWeight',
      path: ['stepWeights'],
    },
    {
      cel: '!has(self.stepWeight) || self.stepWeight <= self.maxWeight',
      holds: (c) => c.stepWeight === undefined || c.stepWeight <= c.maxWeight,
      message: 'stepWeight must be at most maxWeight',
      path: ['stepWeight'],
    },
  ],
);

// ---------------------------------------------------------------- autoscaling

export const MAX_REPLICAS = 1000;
export const SCALING_POLICY_TYPES = ['Pods', 'Percent'] as const;
export const SELECT_POLICIES = ['Max', 'Min', 'Disabled'] as const;

// autoscaling/v2's HPAScalingRules, with the API server's own bounds.
const ScalingRulesSchema = z.strictObject({
  stabilizationWindowSeconds: z.number().int().min(0).max(3600).describe('Seconds of past recommendations considered; scale-down takes the highest of them. Unset: 0 up, 300 down.').optional(),
  selectPolicy: z.enum(SELECT_POLICIES).describe('Which policy applies when several do: Max, Min, or Disabled (no scaling this way).').optional(),
  policies: withCrd(
    z
      .array(
        z
          .strictObject({
            type: z.enum(SCALING_POLICY_TYPES).describe('Pods (an absolute count) or Percent (of the current replicas).'),
            value: z
              .number()
              .int()
              .min(1)
              .max(MAX_REPLICAS * 100)
              .describe('Pods or percent allowed per period.'),
            periodSeconds: z.number().int().min(1).max(1800).describe('The window the value applies to.'),
          })
          .describe('A limit on the change of replicas within a period.'),
      )
      .min(1)
      .max(10)
      .describe('How fast replicas may change.'),
    { listType: 'atomic' },
  ).optional(),
});

export const AutoscalingSchema = crossField(
  z.strictObject({
    minReplicas: z.number().int().min(1).max(MAX_REPLICAS).describe('Fewest pods of the primary.').default(1),
    maxReplicas: z.number().int().min(1).max(MAX_REPLICAS).describe('Most pods of the primary.'),
    targetCPUUtilizationPercentage: z.number().int().min(1).max(1000).describe('Average CPU use of the pods, in percent of their CPU request, that the autoscaler aims at.').default(80),
    behavior: z
      .strictObject({
        scaleUp: ScalingRulesSchema.describe('Rules for adding pods.').optional(),
        scaleDown: ScalingRulesSchema.describe('Rules for removing pods.').optional(),
      })
      .describe("The HorizontalPodAutoscaler's behavior (autoscaling/v2), passed as written.")
      .optional(),
  }),
  [
    {
      cel: 'self.minReplicas <= self.maxReplicas',
      holds: (a) => a.minReplicas <= a.maxReplicas,
      message: 'minReplicas must not exceed maxReplicas',
      path: ['minReplicas'],
    },
  ],
);

// ---------------------------------------------------------------- spec

export const ImageServiceSpecSchema = crossField(
  z.strictObject({
    image: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[^\s]+$/, 'image must be an image reference without spaces')
      .describe('Container image of the image service; changing it starts a canary.'),
    replicas: z.number().int().min(0).max(1000).describe('Pods of the primary (and of the canary while one runs); with autoscaling the HorizontalPodAutoscaler decides instead.').default(2),
    resources: ResourcesSchema.describe('Requests and limits of the image-service container.').prefault({}),
    runtime: RuntimeSchema.describe('Overrides of the workers and threads derived from the CPU limit.').prefault({}),
    env: EnvListSchema,
    source: SourceSchema,
    serving: ServingSchema.describe('Limits and behaviour of the service.').prefault({}),
    router: z
      .enum(ROUTERS)
      .describe('What carries the canary weights: istio writes an Istio VirtualService, gatewayapi a Gateway API HTTPRoute (gateway.networking.k8s.io/v1). Switching removes the other.')
      .default('istio'),
    traffic: TrafficSchema.describe('Routing: Services and the weighted route (VirtualService or HTTPRoute).').prefault({}),
    canary: CanarySchema.describe('How a new pod template is rolled out.').prefault({}),
    autoscaling: AutoscalingSchema.describe(
      'A HorizontalPodAutoscaler for the primary, which then owns its replicas (replicas is ignored); the canary runs as many pods as the primary while it takes traffic.',
    ).optional(),
  }),
  [
    {
      // utilisation is usage over the request; without a CPU request (limits.cpu defaults it) the autoscaler has nothing to divide by
      cel: '!has(self.autoscaling) || (has(self.resources) && ((has(self.resources.requests) && has(self.resources.requests.cpu)) || (has(self.resources.limits) && has(self.resources.limits.cpu))))',
      holds: (s) => s.autoscaling === undefined || s.resources.requests?.cpu !== undefined || s.resources.limits?.cpu !== undefined,
      message: "autoscaling needs resources.requests.cpu or resources.limits.cpu: the target utilisation is a share of the pods' CPU request",
      path: ['autoscaling'],
    },
  ],
).describe('Desired state: the image, its resources, its source of originals, serving limits, routing, the canary policy and autoscaling.');

// ---------------------------------------------------------------- status

export const PHASES = ['Initializing', 'Initialized', 'Progressing', 'Promoting', 'Finalising', 'Succeeded', 'Failed', 'Waiting'] as const;

const time = (what: string) => z.iso.datetime({ offset: true }).max(64).describe(`${what} (RFC 3339).`);

/** Longest message the operator writes to status (longer ones are cut); an Event's is shorter. */
export const MAX_STATUS_MESSAGE_LENGTH = 4096;
const message = (what: string) => z.string().max(MAX_STATUS_MESSAGE_LENGTH).describe(what);

const TrackStatus = (what: string) =>
  z
    .object({
      image: z.string().max(1024).describe(`Image of the ${what}.`).optional(),
      revision: z.string().max(64).describe(`Revision (pod template hash) of the ${what}.`).optional(),
    })
    .describe(`The ${what}'s image and revision.`);

export const ConditionSchema = z
  .object({
    type: z.string().min(1).max(64).describe('Ready, Progressing, Promoted, InvalidSpec, PolicyViolation, ConflictingChild, VirtualServiceUnavailable or HTTPRouteUnavailable.'),
    status: z.enum(['True', 'False', 'Unknown']).describe('True, False or Unknown.'),
    reason: z.string().max(128).describe('CamelCase reason of the last transition.').optional(),
    message: message('Human readable detail.').optional(),
    lastTransitionTime: time('When status last changed').optional(),
    observedGeneration: z.number().int().min(0).describe('Generation the condition was computed from.').optional(),
  })
  .describe('A standard Kubernetes condition.');

/** Hooks' answers by hook name: `HTTP 200`, `HTTP 503 after 2 attempts`, `no answer in time`. */
const hookAnswers = (what: string, path: string) => maxEntries(z.record(z.string(), z.string().max(64).describe('The answer: HTTP status, or why there was none.')).describe(what), MAX_WEBHOOKS, path);

export const AnalysisResultSchema = z
  .object({
    at: time('When the check ran'),
    latencyP99Ms: z.number().describe('Canary p99 latency in milliseconds; null without data.').nullish(),
    errorRatePercent: z.number().describe('Canary 5xx share in percent; null without data.').nullish(),
    requests: z.number().describe('Canary requests in the interval.').nullish(),
    metrics: maxEntries(z.record(z.string(), z.number().nullable().describe('Value of the metric.')).describe('Values of the extra metrics by name.'), MAX_METRICS, 'lastAnalysis.metrics').optional(),
    passed: z.boolean().describe('Whether every check was within its SLO.'),
    noData: z.boolean().describe('Whether the check had too few requests to judge.').optional(),
    output: z
      .object({
        samples: z.number().int().min(0).describe('Samples compared.'),
        failed: z.number().int().min(0).describe('Samples that failed.'),
        worstSsim: z.number().describe('Lowest lightness SSIM of the samples compared.').nullish(),
        worstDeltaE: z.number().describe('Highest mean CIEDE2000 of the samples compared.').nullish(),
        fromTraffic: z.number().int().min(0).describe("Samples taken from primary's record of recent requests.").optional(),
        note: message("Why fewer samples than asked were taken from primary's traffic.").optional(),
        diffs: z
          .array(z.string().max(512).describe('A path such as /canary/diffs/NAMESPACE/NAME/N.png.'))
          .max(MAX_OUTPUT_SAMPLES)
          .describe("Paths of the visual diffs of failed samples on the operator's metrics port.")
          .optional(),
      })
      .describe("The output check: the canary's pictures against primary's.")
      .optional(),
    webhooks: hookAnswers("The answers of the check's hooks by name.", 'lastAnalysis.webhooks').optional(),
    rollbackBy: z.string().max(63).describe('The rollback hook that asked for a rollback.').optional(),
    promotionHeldBy: z.string().max(63).describe('The confirm-promotion hook that did not confirm.').optional(),
    reason: message('Why the check failed or held.').optional(),
  })
  .describe("The last check's measurements and verdict.");

export const ImageServiceStatusSchema = z
  .object({
    phase: z.enum(PHASES).describe('Where the rollout stands.').optional(),
    observedGeneration: z.number().int().min(0).describe('metadata.generation last acted on.').optional(),
    primary: z
      .object({
        ...TrackStatus('primary').shape,
        template: z
          .string()
          .max(MAX_KEPT_TEMPLATE_LENGTH)
          .describe(
            'The pod template the primary was last given from the spec (initialisation, promotion), as JSON. A primary Deployment deleted during a rollout is rebuilt from it, never from a spec that has not passed analysis. A string rather than an object: the operator caches every ImageService, and a parsed template costs several times its text in memory.',
          )
          .optional(),
      })
      .describe("The primary's image, revision and promoted pod template.")
      .optional(),
    canary: TrackStatus('canary').optional(),
    canaryWeight: z.number().int().min(0).max(100).describe('Percent of traffic routed to the canary.').optional(),
    failedChecks: z.number().int().min(0).describe('Failed checks of the current analysis.').optional(),
    iterations: z.number().int().min(0).describe('Checks run in the current analysis.').optional(),
    lastTransitionTime: time('When phase last changed; bounds waits with progressDeadlineSeconds').optional(),
    lastCheckTime: time('When the last check ran; the next one is due an interval later').optional(),
    lastAnalysis: AnalysisResultSchema.optional(),
    postRollout: z
      .object({
        pending: z.boolean().describe('The rollout ended and its post-rollout hooks are still to be called.'),
        at: time('When they were called').optional(),
        webhooks: hookAnswers('Their answers by name.', 'postRollout.webhooks').optional(),
      })
      .describe('The post-rollout hooks of the last rollout that ended.')
      .optional(),
    conditions: withCrd(z.array(ConditionSchema).max(16).describe('Ready, Progressing, Promoted, InvalidSpec.'), {
      listType: 'map',
      listMapKeys: ['type'],
    }).optional(),
    message: message('The last thing the operator did or found.').optional(),
  })
  .describe('Observed state of the rollout, written by the operator; everything it needs to resume after a restart.');

// ---------------------------------------------------------------- the object

export const ObjectMetaSchema = z.looseObject({
  name: z.string().min(1),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  generation: z.number().int().optional(),
  resourceVersion: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** Longest name whose children's names (`<name>-primary`, `<name>-canary`) are still valid Service names. */
export const MAX_NAME_LENGTH = 63 - '-primary'.length;
const SERVICE_NAME_RE = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

export const ImageServiceSchema = crossField(
  z.object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal(KIND),
    metadata: ObjectMetaSchema,
    spec: ImageServiceSpecSchema,
    status: ImageServiceStatusSchema.optional(),
  }),
  [
    {
      cel: `self.metadata.name.size() <= ${MAX_NAME_LENGTH} && self.metadata.name.matches('${SERVICE_NAME_RE.source}')`,
      holds: (o) => o.metadata.name.length <= MAX_NAME_LENGTH && SERVICE_NAME_RE.test(o.metadata.name),
      message: `metadata.name must be at most ${MAX_NAME_LENGTH} lowercase letters, digits and '-', starting with a letter: it names the Services <name>-primary and <name>-canary`,
      path: ['metadata', 'name'],
    },
  ],
);

export type ImageServiceSpec = z.infer<typeof ImageServiceSpecSchema>;
export type ImageServiceSpecInput = z.input<typeof ImageServiceSpecSchema>;
export type ImageServiceStatus = z.infer<typeof ImageServiceStatusSchema>;
export type ImageService = z.infer<typeof ImageServiceSchema>;
export type Phase = (typeof PHASES)[number];
export type Condition = z.infer<typeof ConditionSchema>;
export type AnalysisResult = z.infer<typeof AnalysisResultSchema>;
export type CanarySpec = ImageServiceSpec['canary'];
export type AnalysisSpec = CanarySpec['analysis'];
export type OutputCheckSpec = AnalysisSpec['output'];
export type OutputSample = OutputCheckSpec['samples'][number];

/** Whether an ImageService has an output check: samples listed or taken from primary's traffic. */
export const outputChecked = (spec: ImageServiceSpec): boolean => spec.canary.analysis.output.samples.length > 0 || spec.canary.analysis.output.fromTraffic > 0;
export type MetricSpec = z.infer<typeof MetricSchema>;
export type WebhookSpec = z.infer<typeof WebhookSchema>;
export type SourceSpec = ImageServiceSpec['source'];
export type Router = (typeof ROUTERS)[number];
export type EnvVar = z.infer<typeof EnvVarSchema>;
export type Preset = z.infer<typeof PresetSchema>;
export type AutoscalingSpec = z.infer<typeof AutoscalingSchema>;

export interface SpecIssue {
  /** Dotted path from the object root, e.g. "spec.canary.stepWeights[1]". */
  path: string;
  message: string;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; issues: SpecIssue[] };

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

function toIssues(error: z.ZodError, prefix: string): SpecIssue[] {
  return error.issues.map((i) => {
    const path = formatPath([...(prefix ? [prefix] : []), ...i.path]) || '(object)';
    const missing = i.code === 'invalid_type' && i.message.endsWith('received undefined');
    return { path, message: `${path}: ${missing ? `is required (${i.message.replace(/^Invalid input: /, '')})` : i.message}` };
  });
}

/** Validates a spec and applies its defaults; issues name the field (for the InvalidSpec condition). */
export function validateSpec(spec: unknown): Validated<ImageServiceSpec> {
  const r = ImageServiceSpecSchema.safeParse(spec);
  return r.success ? { ok: true, value: r.data } : { ok: false, issues: toIssues(r.error, 'spec') };
}

/** Validates a whole ImageService object as read from the API. */
export function validateImageService(obj: unknown): Validated<ImageService> {
  const r = ImageServiceSchema.safeParse(obj);
  return r.success ? { ok: true, value: r.data } : { ok: false, issues: toIssues(r.error, '') };
}

/** The canary weights in order: stepWeights, or stepWeight (default 10) repeated up to maxWeight. */
export function weightSchedule(canary: CanarySpec): number[] {
  if (canary.stepWeights) return [...canary.stepWeights];
  const step = canary.stepWeight ?? 10;
  const out: number[] = [];
  for (let w = step; w < canary.maxWeight; w += step) out.push(w);
  out.push(canary.maxWeight);
  return out;
}
