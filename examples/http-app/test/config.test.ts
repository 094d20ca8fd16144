import { describe, expect, it } from "vitest";
import { configFrom } from "../src/config.ts";

describe("configFrom", () => {
  it("reads every setting from the environment, with defaults for unset or empty ones", () => {
    expect(configFrom({})).toEqual({
      redisUrl: "redis://127.0.0.1:6379",
      prefix: "weft",
      logLevel: "info",
      concurrency: 8,
      port: 3000,
      crmUrl: "http://127.0.0.1:4010",
    });
    expect(
      configFrom({
        REDIS_URL: "redis://redis:6379",
        WEFT_PREFIX: "onboarding",
        WEFT_LOG_LEVEL: "warn",
        WEFT_CONCURRENCY: "16",
        PORT: "8080",
        CRM_URL: "http://crm:4010",
        WEFT_PREFIX_UNUSED: "x",
      }),
    ).toEqual({
      redisUrl: "redis://redis:6379",
      prefix: "onboarding",
      logLevel: "warn",
      concurrency: 16,
      port: 8080,
      crmUrl: "http://crm:4010",
    });
    expect(configFrom({ WEFT_PREFIX: "" }).prefix).toBe("weft");
  });

  it("refuses a bad number or log level, naming the variable and its value", () => {
    expect(() => configFrom({ WEFT_CONCURRENCY: "0" })).toThrow(
      'WEFT_CONCURRENCY must be an integer ≥ 1, got "0"',
    );
    expect(() => configFrom({ PORT: "http" })).toThrow('PORT must be an integer ≥ 0, got "http"');
    expect(() => configFrom({ WEFT_LOG_LEVEL: "loud" })).toThrow(
      'WEFT_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    );
  });
});
