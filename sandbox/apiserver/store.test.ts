import { describe, expect, it } from 'vitest';
import { type Change, Store } from './store.ts';
import type { KubeObject } from './types.ts';

const obj = (ns: string, name: string, uid: string, owners: string[] = []): KubeObject => ({
  metadata: { namespace: ns, name, uid, ownerReferences: owners.map((o) => ({ apiVersion: 'v1', kind: 'X', name: o, uid: o })) },
});

describe('store', () => {
  it('lists in key order, by namespace, and after a key', () => {
    const s = new Store();
    for (const [ns, name] of [
      ['b', 'x'],
      ['a', 'z'],
      ['a', 'y'],
      ['a-b', 'w'],
    ] as const)
      s.create('c', obj(ns, name, `${ns}${name}`));
    expect([...s.list('c', undefined)].map(([k]) => k)).toEqual(['a-b/w', 'a/y', 'a/z', 'b/x']);
    expect([...s.list('c', 'a')].map(([k]) => k)).toEqual(['a/y', 'a/z']);
    expect([...s.list('c', undefined, 'a/y')].map(([k]) => k)).toEqual(['a/z', 'b/x']);
  });

  it('gives every write a new resourceVersion and resumes changes after one', () => {
    const s = new Store();
    const seen: Change[] = [];
    s.onChange((c) => seen.push(c));
    const a = s.create('c', obj('n', 'a', '1'));
    const rv = Number(a.metadata.resourceVersion);
    s.update('c', { ...obj('n', 'a', '1'), data: 1 });
    const gone = s.remove('c', 'n', 'a');
    expect(Number(gone?.metadata.resourceVersion)).toBe(rv + 2);
    expect(seen.map((c) => c.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
    expect(s.changesSince('c', rv)?.map((c) => c.type)).toEqual(['MODIFIED', 'DELETED']);
  });

  it('expires resourceVersions that fell out of the history or were compacted', () => {
    const s = new Store({ historyLimit: 16 });
    const first = s.create('c', obj('n', 'o0', 'u0'));
    for (let i = 1; i < 40; i++) s.create('c', obj('n', `o${i}`, `u${i}`));
    expect(s.changesSince('c', Number(first.metadata.resourceVersion))).toBeUndefined();
    expect(s.changesSince('c', s.rv)?.length).toBe(0);
    const rv = s.rv;
    s.create('c', obj('n', 'late', 'late'));
    expect(s.changesSince('c', rv)?.length).toBe(1);
    s.compact();
    expect(s.changesSince('c', rv)).toBeUndefined();
  });

  it('indexes objects by uid and dependents by owner', () => {
    const s = new Store();
    s.create('c', obj('n', 'owner', 'o'));
    s.create('c', obj('n', 'child', 'c1', ['o']));
    expect(s.dependentsOf('o').map((d) => d.object.metadata.name)).toEqual(['child']);
    s.update('c', obj('n', 'child', 'c1'));
    expect(s.dependentsOf('o')).toEqual([]);
    s.remove('c', 'n', 'owner');
    expect(s.byUid('o')).toBeUndefined();
  });
});
