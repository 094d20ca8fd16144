/**
 * Tasks with Standard Schema (zod 4) inputs and outputs, run by a worker on
 * the in-memory store next to Effect Schema tasks: the partial-binding rule
 * fills a zod object's open field from upstream, a bad output fails its
 * node with InvalidOutput naming the path, a bad input reaching a worker
 * fails with InvalidInput naming the path, and outputs are stored as the
 * handler returned them.
 */
import { chain, createClient, handle, InvalidInput, Schema, startWorker, task } from "@weft/core";
import { decode } from "@weft/core/store";
import { pino } from "pino";
import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { forAllInputs, MemoryStore } from "../src/index.ts";

const Address = z.object({ city: z.string(), zip: z.string().regex(/^\d{5}$/) });
const lookup = task({ name: "lookup", input: z.string(), output: Address });
const label = task({
  name: "label",
  input: z.object({ name: z.string(), address: Address }),
  output: z.string(),
});
const measure = task({
  name: "measure",
  input: Schema.String,
  output: Schema.Struct({ length: Schema.Int }),
});
const broken = task({ name: "broken", input: z.string(), output: Address });
const shout = task({
  name: "shout",
  input: z.object({ text: z.string().min(1) }),
  output: z.string(),
});

const handlers = [
  handle(lookup, (zip) => ({ city: "Lyon", zip })),
  handle(label, ({ name, address }) => `${name}, ${address.zip} ${address.city}`),
  handle(measure, (s) => ({ length: s.length })),
  // its output misses a field and has a bad one
  handle(broken, (zip) => ({ zip: `x${zip}` }) as unknown as z.infer<typeof Address>),
  handle(shout, ({ text }) => text.toUpperCase()),
];

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

const setup = () => {
  const store = new MemoryStore();
  const worker = startWorker({ store, handlers, logger: pino({ level: "silent" }), idleMs: 50 });
  stops.push(() => worker.stop());
  return { store, client: createClient(store) };
};

describe("Standard Schema tasks on a worker", () => {
  it("runs a chain whose zod step binds one field and takes the other from upstream", async () => {
    const { client } = setup();
    const run = await client.submit(chain(lookup.si("69001"), label.s({ name: "Ada" })));
    const out = await run.result({ timeout: 10_000 });
    expectTypeOf(out).toEqualTypeOf<string>();
    expect(out).toBe("Ada, 69001 Lyon");
  });

  it("mixes zod and Effect Schema steps in one chain", async () => {
    const { client } = setup();
    const run = await client.submit(
      chain(lookup.si("69001"), label.s({ name: "Bo" }), measure.s()),
    );
    expect(await run.result({ timeout: 10_000 })).toEqual({ length: "Bo, 69001 Lyon".length });
  });

  it("fails a node with InvalidOutput naming each bad field's path, without retrying", async () => {
    const { client, store } = setup();
    const run = await client.submit(broken.si("69001"));
    await expect(run.result({ timeout: 10_000 })).rejects.toMatchObject({ _tag: "RunFailed" });
    const node = (await store.getRun(run.runId))!.nodes[0]!;
    expect(node.error).toMatchObject({ tag: "InvalidOutput", retryable: false });
    expect(node.error!.message).toMatch(/\n {2}at \["city"\]/);
    expect(node.error!.message).toMatch(/\n {2}at \["zip"\]/);
    expect(node.attempts).toBe(1);
  });

  it("fails a node whose upstream output does not pass its zod input with InvalidInput naming the path", async () => {
    const { client, store } = setup();
    // a JavaScript caller (no types) chains a producer of { length } into shout's open string field
    const run = await client.submit(chain(measure.si("abc"), shout.s({}) as never));
    await expect(run.result({ timeout: 10_000 })).rejects.toMatchObject({ _tag: "RunFailed" });
    const node = (await store.getRun(run.runId))!.nodes[1]!;
    expect(node.error).toMatchObject({ tag: "InvalidInput", retryable: false });
    expect(node.error!.message).toMatch(/input of task "shout" is invalid: .*\n {2}at \["text"\]/s);
  });

  it("refuses a submission whose zod input is bad with InvalidInput, writing nothing", async () => {
    const { client, store } = setup();
    const bad = label.si({ name: "Ada", address: { city: "Lyon", zip: "6900" } });
    const e = await client.submit(bad).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InvalidInput);
    expect((e as InvalidInput).detail).toMatch(/\n {2}at \["address"\]\["zip"\]/);
    expect(await store.listRuns({ limit: 10 })).toEqual([]);
  });

  it("stores an output as the handler returned it (a Standard Schema has no encode step)", async () => {
    const { client, store } = setup();
    const run = await client.submit(lookup.si("69001"));
    await run.result({ timeout: 10_000 });
    const bytes = await store.getResult(run.runId, 0);
    expect(decode(bytes!)).toEqual({ city: "Lyon", zip: "69001" });
  });

  it("forAllInputs refuses a zod task with InvalidCanvas: values cannot be derived from a validator", () => {
    expect(() => forAllInputs(lookup)).toThrow(
      /forAllInputs\(lookup\) derives inputs from an Effect Schema; this task's input is a zod schema/,
    );
  });
});
