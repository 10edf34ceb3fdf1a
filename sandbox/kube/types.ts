// The slices of Kubernetes objects the sandbox's workloads read. Loose objects: fields we do not
// model are kept, so an object read and written back loses nothing.
import { z } from 'zod';
import { ObjectMeta as ClientObjectMeta, OwnerReference as ClientOwnerReference } from '../../operator/src/kube/client.ts';

// Object metadata is the client library's (operator/src/kube/client.ts): one definition.
export const OwnerReferenceSchema = ClientOwnerReference;
export type OwnerReference = z.infer<typeof OwnerReferenceSchema>;
export const ObjectMetaSchema = ClientObjectMeta;
export type ObjectMeta = z.infer<typeof ObjectMetaSchema>;

export const LabelSelectorSchema = z.looseObject({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z.array(z.object({ key: z.string(), operator: z.string(), values: z.array(z.string()).optional() })).optional(),
});
export type LabelSelector = z.infer<typeof LabelSelectorSchema>;

const IntOrString = z.union([z.number(), z.string()]);

const HttpGetSchema = z.looseObject({
  path: z.string().optional(),
  port: IntOrString,
  host: z.string().optional(),
  scheme: z.string().optional(),
  httpHeaders: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
});
export const ProbeSchema = z.looseObject({
  httpGet: HttpGetSchema.optional(),
  tcpSocket: z.looseObject({ port: IntOrString, host: z.string().optional() }).optional(),
  exec: z.looseObject({ command: z.array(z.string()) }).optional(),
  initialDelaySeconds: z.number().optional(),
  periodSeconds: z.number().optional(),
  timeoutSeconds: z.number().optional(),
  failureThreshold: z.number().optional(),
  successThreshold: z.number().optional(),
});
export type Probe = z.infer<typeof ProbeSchema>;

const KeyRef = z.looseObject({ name: z.string().optional(), key: z.string(), optional: z.boolean().optional() });
export const EnvVarSchema = z.looseObject({
  name: z.string(),
  value: z.string().optional(),
  valueFrom: z
    .looseObject({
      fieldRef: z.looseObject({ fieldPath: z.string(), apiVersion: z.string().optional() }).optional(),
      resourceFieldRef: z.looseObject({ resource: z.string(), containerName: z.string().optional(), divisor: IntOrString.optional() }).optional(),
      secretKeyRef: KeyRef.optional(),
      configMapKeyRef: KeyRef.optional(),
    })
    .optional(),
});
export type EnvVar = z.infer<typeof EnvVarSchema>;

const SourceRef = z.looseObject({ name: z.string().optional(), optional: z.boolean().optional() });
export const EnvFromSchema = z.looseObject({
  prefix: z.string().optional(),
  configMapRef: SourceRef.optional(),
  secretRef: SourceRef.optional(),
});

const ResourceList = z.record(z.string(), IntOrString);
export const ContainerSchema = z.looseObject({
  name: z.string(),
  image: z.string().optional(),
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  env: z.array(EnvVarSchema).optional(),
  envFrom: z.array(EnvFromSchema).optional(),
  ports: z.array(z.looseObject({ name: z.string().optional(), containerPort: z.number(), protocol: z.string().optional() })).optional(),
  resources: z.looseObject({ limits: ResourceList.optional(), requests: ResourceList.optional() }).optional(),
  readinessProbe: ProbeSchema.optional(),
  livenessProbe: ProbeSchema.optional(),
  lifecycle: z
    .looseObject({
      preStop: z
        .looseObject({
          exec: z.looseObject({ command: z.array(z.string()) }).optional(),
          httpGet: HttpGetSchema.optional(),
          sleep: z.looseObject({ seconds: z.number() }).optional(),
        })
        .optional(),
    })
    .optional(),
  volumeMounts: z.array(z.looseObject({ name: z.string(), mountPath: z.string(), subPath: z.string().optional(), readOnly: z.boolean().optional() })).optional(),
});
export type Container = z.infer<typeof ContainerSchema>;

