import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.ts';
import { applyJsonPatch, applyMergePatch, strategicMerge } from './patch.ts';

const pod = {
  spec: {
    containers: [
      { name: 'a', image: 'a:1', ports: [{ containerPort: 80, protocol: 'TCP' }], env: [{ name: 'X', value: '1' }] },
      { name: 'b', image: 'b:1' },
    ],
    tolerations: [{ key: 't' }],
  },
  metadata: { finalizers: ['f1'] },
};

describe('strategic merge patch', () => {
  it.each([
    ['merges list items by merge key', { spec: { containers: [{ name: 'b', image: 'b:2' }] } }, (r: any) => expect(r.spec.containers.map((c: any) => c.image)).toEqual(['a:1', 'b:2'])],
    ['appends new keyed items', { spec: { containers: [{ name: 'c', image: 'c:1' }] } }, (r: any) => expect(r.spec.containers.map((c: any) => c.name)).toEqual(['a', 'b', 'c'])],
    ['deletes an item with $patch: delete', { spec: { containers: [{ name: 'a', $patch: 'delete' }] } }, (r: any) => expect(r.spec.containers.map((c: any) => c.name)).toEqual(['b'])],
    ['replaces a list with $patch: replace', { spec: { containers: [{ name: 'z', image: 'z' }, { $patch: 'replace' }] } }, (r: any) => expect(r.spec.containers).toEqual([{ name: 'z', image: 'z' }])],
    [
      'merges nested keyed lists (env by name)',
      { spec: { containers: [{ name: 'a', env: [{ name: 'Y', value: '2' }] }] } },
      (r: any) => expect(r.spec.containers[0].env.map((e: any) => e.name)).toEqual(['X', 'Y']),
    ],
    [
      'merges container ports by containerPort',
      { spec: { containers: [{ name: 'a', ports: [{ containerPort: 80, name: 'http' }] }] } },
      (r: any) => expect(r.spec.containers[0].ports).toEqual([{ containerPort: 80, protocol: 'TCP', name: 'http' }]),
    ],
    ['replaces atomic lists', { spec: { tolerations: [{ key: 'u' }] } }, (r: any) => expect(r.spec.tolerations).toEqual([{ key: 'u' }])],
    ['unions finalizers', { metadata: { finalizers: ['f2', 'f1'] } }, (r: any) => expect(r.metadata.finalizers).toEqual(['f1', 'f2'])],
    ['deletes from a primitive list', { metadata: { '$deleteFromPrimitiveList/finalizers': ['f1'] } }, (r: any) => expect(r.metadata.finalizers).toEqual([])],
    ['orders by $setElementOrder', { spec: { '$setElementOrder/containers': [{ name: 'b' }, { name: 'a' }] } }, (r: any) => expect(r.spec.containers.map((c: any) => c.name)).toEqual(['b', 'a'])],
    ['deletes fields set to null', { spec: { tolerations: null } }, (r: any) => expect(r.spec.tolerations).toBeUndefined()],
  ])('%s', (_name, patch, check) => {
    const before = structuredClone(pod);
    check(strategicMerge(pod, patch));
    expect(pod).toEqual(before);
  });

  it('keeps only $retainKeys', () => {
    const d = { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } };
    expect(strategicMerge(d, { strategy: { type: 'Recreate', $retainKeys: ['type'] } })).toEqual({ strategy: { type: 'Recreate' } });
  });
});

describe('merge patch (RFC 7386)', () => {
  it.each([
    [{ a: 1, b: { c: 2 } }, { b: { c: null, d: 3 } }, { a: 1, b: { d: 3 } }],
    [{ a: [1, 2] }, { a: [3] }, { a: [3] }],
    [{ a: 1 }, { a: { x: 1 } }, { a: { x: 1 } }],
  ])('%j + %j = %j', (doc, patch, expected) => {
    expect(applyMergePatch(doc, patch)).toEqual(expected);
  });
});

describe('JSON patch (RFC 6902)', () => {
  it('adds, removes, replaces, moves, copies and tests', () => {
    const doc = { a: { b: 1 }, list: [1, 2] };
    const out = applyJsonPatch(doc, [
      { op: 'add', path: '/list/-', value: 3 },
      { op: 'add', path: '/list/0', value: 0 },
      { op: 'replace', path: '/a/b', value: 2 },
      { op: 'copy', from: '/a', path: '/c' },
      { op: 'move', from: '/c/b', path: '/d' },
      { op: 'remove', path: '/list/1' },
      { op: 'test', path: '/d', value: 2 },
      { op: 'add', path: '/e~1f', value: true },
    ]);
    expect(out).toEqual({ a: { b: 2 }, list: [0, 2, 3], c: {}, d: 2, 'e/f': true });
    expect(doc).toEqual({ a: { b: 1 }, list: [1, 2] });
  });

  it.each([
    [[{ op: 'remove', path: '/missing' }], /missing/],
    [[{ op: 'replace', path: '/missing', value: 1 }], /missing/],
    [[{ op: 'test', path: '/a', value: 2 }], /test failed/],
    [[{ op: 'add', path: '/list/9', value: 1 }], /invalid index/],
    [[{ op: 'bogus', path: '/a' }], /Unexpected kind/],
  ])('refuses %j with 422', (ops, message) => {
    let err: unknown;
    try {
      applyJsonPatch({ a: 1, list: [] }, ops);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe(422);
    expect((err as ApiError).message).toMatch(message);
  });
});
