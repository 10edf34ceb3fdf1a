// Kubernetes resource quantities (`500m`, `1.5`, `256Mi`, `1e3`) as exact nano-units, so the
// Downward API's division and rounding (ceil) are exact, as in the real kubelet.

const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

export class QuantityError extends Error {
  constructor(value: string) {
    super(`"${value}" is not a Kubernetes quantity (e.g. 500m, 2, 256Mi, 1e3)`);
    this.name = 'QuantityError';
  }
}

/** The quantity times 10^9, exactly (sub-nano remainders round up, as Kubernetes rounds up). */
export function toNano(value: string | number): bigint {
  const s = String(value).trim();
  const m = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE]([+-]?\d+))?$/.exec(s);
  if (m === null) throw new QuantityError(s);
  const [, sign = '', number = '0', suffix = '', exp] = m;
  const [intPart = '0', frac = ''] = number.split('.');
  let digits = BigInt((intPart || '0') + frac);
  const pow10 = 9 - frac.length + (exp !== undefined ? Number(exp) : (DECIMAL[suffix] ?? 0));
  let result: bigint;
  if (BINARY[suffix] !== undefined) digits *= 2n ** BigInt(BINARY[suffix]);
  if (pow10 >= 0) result = digits * 10n ** BigInt(pow10);
  else {
    const d = 10n ** BigInt(-pow10);
    result = (digits + d - 1n) / d;
  }
  return sign === '-' ? -result : result;
}

/** ceil(quantity / divisor), the value the Downward API's resourceFieldRef exposes. */
export function divideCeil(value: string | number, divisor: string | number): bigint {
  const a = toNano(value);
  const b = toNano(divisor);
  if (b <= 0n) throw new QuantityError(String(divisor));
  return (a + b - 1n) / b;
}
