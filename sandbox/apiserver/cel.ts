import { type ASTNode, Environment, EvaluationError, ParseError } from '@marcbachmann/cel-js';
import { QuantityValue, readQuantity } from '../../operator/src/api/quantities.ts';
import type { StructuralSchema } from './schema.ts';
import { isObject } from './types.ts';

// CEL for CRD validation rules (x-kubernetes-validations, see
// https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation-rules).
// The language is @marcbachmann/cel-js; this module adds what kube-apiserver adds, with its
// semantics: `self` and `oldSelf` as dyn, values typed by the structural schema, the list library
// (isSorted, sum, min, max) and the quantity library
// (https://kubernetes.io/docs/reference/using-api/cel/#kubernetes-quantity-library) over the
// exact quantities of operator/src/api/quantities.ts. Left out: isInteger/asInteger, which depend
// on how apimachinery happens to store a value, and the quantity arithmetic (add, sub, mul, div,
// divInt); a rule calling them does not compile here, so a CRD carrying one is refused rather
// than its rule skipped. The operator's tests evaluate the CRD's rules in this environment.

export class CelError extends Error {
  override name = 'CelError';
}

function quantity(s: string): QuantityValue {
  const q = readQuantity(s);
  if (typeof q === 'string') throw new CelError(q);
  return q;
}

type Comparable = bigint | number | string;

function listOf(l: unknown[], fn: string): Comparable[] {
  if (!l.every((x) => typeof x === typeof l[0] && ['bigint', 'number', 'string'].includes(typeof x))) {
    throw new CelError(`no such overload: list.${fn}()`);
  }
  return l as Comparable[];
}

function extreme(l: unknown[], fn: 'min' | 'max'): Comparable {
  const items = listOf(l, fn);
  if (items.length === 0) throw new CelError(`${fn} called on empty list`);
  return items.reduce((a, b) => ((fn === 'min' ? b < a : b > a) ? b : a));
}

const environment = new Environment()
  .registerVariable('self', 'dyn')
  .registerVariable('oldSelf', 'dyn')
  // Kubernetes' list library
  .registerFunction('list.isSorted(): bool', (l: unknown[]) => {
    const items = listOf(l, 'isSorted');
    return items.every((x, i) => i === 0 || (items[i - 1] as Comparable) <= x);
  })
  .registerFunction('list.sum(): dyn', (l: unknown[]) => {
    const items = listOf(l, 'sum');
    return items.length === 0 ? 0n : (items as (bigint | number)[]).reduce((a, b) => (a as number) + (b as number));
  })
  .registerFunction('list.min(): dyn', (l: unknown[]) => extreme(l, 'min'))
  .registerFunction('list.max(): dyn', (l: unknown[]) => extreme(l, 'max'))
  // Kubernetes' quantity library
  .registerType('kubernetes.Quantity', QuantityValue)
  .registerFunction('quantity(string): kubernetes.Quantity', quantity)
  .registerFunction('isQuantity(string): bool', (s: string) => typeof readQuantity(s) !== 'string')
  .registerFunction('kubernetes.Quantity.sign(): int', (q: QuantityValue) => q.sign)
  .registerFunction('kubernetes.Quantity.compareTo(kubernetes.Quantity): int', (a: QuantityValue, b: QuantityValue) => BigInt(a.compareTo(b)))
  .registerFunction('kubernetes.Quantity.isLessThan(kubernetes.Quantity): bool', (a: QuantityValue, b: QuantityValue) => a.compareTo(b) < 0)
  .registerFunction('kubernetes.Quantity.isGreaterThan(kubernetes.Quantity): bool', (a: QuantityValue, b: QuantityValue) => a.compareTo(b) > 0)
  .registerFunction('kubernetes.Quantity.asApproximateFloat(): double', (q: QuantityValue) => q.toNumber())
  .registerOperator('kubernetes.Quantity == kubernetes.Quantity', (a: QuantityValue, b: QuantityValue) => a.compareTo(b) === 0);

/** Whether an expression reads a variable (a transition rule reads oldSelf). */
function reads(node: unknown, name: string): boolean {
  if (Array.isArray(node)) return node.some((n) => reads(n, name));
  if (!isObject(node)) return false;
  const n = node as unknown as ASTNode;
  if (n.op === 'id') return n.args === name;
  return reads(n.args, name);
}

export interface Program {
  (vars: { self: unknown; oldSelf?: unknown }): unknown;
  /** A transition rule: the API server evaluates it only on update, where an old value exists. */
  transition: boolean;
}

/** Compiles a rule as kube-apiserver does when it accepts a CRD; throws CelError naming the fault. */
export function compile(source: string): Program {
  let parsed: ReturnType<Environment['parse']>;
  try {
    parsed = environment.parse(source);
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    throw new CelError(err.message.split('\n')[0] ?? 'syntax error');
  }
  const checked = parsed.check();
  if (!checked.valid) throw new CelError(checked.error?.message.split('\n')[0] ?? 'type error');
  if (checked.type !== 'bool' && checked.type !== 'dyn') throw new CelError(`rule must evaluate to bool, not ${checked.type}`);
  const program = ((vars) => {
    try {
      return parsed(vars);
    } catch (err) {
      if (err instanceof CelError) throw err;
      if (!(err instanceof EvaluationError)) throw err;
      throw new CelError(err.message.split('\n')[0] ?? 'evaluation error');
    }
  }) as Program;
  program.transition = reads(parsed.ast, 'oldSelf');
  return program;
}

/**
 * A JSON value as CEL sees it under its schema: integers as int, numbers as double (a whole
 * JSON number in a `number` field too), int-or-string as it came, unknown fields as decoded.
 */
export function toCel(schema: StructuralSchema | undefined, v: unknown): unknown {
  if (Array.isArray(v)) return v.map((e) => toCel(schema?.items, e));
  if (isObject(v)) {
    const additional = typeof schema?.additionalProperties === 'object' ? schema.additionalProperties : undefined;
    return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, toCel(schema?.properties?.[k] ?? additional, e)]));
  }
  if (typeof v !== 'number') return v;
  if (schema?.type === 'number') return v;
  return Number.isInteger(v) ? BigInt(v) : v;
}
