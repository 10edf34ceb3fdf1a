// What the chart's sources must hold that no rendering shows: the values schema closed at every
// level, and templates wired to the operator's configuration and RBAC files. The real helm renders,
// validates and installs the chart in test/helm.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../operator/src/config.ts';
import { isObject } from '../operator/src/json.ts';

const chart = join(import.meta.dirname, '..', 'charts', 'imageops');

describe('values.schema.json', () => {
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
