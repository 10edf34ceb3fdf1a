import { describe, expect, it } from 'vitest';
import { evalJsonPath, humanDuration } from './table.ts';

describe('ages as kubectl prints them', () => {
  it.each([
    [5_000, '5s'],
    [119_000, '119s'],
    [150_000, '2m30s'],
    [600_000, '10m'],
    [3 * 3600_000 + 5 * 60_000, '3h5m'],
    [30 * 3600_000, '30h'],
    [3 * 86400_000 + 2 * 3600_000, '3d2h'],
    [40 * 86400_000, '40d'],
    [-5_000, '<invalid>'],
  ])('%d ms is %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });
});

describe('printer column JSONPath', () => {
  const conditions = [
    { type: 'Ready', status: 'False', reason: 'InvalidSpec' },
    { type: 'Progressing', status: 'True', n: 2 },
  ];
  const obj = { spec: { hosts: ['a', 'b'], http: [{ route: [{ weight: 90 }, { weight: 10 }] }] }, status: { phase: 'Ok', conditions } };
  it.each([
    ['.status.phase', ['Ok']],
    ['{.status.phase}', ['Ok']],
    ['.spec.hosts[1]', ['b']],
    ['.spec.http[0].route[*].weight', [90, 10]],
    ['.spec.missing', []],
    ['.status.conditions[?(@.type=="Ready")].reason', ['InvalidSpec']],
    [".status.conditions[?(@.type=='Progressing')].status", ['True']],
    ['.status.conditions[?(@.type != "Ready")].type', ['Progressing']],
    ['.status.conditions[?(@.n==2)].type', ['Progressing']],
    ['.status.conditions[?(@.type=="Promoted")].status', []],
  ])('%s', (path, expected) => {
    expect(evalJsonPath(obj, path)).toEqual(expected);
  });
});
