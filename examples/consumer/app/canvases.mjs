// A chain (1 + 2, doubled twice: 12) and a chord (sum of 1 + 1, 2 + 3, 4 + 5: 16).
import { chain, chord } from "@weft/core";
import { add, double, sum } from "./tasks.mjs";

export const aChain = () => chain(add.si({ a: 1, b: 2 }), double.s(), double.s());
export const aChord = () =>
  chord([add.si({ a: 1, b: 1 }), add.si({ a: 2, b: 3 }), add.si({ a: 4, b: 5 })], sum.s());
