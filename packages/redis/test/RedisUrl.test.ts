import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  InvalidConnectionOptions,
  maskUrl,
  parseRedisUrl,
  redactSecrets,
  urlSecrets,
} from "../src/index.ts";

/** Printable ASCII, with the characters that break naive maskers drawn often. */
const arbPassword = fc.string({
  unit: fc.oneof(
    fc.constantFrom("@", "/", ":", "#", "?", "%", "&", "=", "[", "]", "\\", '"', " "),
    fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  ),
  minLength: 1,
  maxLength: 24,
});
const arbUser = fc.oneof(fc.constant(""), fc.stringMatching(/^[a-z][a-z0-9_-]{0,8}$/));
const arbHost = fc.constantFrom("127.0.0.1", "redis.internal", "db-1.example.com", "[::1]");
const arbPort = fc.integer({ min: 1, max: 65_535 });
const arbPath = fc.constantFrom("", "/0", "/15", "/2?family=6");
const arbScheme = fc.constantFrom("redis", "rediss");

describe("maskUrl", () => {
  test.prop([arbScheme, arbUser, arbPassword, arbHost, arbPort, arbPath])(
    "masks a percent-encoded password of printable ASCII, keeping user, host, port and database",
    (scheme, user, password, host, port, path) => {
      const url = `${scheme}://${user}:${encodeURIComponent(password)}@${host}:${port}${path}`;
      const expected = `${scheme}://${user}:***@${host}:${port}${path}`;
      expect(maskUrl(url)).toBe(expected);
      if (!expected.includes(password)) expect(maskUrl(url)).not.toContain(password);
    },
  );

  test.prop([arbScheme, arbUser, arbPassword, arbHost, arbPort, arbPath])(
    "masks an unencoded password holding @ / : # ? %, keeping user, host, port and database",
    (scheme, user, password, host, port, path) => {
      const url = `${scheme}://${user}:${password}@${host}:${port}${path}`;
      const expected = `${scheme}://${user}:***@${host}:${port}${path}`;
      expect(maskUrl(url)).toBe(expected);
      if (!expected.includes(password)) expect(maskUrl(url)).not.toContain(password);
    },
  );

  it.each([
    ["redis://:p@ss/w:rd#1%@db:6379", "redis://:***@db:6379"],
    // the masker this one replaced printed `redis://:***@ss/word#1@db:6379`
    ["redis://:pa@ss/word#1@db:6379", "redis://:***@db:6379"],
    ["redis://app:s3cret@db:6379/0", "redis://app:***@db:6379/0"],
    ["rediss://app:s%40cret@db:6380", "rediss://app:***@db:6380"],
    ["redis://db:6379", "redis://db:6379"],
    ["redis://db:6379/0?family=6", "redis://db:6379/0?family=6"],
    ["redis://app:@db:6379", "redis://app:@db:6379"],
    // credentials without a colon may be a password: masked whole
    ["redis://s3cret@db:6379", "redis://***@db:6379"],
    ["app:s3cret@db:6379", "***@db:6379"],
    ["not a url", "not a url"],
  ])("%s → %s", (url, masked) => {
    expect(maskUrl(url)).toBe(masked);
  });
});

describe("parseRedisUrl", () => {
  test.prop([arbScheme, arbUser, arbPassword, arbHost, arbPort, arbPath])(
    "reads the user and password, encoded or not, and the URL without them",
    (scheme, user, password, host, port, path) => {
      for (const written of [encodeURIComponent(password), password]) {
        // an unencoded password is taken as written unless it holds valid percent-encoding
        if (written === password && /%[0-9A-Fa-f]{2}/.test(password)) continue;
        const parts = parseRedisUrl(`${scheme}://${user}:${written}@${host}:${port}${path}`);
        expect(parts).toEqual({
          scheme,
          ...(user === "" ? {} : { username: user }),
          password,
          bare: `${scheme}://${host}:${port}${path}`,
          masked: `${scheme}://${user}:***@${host}:${port}${path}`,
        });
      }
    },
  );

  it("reads a URL without credentials", () => {
    expect(parseRedisUrl("REDISS://db:6380/1")).toEqual({
      scheme: "rediss",
      bare: "rediss://db:6380/1",
      masked: "REDISS://db:6380/1",
    });
  });

  it("refuses what is not a Redis URL, with the password masked", () => {
    for (const url of ["http://:s3cret!@db:80", "db:6379", ""]) {
      const err = (() => {
        try {
          parseRedisUrl(url);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(InvalidConnectionOptions);
      expect((err as Error).message).toMatch(/^not a Redis URL/);
      expect((err as Error).message).not.toContain("s3cret!");
    }
  });

  it("refuses a host part that does not parse", () => {
    expect(() => parseRedisUrl("redis://:s3cret!@db:99999999")).toThrow(
      /cannot parse the Redis URL "redis:\/\/:\*\*\*@db:99999999"/,
    );
  });
});

describe("urlSecrets and redactSecrets", () => {
  it("find the password as written, decoded, encoded and JSON-escaped", () => {
    const password = 'p@ss/w:rd#1%"x';
    const secrets = urlSecrets(`redis://app:${encodeURIComponent(password)}@db:6379`);
    const text = [
      password,
      encodeURIComponent(password),
      JSON.stringify({ password }),
      `redis://app:${password}@db`,
    ].join(" | ");
    const redacted = redactSecrets(text, secrets);
    expect(redacted).not.toContain("w:rd#1");
    expect(redacted).toBe('*** | *** | {"password":"***"} | redis://app:***@db');
  });

  it("leave text alone for a URL without a password, and for passwords under 4 characters", () => {
    expect(urlSecrets("redis://db:6379")).toEqual([]);
    expect(redactSecrets("a banana", urlSecrets("redis://:a@db"))).toBe("a banana");
  });
});
