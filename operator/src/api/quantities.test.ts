import { describe, expect, it } from 'vitest';
import { bytes, compareQuantities, cpuCores, mebibytes, nanoUnits, parseQuantity, QuantityError, QuantityValue, readQuantity } from './quantities.ts';

describe('parseQuantity', () => {
  it.each([
    ['500m', 0.5],
    ['250m', 0.25],
    ['1', 1],
    ['1.5', 1.5],
    ['.5', 0.5],
    ['2.', 2],
    ['+3', 3],
    ['-1', -1],
    [3, 3],
    ['100n', 100e-9],
    ['100u', 100e-6],
    ['1k', 1e3],
    ['1M', 1e6],
    ['1G', 1e9],
    ['1T', 1e12],
    ['1P', 1e15],
    ['1E', 1e18],
    ['1Ki', 1024],
    ['256Mi', 256 * 2 ** 20],
    ['1Gi', 2 ** 30],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['1Ti', 2 ** 40],
    ['1Pi', 2 ** 50],
    ['1Ei', 2 ** 60],
    ['1e3', 1000],
    ['12E6', 12e6],
    ['1.5e-3', 0.0015],
    ['5e+2', 500],
    ['536870912', 536870912],
  ])('%s is %d', (q, want) => {
    expect(parseQuantity(q)).toBeCloseTo(want, 12);
  });

  it.each([
    ['', /empty/],
    [' 1', /spaces/],
    ['abc', /must start with a number/],
    ['1.5x', /unknown suffix "x"/],
    ['1GB', /unknown suffix "GB".*case-sensitive/],
    ['1gi', /unknown suffix "gi".*case-sensitive/],
    ['1Kb', /unknown suffix "Kb"/],
    ['1e', /unknown suffix "e"/],
    ['1 Gi', /unknown suffix " Gi"/],
    ['--1', /must start with a number/],
    [Number.NaN, /not a finite number/],
  ])('%j is refused with a clear message', (q, message) => {
    expect(() => parseQuantity(q as string)).toThrow(QuantityError);
    expect(() => parseQuantity(q as string)).toThrow(message);
  });
});

describe('helpers', () => {
  it('cpuCores rounds up to the millicore, like the API server', () => {
    expect(cpuCores('1500m')).toBe(1.5);
    expect(cpuCores('0.0001')).toBe(0.001);
    expect(cpuCores(2)).toBe(2);
  });
  it('bytes and mebibytes', () => {
    expect(bytes('1Gi')).toBe(1073741824);
    expect(bytes('1.5k')).toBe(1500);
    expect(mebibytes('1G')).toBe(953);
    expect(mebibytes('512Mi')).toBe(512);
  });
});

describe('quantities as resource.ParseQuantity reads them', () => {
  const value = (s: string) => {
    const q = readQuantity(s);
    if (typeof q === 'string') throw new Error(q);
    return q;
  };
  it.each([
    ['1', '1000m', 0],
    ['1Ki', '1024', 0],
    ['1.5Gi', '1536Mi', 0],
    ['1e3', '1k', 0],
    ['12E6', '12M', 0],
    ['0.1n', '1n', 0], // rounded up to the nanounit
    ['-0.1n', '-1n', 0], // away from zero
    ['1e-999999999', '1n', 0],
    ['100Ei', '9223372036854775807', 0], // binary suffixes cap at 2^63-1
    ['1e999999999', '9Ei', 1],
    ['-1', '0', -1],
    ['.5', '500m', 0],
    ['0.000000001', '1n', 0],
  ])('%s compared to %s is %i', (a, b, cmp) => {
    expect(value(a).compareTo(value(b))).toBe(cmp);
    expect(value(b).compareTo(value(a))).toBe(0 - cmp);
  });

  it.each([[''], ['1 '], ['200K'], ['1e'], ['1Mi5'], ['Pi'], ['e-20'], ['1.2.3'], ['1e1.5'], ['1b']])('refuses %j', (s) => {
    expect(typeof readQuantity(s)).toBe('string');
  });

  it('keeps a huge exponent symbolic, and wraps it to 32 bits as apimachinery does', () => {
    expect(value('1e2147483647')).toEqual(new QuantityValue(1n, 1n, 2147483647));
    expect(value('1e2147483648')).toEqual(new QuantityValue(1n, 1n, -9)); // 1e-2147483648, rounded up to 1n
  });

  it('reads an empty numeral as zero where ParseQuantity takes its int64 path (Mi, not Pi)', () => {
    expect(value('Mi').sign).toBe(0n);
    expect(value('-').sign).toBe(0n);
  });
});

describe('compareQuantities', () => {
  it('compares exactly, as pod validation compares requests with limits', () => {
    expect(compareQuantities('1.0002', '1.0001')).toBe(1);
    expect(compareQuantities(2, '2000m')).toBe(0);
    expect(compareQuantities('1Gi', '1G')).toBe(1);
    expect(() => compareQuantities('1x', 1)).toThrow(QuantityError);
  });
});

describe('nanoUnits', () => {
  it.each([
    ['1', 1_000_000_000n],
    ['500m', 500_000_000n],
    ['1.5', 1_500_000_000n],
    ['2k', 2_000_000_000_000n],
    ['1Ki', 1024_000_000_000n],
    ['1e3', 1000_000_000_000n],
    ['1n', 1n],
    ['0.1n', 1n], // rounded up to the nanounit
    ['-2m', -2_000_000n],
    [2, 2_000_000_000n],
  ])('%s is %s nano-units', (q, nano) => expect(nanoUnits(q)).toBe(nano));

  it('refuses what is not a quantity, and amounts no resource has, without expanding them', () => {
    expect(() => nanoUnits('12 cores')).toThrow(QuantityError);
    expect(() => nanoUnits('1e999999999')).toThrow(/too large/);
  });
});
