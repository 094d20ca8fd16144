// A mistyped chain: `shout` takes a string, and `add` hands it a number. This file must
// not compile (the consumer test asserts tsc's error on the chain's line).
import { chain, Schema, task } from "@weft/core";

const add = task({
  name: "consumer.add",
  input: Schema.Struct({ a: Schema.Int, b: Schema.Int }),
  output: Schema.Int,
});
const shout = task({ name: "consumer.shout", input: Schema.String, output: Schema.String });

export const broken = chain(add.si({ a: 1, b: 2 }), shout.s());
