import { CelError, compile, type Program, toCel } from './cel.ts';
import { cause, type StatusCause } from './errors.ts';
import { cloneJson } from './json.ts';
import { isObject, type JsonObject } from './types.ts';

// Structural OpenAPI v3 schemas of CRDs: pruning of unknown fields, defaulting, and validation
// with apimachinery's field paths and wording
// (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation),
// including the CEL rules of x-kubernetes-validations (cel.ts); transition rules, which read
// oldSelf, run on updates where the old value can be matched, as on a real server.

export type StructuralSchema = {
  type?: string;
  description?: string;
  properties?: Record<string, StructuralSchema>;
  items?: StructuralSchema;
  additionalProperties?: StructuralSchema | boolean;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  nullable?: boolean;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minProperties?: number;
  maxProperties?: number;
  oneOf?: StructuralSchema[];
  anyOf?: StructuralSchema[];
  allOf?: StructuralSchema[];
  not?: StructuralSchema;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: ValidationRule[];
};

export type ValidationRule = { rule: string; message?: string; fieldPath?: string; reason?: string };

const programs = new Map<string, Program | CelError>();

/** A rule's compiled form, or why it does not compile (a CRD carrying such a rule is refused). */
export function programOf(rule: string): Program | CelError {
  let program = programs.get(rule);
  if (!program) {
    try {
      program = compile(rule);
    } catch (err) {
      if (!(err instanceof CelError)) throw err;
      program = err;
    }
    programs.set(rule, program);
  }
  return program;
}

/** The old value at the same place, where the API server can match it: object fields, map keys, list-map items. */
type Old = { value: unknown } | undefined;

/** Causes that CEL rules reported, told apart from the schema's own. */
const ruleCauses = new WeakSet<StatusCause>();

/**
 * Schema causes after which kube-apiserver does not run the CEL rules at all (its
 * customresource strategy's hasBlockingErr), saying so in one more cause.
 */
const BLOCKING = new Set(['FieldValueNotSupported', 'FieldValueRequired', 'FieldValueTooLong', 'FieldValueTooMany', 'FieldValueTypeInvalid']);
const RULES_NOT_CHECKED = 'some validation rules were not checked because the object was invalid; correct the existing errors to complete validation';

function validateRules(value: unknown, s: StructuralSchema, path: string, old: Old, out: StatusCause[]): void {
  const before = out.length;
  checkRules(value, s, path, old, out);
  for (const c of out.slice(before)) ruleCauses.add(c);
}

function checkRules(value: unknown, s: StructuralSchema, path: string, old: Old, out: StatusCause[]): void {
  for (const r of s['x-kubernetes-validations'] ?? []) {
    const program = programOf(r.rule);
    let message: string | undefined;
    if (program instanceof CelError) message = `${r.message ?? `failed rule: ${r.rule}`} (compilation error: ${program.message})`;
    else if (program.transition && old === undefined) continue;
    else {
      try {
        const vars = { self: toCel(s, value), ...(old ? { oldSelf: toCel(s, old.value) } : {}) };
        if (program(vars) !== true) message = r.message ?? `failed rule: ${r.rule}`;
      } catch (err) {
        if (!(err instanceof CelError)) throw err;
        message = `${r.message ?? `failed rule: ${r.rule}`} (evaluation error: ${err.message})`;
      }
    }
    if (message === undefined) continue;
    const suffix = r.fieldPath ?? '';
    const field = path ? `${path}${suffix}` : suffix.replace(/^\./, '');
    if (r.reason === 'FieldValueRequired') out.push({ ...cause.required(field), message: `Required value: ${message}` });
    else if (r.reason === 'FieldValueForbidden') out.push(cause.forbidden(field, message));
    else if (r.reason === 'FieldValueDuplicate') out.push({ ...cause.duplicate(field, s.type ?? 'object'), message: `Duplicate value: ${message}` });
    else out.push(cause.invalid(field, s.type ?? 'object', message));
  }
}

const fieldPath = (path: string, key: string) => (path ? `${path}.${key}` : key);
const indexPath = (path: string, i: number) => `${path}[${i}]`;

function preserves(s: StructuralSchema): boolean {
  return s['x-kubernetes-preserve-unknown-fields'] === true;
}

/**
 * Drops fields the schema does not know (and nulls in non-nullable fields), in place on an
 * object the request owns. Returns the paths of dropped unknown fields, for fieldValidation.
 */
export function prune(value: unknown, schema: StructuralSchema, path = '', root = true): string[] {
  const unknown: string[] = [];
  if (Array.isArray(value)) {
    if (schema.items) for (const [i, v] of value.entries()) unknown.push(...prune(v, schema.items as StructuralSchema, indexPath(path, i), false));
    return unknown;
  }
  if (!isObject(value)) return unknown;
  const props = schema.properties;
  const additional = typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined;
  const embedded = schema['x-kubernetes-embedded-resource'] === true;
  for (const key of Object.keys(value)) {
    if ((root || embedded) && (key === 'apiVersion' || key === 'kind' || key === 'metadata')) continue;
    const child = props?.[key] ?? additional;
    if (value[key] === null && child && child.nullable !== true) {
      delete value[key];
      continue;
    }
    if (child) unknown.push(...prune(value[key], child, fieldPath(path, key), false));
    else if (!preserves(schema) && schema.additionalProperties !== true) {
      delete value[key];
      unknown.push(fieldPath(path, key));
    }
  }
  return unknown;
}

