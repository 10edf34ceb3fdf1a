// What a CRD's OpenAPI schema needs beyond what zod expresses by itself: CEL
// rules, int-or-string, list semantics. Kept in a zod registry so the schema in
// image-service.ts stays the single source for both validation and the CRD.
import { z } from 'zod';

export interface CelRule {
  /** CEL expression, evaluated by the API server with `self` bound to the annotated node. */
  rule: string;
  message: string;
  /** The field the message is about, relative to `self` (e.g. ".stepWeights"). */
  fieldPath?: string;
}

export interface CrdMeta {
  validations?: CelRule[];
  intOrString?: boolean;
  pattern?: string;
  listType?: 'atomic' | 'set' | 'map';
  listMapKeys?: string[];
  /** Of a map (a zod record). */
  maxProperties?: number;
  /** Of an int-or-string, whose string form zod bounds inside a union. */
  maxLength?: number;
}

export const crdMeta = z.registry<CrdMeta>();

/** Attaches CRD-only metadata to a schema instance (merging with what it already has). */
export function withCrd<T extends z.ZodType>(schema: T, meta: CrdMeta): T {
  const prior = crdMeta.get(schema) ?? {};
  const validations = [...(prior.validations ?? []), ...(meta.validations ?? [])];
  crdMeta.add(schema, { ...prior, ...meta, ...(validations.length ? { validations } : {}) });
  return schema;
}

/** A map of at most `max` entries, in zod and as the CRD's maxProperties. */
export function maxEntries<T extends z.ZodType<Record<string, unknown>>>(schema: T, max: number, what: string): T {
  const bounded = schema.refine((r) => Object.keys(r).length <= max, `${what} must have at most ${max} entries`) as unknown as T;
  return withCrd(bounded, { maxProperties: max });
}

export interface CrossFieldRule<T> {
  /** The same rule in CEL, for the API server; absent when the schema already makes the server enforce it. */
  cel?: string;
  /** The rule in TypeScript, for the operator (which also sees objects no server validated). */
  holds: (value: T) => boolean;
  message: string;
  /** Field named by the message, relative to the object, e.g. ["stepWeights"]. */
  path?: string[];
}

// zod runs refinements even after a field's own check failed (e.g. an unparsable
// quantity); that field already has its issue, so a rule that cannot judge stays quiet.
function holdsOrUnjudgeable<T>(rule: CrossFieldRule<T>, value: T): boolean {
  try {
    return rule.holds(value);
  } catch {
    return true;
  }
}

/**
 * A cross-field rule checked twice, with one meaning: by zod in the operator and by
 * CEL in the API server. Tests hold the two against each other on the same inputs.
 */
export function crossField<T extends z.ZodType>(schema: T, rules: CrossFieldRule<z.output<T>>[]): T {
  const checked = schema.superRefine((value, ctx) => {
    for (const r of rules) {
      if (!holdsOrUnjudgeable(r, value)) ctx.addIssue({ code: 'custom', message: r.message, path: r.path ?? [] });
    }
  }) as unknown as T;
  return withCrd(checked, {
    validations: rules.flatMap((r) => (r.cel === undefined ? [] : [{ rule: r.cel, message: r.message, ...(r.path?.length ? { fieldPath: r.path.map((p) => `.${p}`).join('') } : {}) }])),
  });
}