const KeyToPath = z.array(z.looseObject({ key: z.string(), path: z.string() }));
export const VolumeSchema = z.looseObject({
  name: z.string(),
  emptyDir: z.looseObject({}).optional(),
  hostPath: z.looseObject({ path: z.string(), type: z.string().optional() }).optional(),
  secret: z.looseObject({ secretName: z.string(), items: KeyToPath.optional(), optional: z.boolean().optional() }).optional(),
  configMap: z.looseObject({ name: z.string(), items: KeyToPath.optional(), optional: z.boolean().optional() }).optional(),
  persistentVolumeClaim: z.looseObject({ claimName: z.string(), readOnly: z.boolean().optional() }).optional(),
  projected: z
    .looseObject({
      sources: z
        .array(
          z.looseObject({
            serviceAccountToken: z.looseObject({ path: z.string(), audience: z.string().optional(), expirationSeconds: z.number().optional() }).optional(),
            configMap: z.looseObject({ name: z.string(), items: KeyToPath.optional(), optional: z.boolean().optional() }).optional(),
            secret: z.looseObject({ name: z.string(), items: KeyToPath.optional(), optional: z.boolean().optional() }).optional(),
            downwardAPI: z.looseObject({ items: z.array(z.looseObject({ path: z.string(), fieldRef: z.looseObject({ fieldPath: z.string() }).optional() })) }).optional(),
          }),
        )
        .nullish(),
    })
    .optional(),
});
export type Volume = z.infer<typeof VolumeSchema>;

export const PodSpecSchema = z.looseObject({
  containers: z.array(ContainerSchema),
  volumes: z.array(VolumeSchema).optional(),
  restartPolicy: z.string().optional(),
  terminationGracePeriodSeconds: z.number().optional(),
  nodeName: z.string().optional(),
  serviceAccountName: z.string().optional(),
});
export type PodSpec = z.infer<typeof PodSpecSchema>;

export const ConditionSchema = z.looseObject({
  type: z.string(),
  status: z.string(),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTransitionTime: z.string().optional(),
  lastUpdateTime: z.string().optional(),
});
export type Condition = z.infer<typeof ConditionSchema>;

export const PodSchema = z.looseObject({
  metadata: ObjectMetaSchema,
  spec: PodSpecSchema,
  status: z
    .looseObject({
      phase: z.string().optional(),
      podIP: z.string().optional(),
      conditions: z.array(ConditionSchema).optional(),
      containerStatuses: z.array(z.looseObject({ name: z.string(), ready: z.boolean().optional() })).optional(),
    })
    .optional(),
});
export type Pod = z.infer<typeof PodSchema>;

export const PodTemplateSchema = z.looseObject({
  metadata: ObjectMetaSchema.partial().optional(),
  spec: PodSpecSchema,
});
export type PodTemplate = z.infer<typeof PodTemplateSchema>;

export const ReplicaSetSchema = z.looseObject({
  metadata: ObjectMetaSchema,
  spec: z.looseObject({
    replicas: z.number().optional(),
    minReadySeconds: z.number().optional(),
    selector: LabelSelectorSchema,
    template: PodTemplateSchema,
  }),
  status: z
    .looseObject({
      replicas: z.number().optional(),
      readyReplicas: z.number().optional(),
      availableReplicas: z.number().optional(),
      observedGeneration: z.number().optional(),
    })
    .optional(),
});
export type ReplicaSet = z.infer<typeof ReplicaSetSchema>;

