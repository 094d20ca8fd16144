/**
 * `watch` on a terminal: progress bars drawn on the terminal stream while
 * the run goes, the run's tree printed once it ends.
 */
import { Writable } from "node:stream";
import { stripVTControlCharacters } from "node:util";
import { chain, createClient, startWorker } from "@weft/core";
import { MemoryStore } from "@weft/testing";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { watch } from "../src/index.ts";
import { handlers } from "./fixtures/handlers.ts";
import { add, double } from "./fixtures/tasks.ts";

/** A stream that says it is a terminal and keeps what is written to it. */
class FakeTerminal extends Writable {
  readonly isTTY = true;
  readonly columns = 120;
  text = "";
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

describe("watch on a terminal", () => {
  it("draws a bar for the run and for running nodes, then prints the run's tree; answers its status", async () => {
    const store = new MemoryStore();
    const client = createClient(store);
    const run = await client.submit(chain(add.si({ a: 1, b: 2 }), double.s()));
    const tty = new FakeTerminal();
    let out = "";
    const watching = watch({
      store,
      client,
      runId: run.runId,
      out: (s) => {
        out += s;
      },
      color: false,
      now: Date.now,
      tty: tty as unknown as NodeJS.WriteStream,
    });
    const worker = startWorker({
      store,
      handlers,
      logger: pino({ level: "silent" }),
      idleMs: 20,
      workerId: "w1",
    });
    try {
      expect(await watching).toBe("succeeded");
    } finally {
      await worker.stop();
    }
    const drawn = stripVTControlCharacters(tty.text);
    expect(drawn).toContain(`run ${run.runId}`);
    expect(drawn).toContain("2/2 2 succeeded · 0 running · 0 failed");
    // the run's tree, live: a line per branch, a bar and the state of each node
    expect(drawn).toMatch(/^chain +$/m);
    expect(drawn).toMatch(/^├─ #0 math\.add +\S+ 1\/1 succeeded$/m);
    expect(drawn).toMatch(/^└─ #1 math\.double +\S+ 1\/1 succeeded$/m);
    expect(out).toContain("chain\n├─ #0 math.add");
    expect(out).toContain("└─ #1 math.double");
  });
});
