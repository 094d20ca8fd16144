// The task declarations, shared by the producer (main.mjs, submit.mjs) and the worker (handlers.mjs).
import { Schema, task } from "@weft/core";

export const add = task({
  name: "consumer.add",
  input: Schema.Struct({ a: Schema.Int, b: Schema.Int }),
  output: Schema.Int,
});
export const double = task({ name: "consumer.double", input: Schema.Int, output: Schema.Int });
export const sum = task({
  name: "consumer.sum",
  input: Schema.Array(Schema.Int),
  output: Schema.Int,
});
