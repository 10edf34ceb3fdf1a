// Kubernetes resource quantities ("500m", "1.5Gi", "12E6", 2): parsed the way
// k8s.io/apimachinery's resource.Quantity reads them, so that a value the API
// server accepts means the same number here.
import { z } from 'zod';
import { withCrd } from './crd-meta.ts';

/** Binary suffixes, as powers of two. */
const BINARY_EXPONENT: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
/** Decimal suffixes, as powers of ten. */
const DECIMAL_EXPONENT: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const MAX_INT64 = 2n ** 63n - 1n;

/** The grammar of resource.Quantity: sign, number, then a binary or decimal suffix or a decimal exponent. */
export const QUANTITY_PATTERN = '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?[0-9]+))?$';
const QUANTITY_RE = /^([+-]?)((?:[0-9]+(?:\.[0-9]*)?)|(?:\.[0-9]+))(.*)$/;

export type Quantity = string | number;

export class QuantityError extends Error {
  override name = 'QuantityError';
}

const digits = (n: bigint) => (n === 0n ? 0 : n.toString().length);

/**
 * A quantity exactly as apimachinery holds it: rounded up (away from zero) to a multiple of
 * 10^-9, binary-suffixed values capped at 2^63-1. The value is `sign * mantissa * 10^exponent`;
 * the exponent stays symbolic so that `1e999999999` costs no more than `1`.
 */
export class QuantityValue {
  readonly sign: -1n | 0n | 1n;
  readonly mantissa: bigint;
  readonly exponent: number;

  constructor(sign: -1n | 0n | 1n, mantissa: bigint, exponent: number) {
    this.sign = mantissa === 0n ? 0n : sign;
    this.mantissa = mantissa;
    this.exponent = exponent;
  }

  /** -1, 0 or 1, exactly (Quantity.Cmp); magnitudes are compared before any power of ten is built. */
  compareTo(other: QuantityValue): -1 | 0 | 1 {
    if (this.sign !== other.sign) return this.sign < other.sign ? -1 : 1;
    if (this.sign === 0n) return 0;
    const magnitude = (q: QuantityValue) => digits(q.mantissa) + q.exponent;
    const [ma, mb] = [magnitude(this), magnitude(other)];
    let cmp: number;
    if (ma !== mb) cmp = ma < mb ? -1 : 1;
    else {
      // Same order of magnitude: the exponents differ by at most the mantissas' lengths.
      const shift = this.exponent - other.exponent;
      const a = shift > 0 ? this.mantissa * 10n ** BigInt(shift) : this.mantissa;
      const b = shift < 0 ? other.mantissa * 10n ** BigInt(-shift) : other.mantissa;
      cmp = a === b ? 0 : a < b ? -1 : 1;
    }
    return (cmp === 0 ? 0 : this.sign < 0n ? -cmp : cmp) as -1 | 0 | 1;
  }

  /** The nearest double (Infinity beyond its range). */
  toNumber(): number {
    return Number(this.sign) * Number(`${this.mantissa}e${this.exponent}`);
  }
}

const NUMBER_RE = /^([+-]?)0*([0-9]*)(?:\.([0-9]*))?/;
const SUFFIX_RE = /^[eEinumkKMGTP]*[+-]?[0-9]*$/;

/** resource.ParseQuantity, exactly: the value, or apimachinery's message saying why the text is not a quantity. */
export function readQuantity(s: string): QuantityValue | string {
  if (s === '') return 'quantities must match the regular expression';
  const [whole, sign, intPart = '', frac = ''] = NUMBER_RE.exec(s) as RegExpExecArray;
  const suffix = s.slice(whole.length);
  if (!SUFFIX_RE.test(suffix)) return 'quantities must match the regular expression';
  let exponent: number;
  let binary = 0;
  if (suffix in DECIMAL_EXPONENT) exponent = DECIMAL_EXPONENT[suffix] as number;
  else if (suffix in BINARY_EXPONENT) {
    exponent = 0;
    binary = BINARY_EXPONENT[suffix] as number;
  } else if (/^[eE][+-]?[0-9]+$/.test(suffix) && BigInt.asIntN(64, BigInt(suffix.slice(1))) === BigInt(suffix.slice(1))) {
    // strconv.ParseInt to 64 bits, then int32(): a wider exponent wraps, as in apimachinery
    exponent = Number(BigInt.asIntN(32, BigInt(suffix.slice(1))));
  } else return "unable to parse quantity's suffix";
  // ParseQuantity's int64 fast path reads an empty numeral as 0; its decimal path refuses it.
  const num = intPart || '0';
  const fast = binary === 0 ? num.length + frac.length <= 18 && exponent - frac.length >= -9 : frac === '' && 15 - num.length - Math.trunc((binary * 3) / 10) - 1 >= 0;
  if (!fast && !/[0-9]/.test(whole)) return 'unable to parse numeric part of quantity';
  let mantissa = BigInt(`${intPart}${frac}` || '0') * 2n ** BigInt(binary);
  exponent -= frac.length;
  // Round up to the nanounit, away from zero.
  if (mantissa !== 0n && exponent < -9) {
    const drop = -9 - exponent;
    mantissa = drop >= digits(mantissa) ? 1n : (mantissa + 10n ** BigInt(drop) - 1n) / 10n ** BigInt(drop);
    exponent = -9;
  }
  if (binary > 0 && new QuantityValue(1n, mantissa, exponent).compareTo(new QuantityValue(1n, MAX_INT64, 0)) > 0) {
    [mantissa, exponent] = [MAX_INT64, 0];
  }
  return new QuantityValue(sign === '-' ? -1n : 1n, mantissa, exponent);
}

