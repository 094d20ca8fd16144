import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  InvalidConnectionOptions,
  isClusterUrl,
  maskUrl,
  parseClusterUrl,
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

describe("parseClusterUrl", () => {
  test.prop([
    arbScheme,
    arbUser,
    arbPassword,
    fc.array(fc.tuple(arbHost, arbPort), { minLength: 1, maxLength: 4 }),
  ])(
    "reads the seed nodes, the user and the password, encoded or not",
    (scheme, user, password, nodes) => {
      for (const written of [encodeURIComponent(password), password]) {
        if (written === password && /%[0-9A-Fa-f]{2}/.test(password)) continue;
        const list = nodes.map(([h, p]) => `${h}:${p}`).join(",");
        const url = `${scheme}+cluster://${user}:${written}@${list}`;
        expect(isClusterUrl(url)).toBe(true);
        expect(parseClusterUrl(url)).toEqual({
          scheme,
          ...(user === "" ? {} : { username: user }),
          password,
          seeds: nodes.map(([h, p]) => ({ host: h.replace(/^\[(.*)\]$/, "$1"), port: p })),
          masked: `${scheme}+cluster://${user}:***@${list}`,
        });
      }
    },
  );

  it("defaults the port to 6379 and accepts database 0, or a plain URL of one node when asked", () => {
    expect(parseClusterUrl("redis+cluster://a,b:7001/0").seeds).toEqual([
      { host: "a", port: 6379 },
      { host: "b", port: 7001 },
    ]);
    expect(parseClusterUrl("rediss://:pw@node-1:7000", { plain: true })).toEqual({
      scheme: "rediss",
      password: "pw",
      seeds: [{ host: "node-1", port: 7000 }],
      masked: "rediss://:***@node-1:7000",
    });
    expect(isClusterUrl("redis://node-1:7000")).toBe(false);
  });

  it.each([
    ["redis://node-1:7000", /^not a Redis Cluster URL/],
    ["http+cluster://:s3cret!@a:1", /^not a Redis Cluster URL/],
    ["redis+cluster://:s3cret!@a:1,b:2/3", /a cluster has one database \(0\)/],
    ["redis+cluster://:s3cret!@a:1?tls=true", /the URL takes no options/],
    ["redis+cluster://:s3cret!@a:1,,b:2", /the node "" is not host:port/],
    ["redis+cluster://:s3cret!@a:99999999", /the node "a:99999999" is not host:port/],
  ])("refuses %s, with the password masked", (url, why) => {
    const err = (() => {
      try {
        parseClusterUrl(url);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InvalidConnectionOptions);
    expect((err as Error).message).toMatch(why);
    expect((err as Error).message).not.toContain("s3cret!");
  });

  it("is masked like any URL", () => {
    expect(maskUrl("rediss+cluster://weft:p@ss@a:1,b:2")).toBe("rediss+cluster://weft:***@a:1,b:2");
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