/** Fills absent fields that have a default, in place, recursing into present objects and lists. */
export function applyDefaults(value: unknown, schema: StructuralSchema): void {
  if (Array.isArray(value)) {
    if (schema.items) for (const v of value) applyDefaults(v, schema.items);
    return;
  }
  if (!isObject(value)) return;
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    if (value[key] === undefined && child.default !== undefined) value[key] = cloneJson(child.default);
    if (value[key] !== undefined) applyDefaults(value[key], child);
  }
  if (typeof schema.additionalProperties === 'object') {
    for (const key of Object.keys(value)) {
      if (!schema.properties?.[key]) applyDefaults(value[key], schema.additionalProperties);
    }
  }
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  if (typeof value === 'object') return 'object';
  return typeof value;
}

function typeMatches(value: unknown, schema: StructuralSchema): boolean {
  if (schema['x-kubernetes-int-or-string']) return typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value));
  switch (schema.type) {
    case undefined:
      return true;
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return isObject(value);
    default:
      return true;
  }
}

const formats: Record<string, RegExp> = {
  'date-time': /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/,
  date: /^\d{4}-\d{2}-\d{2}$/,
  uri: /^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]*$/,
};

function validateScalar(value: unknown, s: StructuralSchema, path: string, out: StatusCause[]): void {
  if (typeof value === 'number') {
    if (s.maximum !== undefined && (s.exclusiveMaximum ? value >= s.maximum : value > s.maximum)) {
      out.push(cause.invalid(path, value, `${path} in body should be less than ${s.exclusiveMaximum ? '' : 'or equal to '}${s.maximum}`));
    }
    if (s.minimum !== undefined && (s.exclusiveMinimum ? value <= s.minimum : value < s.minimum)) {
      out.push(cause.invalid(path, value, `${path} in body should be greater than ${s.exclusiveMinimum ? '' : 'or equal to '}${s.minimum}`));
    }
    if (s.multipleOf !== undefined && value % s.multipleOf !== 0) {
      out.push(cause.invalid(path, value, `${path} in body should be a multiple of ${s.multipleOf}`));
    }
  }
  if (typeof value === 'string') {
    // kube-openapi's string validator reports the first of maxLength, minLength, pattern that fails
    if (s.maxLength !== undefined && [...value].length > s.maxLength) out.push(cause.tooLong(path, s.maxLength));
    else if (s.minLength !== undefined && [...value].length < s.minLength) {
      out.push(cause.invalid(path, value, `${path} in body should be at least ${s.minLength} chars long`));
    } else if (s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(value)) {
      out.push(cause.invalid(path, value, `${path} in body should match '${s.pattern}'`));
    }
    const format = s.format ? formats[s.format] : undefined;
    if (format && !format.test(value)) {
      out.push(cause.invalid(path, value, `${path} in body must be of type ${s.format}: ${JSON.stringify(value)}`));
    }
  }
}

/** The old item a list-map item is matched to by its keys; other lists' items have none. */
function oldItem(item: unknown, s: StructuralSchema, old: Old): Old {
  const keys = s['x-kubernetes-list-map-keys'] ?? [];
  if (s['x-kubernetes-list-type'] !== 'map' || !isObject(item) || !Array.isArray(old?.value)) return undefined;
  const match = old.value.find((o) => isObject(o) && keys.every((k) => JSON.stringify(o[k]) === JSON.stringify(item[k])));
  return match === undefined ? undefined : { value: match };
}

function validateList(value: unknown[], s: StructuralSchema, path: string, old: Old, out: StatusCause[]): void {
  if (s.maxItems !== undefined && value.length > s.maxItems) out.push(cause.tooMany(path, value.length, s.maxItems));
  if (s.minItems !== undefined && value.length < s.minItems) {
    out.push(cause.invalid(path, value.length, `${path} in body should have at least ${s.minItems} items`));
  }
  const listType = s['x-kubernetes-list-type'];
  const keys = s['x-kubernetes-list-map-keys'] ?? [];
  if (listType === 'set' || listType === 'map' || s.uniqueItems) {
    const seen = new Set<string>();
    value.forEach((item, i) => {
      const id = listType === 'map' && isObject(item) ? JSON.stringify(keys.map((k) => item[k])) : JSON.stringify(item);
      if (seen.has(id)) out.push(cause.duplicate(indexPath(path, i), listType === 'map' && isObject(item) ? Object.fromEntries(keys.map((k) => [k, item[k]])) : item));
      seen.add(id);
    });
  }
  if (s.items) for (const [i, item] of value.entries()) validateValue(item, s.items as StructuralSchema, indexPath(path, i), oldItem(item, s, old), out);
}