export const DeploymentSchema = z.looseObject({
  metadata: ObjectMetaSchema,
  spec: z.looseObject({
    replicas: z.number().optional(),
    minReadySeconds: z.number().optional(),
    progressDeadlineSeconds: z.number().optional(),
    revisionHistoryLimit: z.number().optional(),
    paused: z.boolean().optional(),
    selector: LabelSelectorSchema,
    template: PodTemplateSchema,
    strategy: z
      .looseObject({
        type: z.string().optional(),
        rollingUpdate: z.looseObject({ maxSurge: IntOrString.optional(), maxUnavailable: IntOrString.optional() }).optional(),
      })
      .optional(),
  }),
  status: z
    .looseObject({
      observedGeneration: z.number().optional(),
      replicas: z.number().optional(),
      updatedReplicas: z.number().optional(),
      readyReplicas: z.number().optional(),
      availableReplicas: z.number().optional(),
      unavailableReplicas: z.number().optional(),
      conditions: z.array(ConditionSchema).optional(),
    })
    .optional(),
});
export type Deployment = z.infer<typeof DeploymentSchema>;

const ScalingRulesSchema = z.looseObject({
  stabilizationWindowSeconds: z.number().optional(),
  selectPolicy: z.enum(['Max', 'Min', 'Disabled']).optional(),
  policies: z.array(z.looseObject({ type: z.enum(['Pods', 'Percent']), value: z.number(), periodSeconds: z.number() })).optional(),
});

export const HorizontalPodAutoscalerSchema = z.looseObject({
  metadata: ObjectMetaSchema,
  spec: z.looseObject({
    scaleTargetRef: z.looseObject({ apiVersion: z.string().optional(), kind: z.string(), name: z.string() }),
    minReplicas: z.number().optional(),
    maxReplicas: z.number(),
    metrics: z
      .array(
        z.looseObject({
          type: z.string(),
          resource: z.looseObject({ name: z.string(), target: z.looseObject({ type: z.string(), averageUtilization: z.number().optional() }) }).optional(),
        }),
      )
      .optional(),
    behavior: z.looseObject({ scaleUp: ScalingRulesSchema.optional(), scaleDown: ScalingRulesSchema.optional() }).optional(),
  }),
  status: z.looseObject({ conditions: z.array(ConditionSchema).optional() }).optional(),
});
export type HorizontalPodAutoscaler = z.infer<typeof HorizontalPodAutoscalerSchema>;

export const ServicePortSchema = z.looseObject({
  name: z.string().optional(),
  port: z.number(),
  targetPort: IntOrString.optional(),
  protocol: z.string().optional(),
});
export type ServicePort = z.infer<typeof ServicePortSchema>;

export const ServiceSchema = z.looseObject({
  metadata: ObjectMetaSchema,
  spec: z.looseObject({
    selector: z.record(z.string(), z.string()).optional(),
    ports: z.array(ServicePortSchema).optional(),
    publishNotReadyAddresses: z.boolean().optional(),
  }),
});
export type Service = z.infer<typeof ServiceSchema>;

const ObjectRef = z.looseObject({ kind: z.string().optional(), name: z.string(), namespace: z.string().optional(), uid: z.string().optional() });
const EndpointPortSchema = z.looseObject({ name: z.string().optional(), port: z.number(), protocol: z.string().optional() });
export type EndpointPort = z.infer<typeof EndpointPortSchema>;
const EndpointAddressSchema = z.looseObject({ ip: z.string(), targetRef: ObjectRef.optional(), nodeName: z.string().optional() });

export const EndpointsSchema = z.looseObject({
  metadata: ObjectMetaSchema,
  subsets: z
    .array(
      z.looseObject({
        addresses: z.array(EndpointAddressSchema).optional(),
        notReadyAddresses: z.array(EndpointAddressSchema).optional(),
        ports: z.array(EndpointPortSchema).optional(),
      }),
    )
    .optional(),
});
export type Endpoints = z.infer<typeof EndpointsSchema>;

