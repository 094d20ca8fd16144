// A TypeScript handlers module: `weft worker handlers.ts` needs tsx, which this project lacks.
import { handle, Schema, task } from "@weft/core";

const echo = task({ name: "consumer.echo", input: Schema.String, output: Schema.String });

export const handlers = [handle(echo, (s) => s)];