function validateMap(value: JsonObject, s: StructuralSchema, path: string, old: Old, out: StatusCause[]): void {
  for (const name of s.required ?? []) {
    if (value[name] === undefined) out.push(cause.required(fieldPath(path, name)));
  }
  const count = Object.keys(value).length;
  if (s.maxProperties !== undefined && count > s.maxProperties) out.push(cause.tooMany(path, count, s.maxProperties));
  if (s.minProperties !== undefined && count < s.minProperties) {
    out.push(cause.invalid(path, count, `${path} in body should have at least ${s.minProperties} properties`));
  }
  for (const [key, child] of Object.entries(value)) {
    const childSchema = s.properties?.[key] ?? (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined);
    const oldChild = isObject(old?.value) && old.value[key] !== undefined ? { value: old.value[key] } : undefined;
    if (childSchema && child !== undefined) validateValue(child, childSchema, fieldPath(path, key), oldChild, out);
  }
}

function validateValue(value: unknown, s: StructuralSchema, path: string, old: Old, out: StatusCause[]): void {
  if (value === null) {
    if (!s.nullable) out.push(cause.invalid(path, 'null', `${path} in body must be of type ${s.type ?? 'object'}: "null"`));
    return;
  }
  if (!typeMatches(value, s)) {
    const expected = s['x-kubernetes-int-or-string'] ? 'integer,string' : (s.type ?? 'object');
    out.push(cause.invalid(path, typeName(value), `${path} in body must be of type ${expected}: ${JSON.stringify(typeName(value))}`));
    return;
  }
  if (s.enum && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) out.push(cause.notSupported(path, value, s.enum));
  validateScalar(value, s, path, out);
  if (Array.isArray(value)) validateList(value, s, path, old, out);
  else if (isObject(value)) validateMap(value, s, path, old, out);
  for (const sub of s.allOf ?? []) validateValue(value, sub, path, undefined, out);
  const passes = (sub: StructuralSchema) => {
    const errs: StatusCause[] = [];
    validateValue(value, sub, path, undefined, errs);
    return errs.length === 0;
  };
  if (s.anyOf && !s.anyOf.some(passes)) out.push(cause.invalid(path, value, `${path} in body must validate at least one schema (anyOf)`));
  if (s.oneOf && s.oneOf.filter(passes).length !== 1) out.push(cause.invalid(path, value, `${path} in body must validate one and only one schema (oneOf)`));
  if (s.not && passes(s.not)) out.push(cause.invalid(path, value, `${path} in body should not be valid against schema (not)`));
  validateRules(value, s, path, old, out);
}

/** An object as root rules see it: metadata reduced to name and generateName, as on a real server. */
function rootView(obj: JsonObject): JsonObject {
  const { metadata, ...rest } = obj;
  const meta = isObject(metadata) ? metadata : {};
  return { ...rest, metadata: Object.fromEntries(['name', 'generateName'].filter((k) => meta[k] !== undefined).map((k) => [k, meta[k]])) };
}

/**
 * Validates an object against its CRD schema; `old` is the stored object on an update, for
 * transition rules. Metadata is validated elsewhere.
 */
export function validate(obj: JsonObject, schema: StructuralSchema, old?: JsonObject): StatusCause[] {
  const out: StatusCause[] = [];
  const { metadata: _, ...rest } = obj;
  const rootSchema: StructuralSchema = { ...schema, properties: { ...schema.properties } };
  delete rootSchema.properties?.['metadata'];
  delete rootSchema['x-kubernetes-validations'];
  validateValue(rest, rootSchema, '', old ? { value: old } : undefined, out);
  validateRules(rootView(obj), schema, '', old ? { value: rootView(old) } : undefined, out);
  const own = out.filter((c) => !ruleCauses.has(c));
  if (hasRules(schema) && own.some((c) => BLOCKING.has(c.reason))) return [...own, cause.invalid('<nil>', null, RULES_NOT_CHECKED)];
  return out;
}

const withRules = new WeakMap<StructuralSchema, boolean>();

/** Whether a schema holds any CEL rule: kube-apiserver makes a rule validator only then. */
function hasRules(s: StructuralSchema): boolean {
  let known = withRules.get(s);
  if (known === undefined) {
    withRules.set(s, false); // built-in schemas refer to themselves
    const children = [...Object.values(s.properties ?? {}), ...(s.items ? [s.items] : []), ...(typeof s.additionalProperties === 'object' ? [s.additionalProperties] : []), ...(s.allOf ?? [])];
    known = (s['x-kubernetes-validations']?.length ?? 0) > 0 || children.some((c) => hasRules(c as StructuralSchema));
    withRules.set(s, known);
  }
  return known;
}

/** A list's merge behaviour under server-side apply and strategic merge, from the schema. */
export function schemaAt(schema: StructuralSchema | undefined, path: string[]): StructuralSchema | undefined {
  let s = schema;
  for (const p of path) {
    if (!s) return undefined;
    if (s.type === 'array') s = s.items;
    if (!s) return undefined;
    s = s.properties?.[p] ?? (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined);
  }
  return s;
}
