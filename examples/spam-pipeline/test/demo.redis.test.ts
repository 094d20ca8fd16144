/**
 * `npm run demo` on a Redis whose password holds every character that broke
 * URL masking, written unencoded in REDIS_URL: the demo runs, and nothing it
 * prints (its own lines, its workers' output, a failure) shows the password.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { type RedisServer, startRedisServer } from "@weft/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const dir = fileURLToPath(new URL("..", import.meta.url));
const PASSWORD = "p@ss/w:rd#1%";
const FORMS = [PASSWORD, encodeURIComponent(PASSWORD), "w:rd#1", "ss/w:rd"];

/** Runs the demo with `REDIS_URL` and returns its exit code and everything it printed. */
const demo = (redisUrl: string) =>
  new Promise<{ code: number; output: string }>((resolve) => {
    execFile(
      process.execPath,
      ["--conditions=@weft/source", "--import", "tsx", "src/demo.ts"],
      {
        cwd: dir,
        env: {
          ...process.env,
          REDIS_URL: redisUrl,
          WEFT_DEMO_LIMIT: "60",
          WEFT_DEMO_WORKERS: "1",
          WEFT_DEMO_CHUNKS: "2",
        },
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? Number((error as { code?: number }).code ?? 1) : 0;
        resolve({ code, output: stdout + stderr });
      },
    );
  });

describe("the demo and a password", () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer(["--requirepass", PASSWORD]);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("runs on a Redis with an awkward password and prints the URL masked", async () => {
    const r = await demo(`redis://:${PASSWORD}@127.0.0.1:${server.port}`);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`on redis://:***@127.0.0.1:${server.port} with 1 worker processes`);
    expect(r.output).toContain(`--redis redis://:***@127.0.0.1:${server.port}`);
    for (const form of FORMS) expect(r.output).not.toContain(form);
  });

  it("says authentication failed for a wrong password, without showing it", async () => {
    const wrong = "Wr0ng/p@ss:word";
    const r = await demo(`redis://:${wrong}@127.0.0.1:${server.port}`);
    expect(r.code).toBe(1);
    expect(r.output).toContain(
      `demo failed: authentication failed at the store at redis://:***@127.0.0.1:${server.port}: WRONGPASS`,
    );
    for (const form of [wrong, encodeURIComponent(wrong), "p@ss:word"])
      expect(r.output).not.toContain(form);
  });
});
