import { deepEqual } from './json.ts';
import { isObject } from './types.ts';

// A subset of CEL (https://github.com/google/cel-spec) for CRD validation rules
// (x-kubernetes-validations, https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation-rules):
// literals, lists and maps, field selection, indexing, `has()`, the operators (! - * / % + < <=
// > >= == != in && || ?:), size(), string startsWith/endsWith/contains/matches, the list
// macros all/exists/exists_one/map/filter, and Kubernetes' list functions isSorted/sum/min/max. A rule outside the subset does not compile, and
// the caller skips it (documented in docs/sandbox.md).

export class CelError extends Error {
  override name = 'CelError';
}

type Node =
  | { k: 'lit'; v: unknown }
  | { k: 'id'; name: string }
  | { k: 'sel'; obj: Node; field: string }
  | { k: 'idx'; obj: Node; index: Node }
  | { k: 'call'; fn: string; target: Node | undefined; args: Node[] }
  | { k: 'list'; items: Node[] }
  | { k: 'map'; entries: [Node, Node][] }
  | { k: 'un'; op: string; x: Node }
  | { k: 'bin'; op: string; l: Node; r: Node }
  | { k: 'cond'; c: Node; a: Node; b: Node };

type Token = { t: 'num' | 'str' | 'id' | 'op'; v: string | number };

const OPERATORS = ['&&', '||', '==', '!=', '<=', '>=', '<', '>', '!', '?', ':', '+', '-', '*', '/', '%', '.', ',', '(', ')', '[', ']', '{', '}'];

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i] ?? '';
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const num = /^(\d+\.\d+|\d+)u?/.exec(src.slice(i));
    if (num) {
      out.push({ t: 'num', v: Number(num[1]) });
      i += num[0].length;
      continue;
    }
    if (ch === '"' || ch === "'") {
      let j = i + 1;
      let s = '';
      while (j < src.length && src[j] !== ch) {
        if (src[j] === '\\') {
          const next = src[j + 1] ?? '';
          s += next === 'n' ? '\n' : next === 't' ? '\t' : next;
          j += 2;
        } else s += src[j++];
      }
      if (j >= src.length) throw new CelError('unterminated string');
      out.push({ t: 'str', v: s });
      i = j + 1;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (id) {
      out.push({ t: 'id', v: id[0] });
      i += id[0].length;
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i));
    if (!op) throw new CelError(`unexpected character ${JSON.stringify(ch)}`);
    out.push({ t: 'op', v: op });
    i += op.length;
  }
  return out;
}

class Parser {
  #tokens: Token[];
  #at = 0;

  constructor(tokens: Token[]) {
    this.#tokens = tokens;
  }

  parse(): Node {
    const node = this.#expr();
    if (this.#at < this.#tokens.length) throw new CelError(`unexpected ${String(this.#tokens[this.#at]?.v)}`);
    return node;
  }

  #peek(v: string): boolean {
    const tok = this.#tokens[this.#at];
    return tok !== undefined && (tok.t === 'op' || tok.t === 'id') && tok.v === v;
  }

  #eat(v: string): boolean {
    if (!this.#peek(v)) return false;
    this.#at++;
    return true;
  }

  #expect(v: string): void {
    if (!this.#eat(v)) throw new CelError(`expected ${v}`);
  }