export const EndpointSliceSchema = z.looseObject({
  metadata: ObjectMetaSchema,
  addressType: z.string(),
  endpoints: z
    .array(
      z.looseObject({
        addresses: z.array(z.string()),
        conditions: z.looseObject({ ready: z.boolean().optional(), serving: z.boolean().optional(), terminating: z.boolean().optional() }).optional(),
        targetRef: ObjectRef.optional(),
        nodeName: z.string().optional(),
      }),
    )
    .nullish(),
  ports: z.array(EndpointPortSchema).nullish(),
});
export type EndpointSlice = z.infer<typeof EndpointSliceSchema>;

const StringMatch = z.looseObject({ exact: z.string().optional(), prefix: z.string().optional(), regex: z.string().optional() });
const IstioDestination = z.looseObject({
  host: z.string(),
  subset: z.string().optional(),
  port: z.looseObject({ number: z.number().optional() }).optional(),
});
const IstioPercent = z.looseObject({ value: z.number().optional() });

export const VirtualServiceSchema = z.looseObject({
  metadata: ObjectMetaSchema,
  spec: z.looseObject({
    hosts: z.array(z.string()).optional(),
    gateways: z.array(z.string()).optional(),
    http: z
      .array(
        z.looseObject({
          name: z.string().optional(),
          match: z.array(z.looseObject({ uri: StringMatch.optional(), headers: z.record(z.string(), StringMatch).optional() })).optional(),
          route: z.array(z.looseObject({ destination: IstioDestination, weight: z.number().optional() })).optional(),
          mirror: IstioDestination.optional(),
          mirrorPercentage: IstioPercent.optional(),
          mirrors: z.array(z.looseObject({ destination: IstioDestination, percentage: IstioPercent.optional() })).optional(),
        }),
      )
      .optional(),
  }),
});
export type VirtualService = z.infer<typeof VirtualServiceSchema>;

const GatewayRef = z.looseObject({
  group: z.string().optional(),
  kind: z.string().optional(),
  name: z.string(),
  namespace: z.string().optional(),
  port: z.number().optional(),
});

/** The fields of a Gateway API HTTPRoute (gateway.networking.k8s.io/v1) the mesh routes by. */
export const HTTPRouteSchema = z.looseObject({
  metadata: ObjectMetaSchema,
  spec: z.looseObject({
    parentRefs: z.array(GatewayRef).optional(),
    hostnames: z.array(z.string()).optional(),
    rules: z
      .array(
        z.looseObject({
          matches: z
            .array(
              z.looseObject({
                path: z.looseObject({ type: z.string().optional(), value: z.string().optional() }).optional(),
                headers: z.array(z.looseObject({ type: z.string().optional(), name: z.string(), value: z.string() })).optional(),
              }),
            )
            .optional(),
          backendRefs: z.array(GatewayRef.extend({ weight: z.number().optional() })).optional(),
          filters: z
            .array(
              z.looseObject({
                type: z.string(),
                requestMirror: z
                  .looseObject({
                    backendRef: GatewayRef,
                    percent: z.number().optional(),
                    fraction: z.looseObject({ numerator: z.number(), denominator: z.number().optional() }).optional(),
                  })
                  .optional(),
              }),
            )
            .optional(),
        }),
      )
      .optional(),
  }),
});
export type HTTPRoute = z.infer<typeof HTTPRouteSchema>;

export const SecretSchema = z.looseObject({
  metadata: ObjectMetaSchema,
  data: z.record(z.string(), z.string()).optional(),
  stringData: z.record(z.string(), z.string()).optional(),
});
export type Secret = z.infer<typeof SecretSchema>;

export const ConfigMapSchema = z.looseObject({
  metadata: ObjectMetaSchema,
  data: z.record(z.string(), z.string()).optional(),
  binaryData: z.record(z.string(), z.string()).optional(),
});
export type ConfigMap = z.infer<typeof ConfigMapSchema>;

/** `namespace/name`, the cache key of every informer. */
export function keyOf(meta: { name: string; namespace?: string | undefined }): string {
  return `${meta.namespace ?? ''}/${meta.name}`;
}
