import { describe, expect, it } from 'vitest';
import { applyDefaults, prune, type StructuralSchema, validate } from './schema.ts';

const schema: StructuralSchema = {
  type: 'object',
  properties: {
    spec: {
      type: 'object',
      required: ['image'],
      properties: {
        image: { type: 'string', minLength: 1, pattern: '^[^\\s]+$' },
        replicas: { type: 'integer', minimum: 0, maximum: 10, default: 2 },
        port: { 'x-kubernetes-int-or-string': true },
        mode: { type: 'string', enum: ['a', 'b'] },
        tags: { type: 'array', maxItems: 2, items: { type: 'string' }, 'x-kubernetes-list-type': 'set' },
        limits: { type: 'object', additionalProperties: { type: 'string' } },
        free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        nested: { type: 'object', properties: { on: { type: 'boolean', default: true } } },
        maybe: { type: 'string', nullable: true },
        gone: { type: 'string' },
      },
    },
  },
};

const causes = (spec: unknown) => validate({ spec }, schema).map((c) => `${c.field ?? ''}: ${c.message}`);

describe('structural schema validation', () => {
  it.each([
    [{}, ['spec.image: Required value']],
    [{ image: 'x', replicas: 'two' }, ['spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"']],
    [{ image: 'x', replicas: 11 }, ['spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10']],
    [{ image: 'x', replicas: -1 }, ['spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0']],
    [{ image: 'has space' }, ['spec.image: Invalid value: "has space": spec.image in body should match \'^[^\\s]+$\'']],
    [{ image: 'x', mode: 'c' }, ['spec.mode: Unsupported value: "c": supported values: "a", "b"']],
    [{ image: 'x', tags: ['a', 'b', 'c'] }, ['spec.tags: Too many: 3: must have at most 2 items']],
    [{ image: 'x', tags: ['a', 'a'] }, ['spec.tags[1]: Duplicate value: "a"']],
    [{ image: 'x', limits: { cpu: 1 } }, ['spec.limits.cpu: Invalid value: "integer": spec.limits.cpu in body must be of type string: "integer"']],
    [{ image: 'x', port: 8080 }, []],
    [{ image: 'x', port: 'http' }, []],
    [{ image: 'x', port: 1.5 }, ['spec.port: Invalid value: "number": spec.port in body must be of type integer,string: "number"']],
  ])('%j', (spec, expected) => {
    expect(causes(spec)).toEqual(expected);
  });
});

describe('pruning and defaulting', () => {
  it('drops unknown fields (reporting them), keeps preserved ones, drops nulls of non-nullable fields', () => {
    const obj = { apiVersion: 'x/v1', kind: 'X', metadata: { name: 'n' }, spec: { image: 'i', typo: 1, free: { any: 1 }, maybe: null, gone: null, limits: { a: 'b' } }, extra: true };
    expect(prune(obj, schema).sort()).toEqual(['extra', 'spec.typo']);
    expect(obj).toEqual({ apiVersion: 'x/v1', kind: 'X', metadata: { name: 'n' }, spec: { image: 'i', free: { any: 1 }, maybe: null, limits: { a: 'b' } } });
  });

  it('fills defaults of absent fields inside present objects only', () => {
    const obj: Record<string, unknown> = { spec: { image: 'i', nested: {} } };
    applyDefaults(obj, schema);
    expect(obj).toEqual({ spec: { image: 'i', replicas: 2, nested: { on: true } } });
    const none: Record<string, unknown> = {};
    applyDefaults(none, schema);
    expect(none).toEqual({});
  });
});

describe('x-kubernetes-validations (CEL)', () => {
  const withRules: StructuralSchema = {
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        properties: {
          source: {
            type: 'object',
            properties: { file: { type: 'object' }, s3: { type: 'object' } },
            'x-kubernetes-validations': [{ rule: '(has(self.file) ? 1 : 0) + (has(self.s3) ? 1 : 0) == 1', message: 'set exactly one of file, s3' }],
          },
          env: {
            type: 'array',
            items: {
              type: 'object',
              properties: { name: { type: 'string' }, value: { type: 'string' }, valueFrom: { type: 'object' } },
              'x-kubernetes-validations': [{ rule: '!(has(self.value) && has(self.valueFrom))', message: 'value or valueFrom, not both', fieldPath: '.valueFrom' }],
            },
            'x-kubernetes-validations': [{ rule: "self.all(e, e.name != 'PORT')", reason: 'FieldValueForbidden', message: 'PORT is reserved' }],
          },
          window: {
            type: 'object',
            properties: { min: { type: 'integer' }, max: { type: 'integer' } },
            'x-kubernetes-validations': [{ rule: 'self.min <= self.max' }, { rule: 'self.max >= oldSelf.max', message: 'max must not shrink' }],
          },
          requests: {
            type: 'object',
            properties: {
              cpu: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] },
              limit: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] },
            },
            'x-kubernetes-validations': [{ rule: 'quantity(string(self.cpu)).compareTo(quantity(string(self.limit))) <= 0', message: 'cpu must not exceed limit', fieldPath: '.cpu' }],
          },
        },
      },
    },
  };
  const rules = (spec: unknown, old?: unknown) => validate({ spec }, withRules, old === undefined ? undefined : { spec: old }).map((c) => `${c.field ?? ''}: ${c.message}`);

  it.each([
    [{ source: { file: {} } }, []],
    [{ source: { file: {}, s3: {} } }, ['spec.source: Invalid value: "object": set exactly one of file, s3']],
    [{ source: {} }, ['spec.source: Invalid value: "object": set exactly one of file, s3']],
    [{ env: [{ name: 'A', value: 'x', valueFrom: {} }] }, ['spec.env[0].valueFrom: Invalid value: "object": value or valueFrom, not both']],
    [{ env: [{ name: 'PORT', value: '1' }] }, ['spec.env: Forbidden: PORT is reserved']],
    [{ window: { min: 2, max: 1 } }, ['spec.window: Invalid value: "object": failed rule: self.min <= self.max']],
    [{ window: { min: 1 } }, ['spec.window: Invalid value: "object": failed rule: self.min <= self.max (evaluation error: No such key: max)']],
    [{ requests: { cpu: '500m', limit: 1 } }, []],
    [{ requests: { cpu: 2, limit: '1' } }, ['spec.requests.cpu: Invalid value: "object": cpu must not exceed limit']],
  ])('%j', (spec, expected) => {
    expect(rules(spec)).toEqual(expected);
  });

  it('runs a transition rule on an update, against the old value at the same place', () => {
    expect(rules({ window: { min: 1, max: 5 } })).toEqual([]);
    expect(rules({ window: { min: 1, max: 5 } }, { window: { min: 1, max: 4 } })).toEqual([]);
    expect(rules({ window: { min: 1, max: 3 } }, { window: { min: 1, max: 4 } })).toEqual(['spec.window: Invalid value: "object": max must not shrink']);
    expect(rules({ window: { min: 1, max: 3 } }, { source: { file: {} } })).toEqual([]);
  });

  it('reports a rule that does not compile instead of skipping it', () => {
    const schema: StructuralSchema = { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-validations': [{ rule: 'self.duration() > 0' }] } } };
    expect(validate({ spec: {} }, schema).map((c) => c.message)).toEqual([expect.stringMatching(/^Invalid value: "object": failed rule: self.duration\(\) > 0 \(compilation error: .*duration/)]);
  });
});