  #expr(): Node {
    const c = this.#binary(0);
    if (!this.#eat('?')) return c;
    const a = this.#binary(0);
    this.#expect(':');
    return { k: 'cond', c, a, b: this.#expr() };
  }

  static readonly levels = [['||'], ['&&'], ['==', '!=', '<', '<=', '>', '>=', 'in'], ['+', '-'], ['*', '/', '%']];

  #binary(level: number): Node {
    if (level >= Parser.levels.length) return this.#unary();
    let l = this.#binary(level + 1);
    for (;;) {
      const op = Parser.levels[level]?.find((o) => this.#peek(o));
      if (!op) return l;
      this.#at++;
      l = { k: 'bin', op, l, r: this.#binary(level + 1) };
    }
  }

  #unary(): Node {
    if (this.#eat('!')) return { k: 'un', op: '!', x: this.#unary() };
    if (this.#eat('-')) return { k: 'un', op: '-', x: this.#unary() };
    return this.#member();
  }

  #args(close: string): Node[] {
    const args: Node[] = [];
    if (this.#eat(close)) return args;
    do args.push(this.#expr());
    while (this.#eat(','));
    this.#expect(close);
    return args;
  }

  #member(): Node {
    let node = this.#primary();
    for (;;) {
      if (this.#eat('.')) {
        const tok = this.#tokens[this.#at++];
        if (tok?.t !== 'id') throw new CelError('expected a field name');
        const field = String(tok.v);
        node = this.#eat('(') ? { k: 'call', fn: field, target: node, args: this.#args(')') } : { k: 'sel', obj: node, field };
      } else if (this.#eat('[')) {
        const index = this.#expr();
        this.#expect(']');
        node = { k: 'idx', obj: node, index };
      } else return node;
    }
  }

  #primary(): Node {
    const tok = this.#tokens[this.#at++];
    if (!tok) throw new CelError('unexpected end of expression');
    if (tok.t === 'num' || tok.t === 'str') return { k: 'lit', v: tok.v };
    if (tok.t === 'id') {
      const name = String(tok.v);
      if (name === 'true' || name === 'false') return { k: 'lit', v: name === 'true' };
      if (name === 'null') return { k: 'lit', v: null };
      if (this.#eat('(')) return { k: 'call', fn: name, target: undefined, args: this.#args(')') };
      return { k: 'id', name };
    }
    if (tok.v === '(') {
      const inner = this.#expr();
      this.#expect(')');
      return inner;
    }
    if (tok.v === '[') return { k: 'list', items: this.#args(']') };
    if (tok.v === '{') {
      const entries: [Node, Node][] = [];
      if (!this.#eat('}')) {
        do {
          const key = this.#expr();
          this.#expect(':');
          entries.push([key, this.#expr()]);
        } while (this.#eat(','));
        this.#expect('}');
      }
      return { k: 'map', entries };
    }
    throw new CelError(`unexpected ${String(tok.v)}`);
  }
}

const MACROS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);
const LIST_FUNCTIONS = new Set(['isSorted', 'sum', 'min', 'max']);
const FUNCTIONS = new Set(['has', 'size', 'startsWith', 'endsWith', 'contains', 'matches', 'lowerAscii', 'upperAscii', 'int', 'string', 'double', 'bool', ...MACROS, ...LIST_FUNCTIONS]);

function check(node: Node, bound: Set<string>): void {
  switch (node.k) {
    case 'lit':
      return;
    case 'id':
      if (!bound.has(node.name)) throw new CelError(`undeclared reference to '${node.name}'`);
      return;
    case 'sel':
      return check(node.obj, bound);
    case 'idx':
      check(node.obj, bound);
      return check(node.index, bound);
    case 'list':
      return node.items.forEach((n) => check(n, bound));
    case 'map':
      return node.entries.forEach(([a, b]) => {
        check(a, bound);
        check(b, bound);
      });
    case 'un':
      return check(node.x, bound);
    case 'bin':
      check(node.l, bound);
      return check(node.r, bound);
    case 'cond':
      check(node.c, bound);
      check(node.a, bound);
      return check(node.b, bound);
    case 'call': {
      if (!FUNCTIONS.has(node.fn)) throw new CelError(`undeclared function '${node.fn}'`);
      if (node.target) check(node.target, bound);
      if (node.fn === 'has') {
        if (node.args.length !== 1 || node.args[0]?.k !== 'sel') throw new CelError('has() needs a field selection');
        return check(node.args[0], bound);
      }
      if (MACROS.has(node.fn)) {
        const v = node.args[0];
        if (!node.target || node.args.length !== 2 || v?.k !== 'id') throw new CelError(`${node.fn}() needs a variable and an expression`);
        return check(node.args[1] as Node, new Set([...bound, v.name]));
      }
      return node.args.forEach((a) => check(a, bound));
    }
  }
}

export type Program = (vars: Record<string, unknown>) => unknown;

/** Compiles a rule over the given variables (self, oldSelf); throws CelError outside the subset. */
export function compile(source: string, variables: string[] = ['self']): Program {
  const ast = new Parser(tokenize(source)).parse();
  check(ast, new Set(variables));
  return (vars) => evaluate(ast, new Map(Object.entries(vars)));
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  if (isObject(v)) return 'map';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'double';
  return typeof v === 'boolean' ? 'bool' : typeof v;
}

function size(v: unknown): number {
  if (typeof v === 'string') return [...v].length;
  if (Array.isArray(v)) return v.length;
  if (isObject(v)) return Object.keys(v).length;
  throw new CelError(`no such overload: size(${typeName(v)})`);
}

function asBool(v: unknown): boolean {
  if (typeof v !== 'boolean') throw new CelError(`no such overload: expected bool, got ${typeName(v)}`);
  return v;
}

function select(obj: unknown, field: string): unknown {
  if (!isObject(obj) || obj[field] === undefined) throw new CelError(`no such key: ${field}`);
  return obj[field];
}

type Outcome = { ok: true; v: unknown } | { ok: false; err: CelError };

function attempt(node: Node, env: Map<string, unknown>): Outcome {
  try {
    return { ok: true, v: evaluate(node, env) };
  } catch (err) {
    if (err instanceof CelError) return { ok: false, err };
    throw err;
  }
}

function logical(op: string, l: Node, r: Node, env: Map<string, unknown>): boolean {
  // CEL's && and || are commutative over errors: either side may decide.
  const decisive = op === '||';
  const a = attempt(l, env);
  if (a.ok && asBool(a.v) === decisive) return decisive;
  const b = attempt(r, env);
  if (b.ok && asBool(b.v) === decisive) return decisive;
  if (!a.ok) throw a.err;
  if (!b.ok) throw b.err;
  return !decisive;
}

function arithmetic(op: string, a: unknown, b: unknown): unknown {
  if (op === '+') {
    if (typeof a === 'string' && typeof b === 'string') return a + b;
    if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
  }
  if (typeof a !== 'number' || typeof b !== 'number') throw new CelError(`no such overload: ${typeName(a)} ${op} ${typeName(b)}`);
  const int = Number.isInteger(a) && Number.isInteger(b);
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      if (b === 0) throw new CelError('division by zero');
      return int ? Math.trunc(a / b) : a / b;
    default:
      if (b === 0) throw new CelError('modulus by zero');
      return a % b;
  }
}

function compare(op: string, a: unknown, b: unknown): boolean {
  if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string')) {
    throw new CelError(`no such overload: ${typeName(a)} ${op} ${typeName(b)}`);
  }
  const x = a as number | string;
  const y = b as number | string;
  return op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : x >= y;
}

function macro(fn: string, range: unknown, variable: string, body: Node, env: Map<string, unknown>): unknown {
  const items = Array.isArray(range) ? range : isObject(range) ? Object.keys(range) : undefined;
  if (!items) throw new CelError(`no such overload: ${typeName(range)}.${fn}()`);
  const run = (item: unknown) => evaluate(body, new Map([...env, [variable, item]]));
  switch (fn) {
    case 'all':
      return items.every((i) => asBool(run(i)));
    case 'exists':
      return items.some((i) => asBool(run(i)));
    case 'exists_one':
      return items.filter((i) => asBool(run(i))).length === 1;
    case 'map':
      return items.map(run);
    default:
      return items.filter((i) => asBool(run(i)));
  }
}

function listFunction(fn: string, list: unknown): unknown {
  if (!Array.isArray(list) || !list.every((x) => typeof x === typeof list[0] && (typeof x === 'number' || typeof x === 'string'))) {
    throw new CelError(`no such overload: ${typeName(list)}.${fn}()`);
  }
  const items = list as (number | string)[];
  switch (fn) {
    case 'isSorted':
      return items.every((x, i) => i === 0 || (items[i - 1] as number | string) <= x);
    case 'sum':
      return (items as number[]).reduce((n, x) => n + x, 0);
    default: {
      if (items.length === 0) throw new CelError(`${fn}() of an empty list`);
      const sorted = [...items].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
      return fn === 'min' ? sorted[0] : sorted.at(-1);
    }
  }
}

function call(node: Extract<Node, { k: 'call' }>, env: Map<string, unknown>): unknown {
  if (node.fn === 'has') {
    const sel = node.args[0] as Extract<Node, { k: 'sel' }>;
    const obj = evaluate(sel.obj, env);
    return isObject(obj) && obj[sel.field] !== undefined;
  }
  if (MACROS.has(node.fn)) {
    const v = node.args[0] as Extract<Node, { k: 'id' }>;
    return macro(node.fn, evaluate(node.target as Node, env), v.name, node.args[1] as Node, env);
  }
  const args = [...(node.target ? [node.target] : []), ...node.args].map((a) => evaluate(a, env));
  const [a, b] = args;
  if (LIST_FUNCTIONS.has(node.fn)) return listFunction(node.fn, a);
  switch (node.fn) {
    case 'size':
      return size(a);
    case 'int':
      return Math.trunc(Number(a));
    case 'double':
      return Number(a);
    case 'string':
      return typeof a === 'string' ? a : JSON.stringify(a);
    case 'bool':
      return a === true || a === 'true';
  }
  if (typeof a !== 'string') throw new CelError(`no such overload: ${typeName(a)}.${node.fn}()`);
  switch (node.fn) {
    case 'lowerAscii':
      return a.toLowerCase();
    case 'upperAscii':
      return a.toUpperCase();
  }
  if (typeof b !== 'string') throw new CelError(`no such overload: string.${node.fn}(${typeName(b)})`);
  switch (node.fn) {
    case 'startsWith':
      return a.startsWith(b);
    case 'endsWith':
      return a.endsWith(b);
    case 'contains':
      return a.includes(b);
    default:
      return new RegExp(b, 'u').test(a);
  }
}

function evaluate(node: Node, env: Map<string, unknown>): unknown {
  switch (node.k) {
    case 'lit':
      return node.v;
    case 'id':
      return env.get(node.name);
    case 'sel':
      return select(evaluate(node.obj, env), node.field);
    case 'idx': {
      const obj = evaluate(node.obj, env);
      const index = evaluate(node.index, env);
      if (Array.isArray(obj) && typeof index === 'number') {
        if (index < 0 || index >= obj.length) throw new CelError(`index out of bounds: ${index}`);
        return obj[index];
      }
      return select(obj, String(index));
    }
    case 'list':
      return node.items.map((n) => evaluate(n, env));
    case 'map':
      return Object.fromEntries(node.entries.map(([k, v]) => [String(evaluate(k, env)), evaluate(v, env)]));
    case 'un': {
      const x = evaluate(node.x, env);
      if (node.op === '!') return !asBool(x);
      if (typeof x !== 'number') throw new CelError(`no such overload: -${typeName(x)}`);
      return -x;
    }
    case 'cond':
      return asBool(evaluate(node.c, env)) ? evaluate(node.a, env) : evaluate(node.b, env);
    case 'call':
      return call(node, env);
    case 'bin': {
      if (node.op === '&&' || node.op === '||') return logical(node.op, node.l, node.r, env);
      const a = evaluate(node.l, env);
      const b = evaluate(node.r, env);
      switch (node.op) {
        case '==':
          return deepEqual(a, b);
        case '!=':
          return !deepEqual(a, b);
        case 'in':
          if (Array.isArray(b)) return b.some((x) => deepEqual(x, a));
          if (isObject(b)) return Object.hasOwn(b, String(a));
          throw new CelError(`no such overload: ${typeName(a)} in ${typeName(b)}`);
        case '<':
        case '<=':
        case '>':
        case '>=':
          return compare(node.op, a, b);
        default:
          return arithmetic(node.op, a, b);
      }
    }
  }
}
