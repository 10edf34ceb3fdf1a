import { badRequest } from './errors.ts';
import type { KubeObject } from './types.ts';

// Label and field selectors, in the string syntax of list and watch query parameters
// (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors).

type Requirement = { key: string; op: 'in' | 'notin'; values: string[] } | { key: string; op: 'exists' | 'notexists' };

export type LabelSelector = (labels: Record<string, string> | null | undefined) => boolean;

const everything: LabelSelector = () => true;

function splitTopLevel(text: string): string[] {
  // Commas inside `in (a, b)` belong to the set, not to the selector.
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

const setForm = /^([A-Za-z0-9._/-]+)\s+(in|notin)\s*\(([^)]*)\)$/;
const equalityForm = /^([A-Za-z0-9._/-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)$/;
const existsForm = /^(!?)\s*([A-Za-z0-9._/-]+)$/;

function parseRequirement(part: string): Requirement {
  const set = setForm.exec(part);
  if (set) {
    const values = (set[3] ?? '')
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v.length > 0);
    return { key: set[1] ?? '', op: set[2] === 'in' ? 'in' : 'notin', values };
  }
  const eq = equalityForm.exec(part);
  if (eq) return { key: eq[1] ?? '', op: eq[2] === '!=' ? 'notin' : 'in', values: [eq[3] ?? ''] };
  const exists = existsForm.exec(part);
  if (exists) return { key: exists[2] ?? '', op: exists[1] ? 'notexists' : 'exists' };
  throw badRequest(`unable to parse requirement: found '${part}', expected: in, notin, =, ==, !=, gt, lt`);
}

function matches(req: Requirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, req.key);
  switch (req.op) {
    case 'exists':
      return has;
    case 'notexists':
      return !has;
    case 'in':
      return has && req.values.includes(labels[req.key] ?? '');
    case 'notin':
      return !has || !req.values.includes(labels[req.key] ?? '');
  }
}

export function parseLabelSelector(text: string | null | undefined): LabelSelector {
  if (!text) return everything;
  const requirements = splitTopLevel(text).map(parseRequirement);
  return (labels) => {
    const l = labels ?? {};
    return requirements.every((r) => matches(r, l));
  };
}

/** A structured selector (`matchLabels`, `matchExpressions`) as Deployments and Services carry. */
export type StructuredSelector = {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
};

export function selectorToString(selector: StructuredSelector | Record<string, string> | undefined): string {
  if (!selector) return '';
  const structured = 'matchLabels' in selector || 'matchExpressions' in selector;
  const matchLabels = (structured ? (selector as StructuredSelector).matchLabels : selector) as Record<string, string> | undefined;
  const parts = Object.entries(matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of structured ? ((selector as StructuredSelector).matchExpressions ?? []) : []) {
    const op = e.operator.toLowerCase();
    if (op === 'exists') parts.push(e.key);
    else if (op === 'doesnotexist') parts.push(`!${e.key}`);
    else parts.push(`${e.key} ${op} (${(e.values ?? []).join(',')})`);
  }
  return parts.join(',');
}

export type FieldSelector = (obj: KubeObject) => boolean;

/** Reads a dotted path of an object as a field selector sees it: absent is "". */
export function fieldValue(obj: unknown, path: string): string {
  let node: unknown = obj;
  for (const part of path.split('.')) {
    if (typeof node !== 'object' || node === null) return '';
    node = (node as Record<string, unknown>)[part];
  }
  if (node === undefined || node === null) return '';
  return typeof node === 'string' ? node : String(node);
}

export type ParsedFieldSelector = {
  matches: FieldSelector;
  /** False when the selector selects everything (callers skip building what it would read). */
  filters: boolean;
  name: string | undefined;
  namespace: string | undefined;
};

export function parseFieldSelector(text: string | null | undefined, supported: string[]): ParsedFieldSelector {
  if (!text) return { matches: () => true, filters: false, name: undefined, namespace: undefined };
  const terms = text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0)
    .map((term) => {
      const m = /^([^!=]+?)\s*(==|=|!=)\s*(.*)$/.exec(term);
      if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
      const field = m[1] ?? '';
      if (field !== 'metadata.name' && field !== 'metadata.namespace' && !supported.includes(field)) {
        throw badRequest(`field label not supported: ${field}`);
      }
      return { field, negate: m[2] === '!=', value: m[3] ?? '' };
    });
  const exact = (field: string) => terms.find((t) => t.field === field && !t.negate)?.value;
  return {
    matches: (obj) => terms.every((t) => (fieldValue(obj, t.field) === t.value) !== t.negate),
    filters: terms.length > 0,
    name: exact('metadata.name'),
    namespace: exact('metadata.namespace'),
  };
}
