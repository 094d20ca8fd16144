// The handlers a worker runs: `weft worker handlers.mjs`, or startWorker in main.mjs.
import { handle } from "@weft/core";
import { add, double, sum } from "./tasks.mjs";

export const handlers = [
  handle(add, ({ a, b }) => a + b),
  handle(double, (x) => x * 2),
  handle(sum, (xs) => xs.reduce((x, y) => x + y, 0)),
];