/** Which of two quantities is larger, exactly as the API server compares them. Throws QuantityError. */
export function compareQuantities(a: Quantity, b: Quantity): -1 | 0 | 1 {
  const [x, y] = [readQuantity(String(a)), readQuantity(String(b))];
  if (typeof x === 'string') throw new QuantityError(`${JSON.stringify(a)}: ${x}`);
  if (typeof y === 'string') throw new QuantityError(`${JSON.stringify(b)}: ${y}`);
  return x.compareTo(y);
}

/** Beyond any resource amount (10^30 nano-units is 10^21 cores or bytes): refused rather than expanded. */
const MAX_NANO_DIGITS = 30;

/** The value in nano-units, exactly, as apimachinery holds it (the kubelet's arithmetic). Throws QuantityError. */
export function nanoUnits(q: Quantity): bigint {
  const value = readQuantity(String(q));
  if (typeof value === 'string') throw new QuantityError(`${JSON.stringify(q)}: ${value}`);
  const shift = value.exponent + 9;
  if (digits(value.mantissa) + shift > MAX_NANO_DIGITS) throw new QuantityError(`${JSON.stringify(q)}: too large for a resource amount`);
  // readQuantity rounds to the nanounit, so the shift is never negative for a non-zero value
  return value.sign * (shift >= 0 ? value.mantissa * 10n ** BigInt(shift) : value.mantissa / 10n ** BigInt(-shift));
}

/**
 * The value of a quantity as a plain number (cores for CPU, bytes for memory).
 * Throws QuantityError with a message naming the fault.
 */
export function parseQuantity(q: Quantity): number {
  if (typeof q === 'number') {
    if (!Number.isFinite(q)) throw new QuantityError(`${q} is not a finite number`);
    return q;
  }
  const s = q.trim();
  if (s !== q || s === '') throw new QuantityError(`"${q}" is not a quantity: empty or surrounded by spaces`);
  const m = QUANTITY_RE.exec(s);
  if (!m) throw new QuantityError(`"${q}" is not a quantity: it must start with a number, e.g. 500m, 1.5, 256Mi, 1e3`);
  const value = readQuantity(s);
  if (typeof value !== 'string') return value.toNumber();
  const suffix = m[3] ?? '';
  const hint = suffix.toLowerCase().endsWith('b') || /^[kmgtpe]i?$/i.test(suffix) ? ' (units are case-sensitive: Ki Mi Gi Ti Pi Ei, k M G T P E, m for milli; no B)' : '';
  throw new QuantityError(`"${q}" has an unknown suffix "${suffix}"${hint}; use one of n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or an exponent like 1e3`);
}

/** CPU in cores, rounded up to the millicore as the API server does. */
export function cpuCores(q: Quantity): number {
  return Math.ceil(Math.round(parseQuantity(q) * 1e9) / 1e6) / 1e3;
}

/** Memory in bytes, rounded up to a whole byte. */
export function bytes(q: Quantity): number {
  return Math.ceil(parseQuantity(q));
}

/** Bytes expressed in whole MiB, rounded down. */
export function mebibytes(q: Quantity): number {
  return Math.floor(bytes(q) / 2 ** 20);
}

const MAX_QUANTITY_LENGTH = 64;

/** A non-negative quantity, kept in its original form (string or integer). */
export function quantity() {
  const schema = z.union([z.string().max(MAX_QUANTITY_LENGTH), z.number().int()]).superRefine((value, ctx) => {
    try {
      const n = parseQuantity(value);
      if (n < 0) ctx.addIssue({ code: 'custom', message: `must not be negative, got ${JSON.stringify(value)}` });
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });
  // the API server then refuses a negative quantity too
  return withCrd(schema, { intOrString: true, pattern: QUANTITY_PATTERN.replace('^(\\+|-)?', '^\\+?'), maxLength: MAX_QUANTITY_LENGTH });
}
