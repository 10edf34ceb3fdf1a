// Kubernetes resource quantities ("500m", "1.5Gi", "12E6", 2): parsed the way
// k8s.io/apimachinery's resource.Quantity reads them, so that a value the API
// server accepts means the same number here.
import { z } from "zod";
import { withCrd } from "./crd-meta.ts";

const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** The grammar of resource.Quantity: sign, number, then a binary or decimal suffix or a decimal exponent. */
export const QUANTITY_PATTERN =
  "^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$";
const QUANTITY_RE = /^([+-]?)((?:[0-9]+(?:\.[0-9]*)?)|(?:\.[0-9]+))(.*)$/;
const EXPONENT_RE = /^[eE]([+-]?(?:(?:[0-9]+(?:\.[0-9]*)?)|(?:\.[0-9]+)))$/;

export type Quantity = string | number;

export class QuantityError extends Error {
  override name = "QuantityError";
}

/**
 * The value of a quantity as a plain number (cores for CPU, bytes for memory).
 * Throws QuantityError with a message naming the fault.
 */
export function parseQuantity(q: Quantity): number {
  if (typeof q === "number") {
    if (!Number.isFinite(q)) throw new QuantityError(`${q} is not a finite number`);
    return q;
  }
  const s = q.trim();
  if (s !== q || s === "") throw new QuantityError(`"${q}" is not a quantity: empty or surrounded by spaces`);
  const m = QUANTITY_RE.exec(s);
  if (!m) throw new QuantityError(`"${q}" is not a quantity: it must start with a number, e.g. 500m, 1.5, 256Mi, 1e3`);
  const sign = m[1] === "-" ? -1 : 1;
  const mantissa = Number(m[2]);
  const suffix = m[3] ?? "";
  const binary = BINARY[suffix];
  if (binary !== undefined) return sign * mantissa * binary;
  const decimal = DECIMAL[suffix];
  if (decimal !== undefined) return sign * mantissa * decimal;
  const exp = EXPONENT_RE.exec(suffix);
  if (exp) return sign * mantissa * 10 ** Number(exp[1]);
  const hint = suffix.toLowerCase().endsWith("b") || /^[kmgtpe]i?$/i.test(suffix) ? " (units are case-sensitive: Ki Mi Gi Ti Pi Ei, k M G T P E, m for milli; no B)" : "";
  throw new QuantityError(
    `"${q}" has an unknown suffix "${suffix}"${hint}; use one of n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or an exponent like 1e3`,
  );
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

/** A non-negative quantity, kept in its original form (string or integer). */
export function quantity() {
  const schema = z
    .union([z.string(), z.number().int()])
    .superRefine((value, ctx) => {
      try {
        const n = parseQuantity(value);
        if (n < 0) ctx.addIssue({ code: "custom", message: `must not be negative, got ${JSON.stringify(value)}` });
      } catch (err) {
        ctx.addIssue({ code: "custom", message: (err as Error).message });
      }
    });
  // the API server then refuses a negative quantity too
  return withCrd(schema, { intOrString: true, pattern: QUANTITY_PATTERN.replace("^(\\+|-)?", "^\\+?") });
}
