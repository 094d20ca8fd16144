/** The example's tasks: charging an order, which fails for a declined card. */
import { handle, NonRetryableError, Schema, task } from "@weft/core";

/** Charges an order; a declined card fails for good, a gateway hiccup is retried. */
export const charge = task({
  name: "billing.charge",
  input: Schema.Struct({ order: Schema.String, card: Schema.String }),
  output: Schema.String,
  retry: { maxAttempts: 3, backoff: { kind: "fixed", delayMs: 5 }, jitter: "none" },
});

/** Handlers: card "0000" is declined; card "flaky" fails twice at the gateway, then is declined. */
export const handlers = (() => {
  const tries = new Map<string, number>();
  return [
    handle(charge, ({ order, card }) => {
      const n = (tries.get(order) ?? 0) + 1;
      tries.set(order, n);
      if (card === "flaky" && n < 3) throw new Error(`gateway timeout (try ${n})`);
      if (card === "0000" || card === "flaky")
        throw new NonRetryableError(`card declined for ${order}`);
      return `charged ${order}`;
    }),
  ];
})();
