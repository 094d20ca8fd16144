/**
 * Standard Schema (zod 4) tasks on a real Redis: the partial-binding rule
 * fills a zod object's open field from upstream, outputs cross Redis as the
 * handler returned them, and a bad output fails its node with InvalidOutput
 * naming the path.
 */
import { chain, createClient, handle, startWorker, task } from "@weft/core";
import { type RedisServer, startRedisServer } from "@weft/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { RedisStore } from "../src/index.ts";

let server: RedisServer;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server.stop();
});

const Order = z.object({
  id: z.string(),
  lines: z.array(z.object({ sku: z.string(), qty: z.number().int() })),
});
const fetchOrder = task({ name: "fetchOrder", input: z.string(), output: Order });
const invoice = task({
  name: "invoice",
  input: z.object({ currency: z.enum(["EUR", "USD"]), order: Order }),
  output: z.object({ orderId: z.string(), units: z.number().int(), currency: z.string() }),
});

describe("zod tasks on Redis", () => {
  it("runs a chain binding one field of a zod object, and fails a bad output with its path", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "zod" });
    const worker = startWorker({
      store,
      logger: pino({ level: "silent" }),
      idleMs: 50,
      handlers: [
        handle(fetchOrder, (id) =>
          id === "bad"
            ? ({ id, lines: [{ sku: "a", qty: 1.5 }] } as z.infer<typeof Order>)
            : {
                id,
                lines: [
                  { sku: "a", qty: 2 },
                  { sku: "b", qty: 3 },
                ],
              },
        ),
        handle(invoice, ({ currency, order }) => ({
          orderId: order.id,
          units: order.lines.reduce((n, l) => n + l.qty, 0),
          currency,
        })),
      ],
    });
    try {
      const client = createClient(store);
      const run = await client.submit(chain(fetchOrder.si("o-1"), invoice.s({ currency: "EUR" })));
      const out = await run.result({ timeout: 20_000 });
      expectTypeOf(out).toEqualTypeOf<{ orderId: string; units: number; currency: string }>();
      expect(out).toEqual({ orderId: "o-1", units: 5, currency: "EUR" });

      const bad = await client.submit(fetchOrder.si("bad"));
      await expect(bad.result({ timeout: 20_000 })).rejects.toMatchObject({ _tag: "RunFailed" });
      const node = (await store.getRun(bad.runId))!.nodes[0]!;
      expect(node.error).toMatchObject({ tag: "InvalidOutput", retryable: false });
      expect(node.error!.message).toMatch(/\n {2}at \["lines"\]\[0\]\["qty"\]/);
    } finally {
      await worker.stop();
      await store.close();
    }
  });
});
