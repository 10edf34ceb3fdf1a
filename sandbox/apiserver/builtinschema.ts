import { z } from 'zod';
import type { StructuralSchema } from './schema.ts';

// The field structure of the built-in kinds, taken from @kubernetes/client-node's generated
// models (which come from the Kubernetes OpenAPI), so that unknown fields of built-in objects
// are dropped, reported (fieldValidation Warn) or refused (Strict) as on a real server, and a
// field of the wrong type is refused. String fields accept numbers: the models do not tell
// Quantities (`cpu: 2`) from plain strings.

const MODELS: Record<string, string> = {
  '/namespaces': 'V1Namespace',
  '/nodes': 'V1Node',
  '/pods': 'V1Pod',
  '/services': 'V1Service',
  '/endpoints': 'V1Endpoints',
  '/configmaps': 'V1ConfigMap',
  '/secrets': 'V1Secret',
  '/serviceaccounts': 'V1ServiceAccount',
  '/events': 'CoreV1Event',
  'apps/deployments': 'V1Deployment',
  'apps/replicasets': 'V1ReplicaSet',
  'discovery.k8s.io/endpointslices': 'V1EndpointSlice',
  'coordination.k8s.io/leases': 'V1Lease',
  'autoscaling/horizontalpodautoscalers': 'V2HorizontalPodAutoscaler',
  'rbac.authorization.k8s.io/roles': 'V1Role',
  'rbac.authorization.k8s.io/rolebindings': 'V1RoleBinding',
  'rbac.authorization.k8s.io/clusterroles': 'V1ClusterRole',
  'rbac.authorization.k8s.io/clusterrolebindings': 'V1ClusterRoleBinding',
  'apiextensions.k8s.io/customresourcedefinitions': 'V1CustomResourceDefinition',
};

const attributesSchema = z.array(z.object({ baseName: z.string(), type: z.string(), format: z.string().optional() }));
type Attributes = z.infer<typeof attributesSchema>;

/** A model's attributes; undefined for a type without a model of its own (MicroTime: a string). */
async function attributesOf(model: string): Promise<Attributes | undefined> {
  let module: unknown;
  try {
    module = await import(`@kubernetes/client-node/dist/gen/models/${model}.js`);
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw err;
  }
  const cls = (module as Record<string, { getAttributeTypeMap?: () => unknown } | undefined>)[model];
  const parsed = attributesSchema.safeParse(cls?.getAttributeTypeMap?.());
  if (!parsed.success) throw new Error(`@kubernetes/client-node model ${model} has no attribute map`);
  return parsed.data;
}

const ARRAY = /^Array<(.+)>$/;
const MAP = /^\{ \[key: string\]: (.+); \}$/;

async function load(): Promise<Map<string, StructuralSchema>> {
  const models = new Map<string, StructuralSchema>();
  const pending: [string, StructuralSchema][] = [];
  const schemaOf = (type: string, format: string): StructuralSchema => {
    const array = ARRAY.exec(type);
    if (array) return { type: 'array', items: schemaOf(array[1] ?? '', '') };
    const map = MAP.exec(type);
    if (map) return { type: 'object', additionalProperties: schemaOf(map[1] ?? '', '') };
    switch (type) {
      case 'string':
      case 'Date':
        return {};
      case 'number':
        return { type: format === 'int32' || format === 'int64' ? 'integer' : 'number' };
      case 'boolean':
        return { type: 'boolean' };
      case 'IntOrString':
        return { 'x-kubernetes-int-or-string': true };
      case 'any':
        return { 'x-kubernetes-preserve-unknown-fields': true };
    }
    let schema = models.get(type);
    if (!schema) {
      // Shared, and filled in later: recursive types (JSONSchemaProps) become cycles.
      schema = { type: 'object', properties: {} };
      models.set(type, schema);
      pending.push([type, schema]);
    }
    return schema;
  };
  const roots = new Map(Object.entries(MODELS).map(([storage, model]) => [storage, schemaOf(model, '')]));
  while (pending.length > 0) {
    const [model, schema] = pending.pop() as [string, StructuralSchema];
    const attributes = await attributesOf(model);
    if (!attributes) {
      delete schema.type;
      delete schema.properties;
      continue;
    }
    for (const a of attributes) {
      (schema.properties as Record<string, StructuralSchema>)[a.baseName] = schemaOf(a.type, a.format ?? '');
    }
  }
  return roots;
}

let loaded: Promise<Map<string, StructuralSchema>> | undefined;

/** The schema of each built-in storage, loaded once per process. */
export function builtinSchemas(): Promise<Map<string, StructuralSchema>> {
  loaded ??= load();
  return loaded;
}
