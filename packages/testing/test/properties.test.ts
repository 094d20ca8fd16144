import { describe, expect, it } from "vitest";
import { BASE_TIMEOUT_MS, propertyRuns, propertyTimeoutMs } from "../src/internal/properties.ts";

describe("property runs (WEFT_PROPERTY_RUNS)", () => {
  it("uses the test's own number of cases when WEFT_PROPERTY_RUNS is unset or empty", () => {
    expect(propertyRuns(30, undefined)).toBe(30);
    expect(propertyRuns(30, " ")).toBe(30);
  });

  it("takes a positive integer, written plainly or as 1e3", () => {
    expect(propertyRuns(30, "1000")).toBe(1_000);
    expect(propertyRuns(30, "1e3")).toBe(1_000);
  });

  it("refuses anything else, naming the value, instead of running NaN cases", () => {
    for (const bad of ["many", "0", "-3", "2.5"]) {
      expect(() => propertyRuns(30, bad)).toThrow(
        `WEFT_PROPERTY_RUNS must be a positive integer (a number of random cases), got "${bad}"`,
      );
    }
  });

  it("grows the time limit with the number of cases, never below vitest's usual limit", () => {
    expect(propertyTimeoutMs(30, 250)).toBe(BASE_TIMEOUT_MS);
    // 5,000 simulator cases: 1,250 s, where the fixed 60 s limit cut four properties off
    expect(propertyTimeoutMs(5_000, 250)).toBe(1_250_000);
    expect(propertyTimeoutMs(1_000, 500)).toBe(500_000);
  });
});
