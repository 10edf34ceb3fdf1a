import { describe, expect, it } from "vitest";
import { bytes, cpuCores, mebibytes, parseQuantity, QuantityError } from "./quantities.ts";

describe("parseQuantity", () => {
  it.each([
    ["500m", 0.5],
    ["250m", 0.25],
    ["1", 1],
    ["1.5", 1.5],
    [".5", 0.5],
    ["2.", 2],
    ["+3", 3],
    ["-1", -1],
    [3, 3],
    ["100n", 100e-9],
    ["100u", 100e-6],
    ["1k", 1e3],
    ["1M", 1e6],
    ["1G", 1e9],
    ["1T", 1e12],
    ["1P", 1e15],
    ["1E", 1e18],
    ["1Ki", 1024],
    ["256Mi", 256 * 2 ** 20],
    ["1Gi", 2 ** 30],
    ["1.5Gi", 1.5 * 2 ** 30],
    ["1Ti", 2 ** 40],
    ["1Pi", 2 ** 50],
    ["1Ei", 2 ** 60],
    ["1e3", 1000],
    ["12E6", 12e6],
    ["1.5e-3", 0.0015],
    ["5e+2", 500],
    ["536870912", 536870912],
  ])("%s is %d", (q, want) => {
    expect(parseQuantity(q)).toBeCloseTo(want, 12);
  });

  it.each([
    ["", /empty/],
    [" 1", /spaces/],
    ["abc", /must start with a number/],
    ["1.5x", /unknown suffix "x"/],
    ["1GB", /unknown suffix "GB".*case-sensitive/],
    ["1gi", /unknown suffix "gi".*case-sensitive/],
    ["1Kb", /unknown suffix "Kb"/],
    ["1e", /unknown suffix "e"/],
    ["1 Gi", /unknown suffix " Gi"/],
    ["--1", /must start with a number/],
    [Number.NaN, /not a finite number/],
  ])("%j is refused with a clear message", (q, message) => {
    expect(() => parseQuantity(q as string)).toThrow(QuantityError);
    expect(() => parseQuantity(q as string)).toThrow(message);
  });
});

describe("helpers", () => {
  it("cpuCores rounds up to the millicore, like the API server", () => {
    expect(cpuCores("1500m")).toBe(1.5);
    expect(cpuCores("0.0001")).toBe(0.001);
    expect(cpuCores(2)).toBe(2);
  });
  it("bytes and mebibytes", () => {
    expect(bytes("1Gi")).toBe(1073741824);
    expect(bytes("1.5k")).toBe(1500);
    expect(mebibytes("1G")).toBe(953);
    expect(mebibytes("512Mi")).toBe(512);
  });
});
