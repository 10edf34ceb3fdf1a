// The Helm chart's values schema, held to the values users write. helm itself cannot run here, so
// this checks what helm checks before rendering: the merged values against values.schema.json.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../operator/src/config.ts';

const chart = join(import.meta.dirname, '..', 'charts', 'imageops');
const fixtures = join(import.meta.dirname, 'fixtures', 'chart-values');
const defaults: unknown = parse(readFileSync(join(chart, 'values.yaml'), 'utf8'));
const validate = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(
  JSON.parse(readFileSync(join(chart, 'values.schema.json'), 'utf8')),
);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Helm's coalescing of user values over the chart's: maps merge, everything else replaces. */
function coalesce(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = coalesce(base[k], v);
  return out;
}

function errorsFor(overrides: unknown): string[] {
  if (validate(coalesce(defaults, overrides))) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

describe('values.schema.json', () => {
  it('accepts the chart defaults', () => {
    expect(errorsFor({})).toEqual([]);
  });

  it.each([
    ['one watched namespace', { watchNamespaces: ['shop'] }],
    ['several watched namespaces', { watchNamespaces: ['shop', 'media'] }],
    ['a Prometheus URL', { prometheus: { url: 'http://prometheus.monitoring:9090' } }],
    ['numeric quantities', { resources: { limits: { cpu: 1, memory: '256Mi' } } }],
    ['one replica without leader election', { replicaCount: 1, leaderElection: { enabled: false } }],
    ['a ServiceMonitor', { metrics: { port: 9090, serviceMonitor: { enabled: true, interval: '15s', labels: { release: 'kps' } } } }],
  ])('accepts %s', (_name, overrides) => {
    expect(errorsFor(overrides)).toEqual([]);
  });

  const invalid = readdirSync(fixtures).filter((f) => f.endsWith('.yaml'));

  it('has a set of invalid values files to refuse', () => {
    expect(invalid.length).toBeGreaterThanOrEqual(15);
  });

  it.each(invalid)('refuses %s', (file) => {
    const errors = errorsFor(parse(readFileSync(join(fixtures, file), 'utf8')));
    expect(errors.length).toBeGreaterThan(0);
  });

  it('names the misspelt key of a typo', () => {
    const errors = errorsFor({ image: { repository: 'x', pullpolicy: 'Always' } });
    expect(errors.join('\n')).toContain('"additionalProperty":"pullpolicy"');
    expect(errors.join('\n')).toContain('/image');
  });

  it('forbids unknown keys at every level of the schema', () => {
    const open: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (!isObject(node)) return;
      if (node.type === 'object' && node.properties && node.additionalProperties !== false) open.push(path);
      // if/then only constrain properties defined (closed) elsewhere.
      for (const [k, v] of Object.entries(node)) if (k !== 'if' && k !== 'then') walk(v, `${path}/${k}`);
    };
    walk(JSON.parse(readFileSync(join(chart, 'values.schema.json'), 'utf8')), '');
    expect(open).toEqual([]);
  });
});

describe('templates', () => {
  const template = (name: string) => readFileSync(join(chart, 'templates', name), 'utf8');

  it("set the operator's environment variables by their real names, all of them", () => {
    const set = [...template('deployment.yaml').matchAll(/^\s+- name: ([A-Z][A-Z0-9_]*)$/gm)].map((m) => m[1]);
    // NODE_OPTIONS is Node's own: the heap limit that bounds the operator's RSS.
    expect(set.sort()).toEqual([...Object.keys(ConfigSchema.shape), 'NODE_OPTIONS'].sort());
    expect(template('deployment.yaml')).toContain('value: "--max-old-space-size={{ .Values.heapLimitMiB }}"');
  });

  it('take the RBAC rules from files/, the one definition test/rbac.test.ts proves', () => {
    const rbac = template('rbac.yaml');
    expect(rbac).toContain('.Files.Get "files/operator-rules.yaml"');
    expect(rbac).toContain('.Files.Get "files/leader-election-rules.yaml"');
    expect(rbac).not.toMatch(/^\s*verbs:/m);
  });
});
