/**
 * Two handlers for `payments.charge`: a naive one that charges again every
 * time it runs — so a retry after a lost report, or a duplicate delivery,
 * charges the customer twice — and the fixed one, which hands the
 * provider `ctx.idempotencyKey` (stable across retries of the node).
 */
import type { HandlerFn } from "@weft/core";
import type { FakeProvider } from "./provider.ts";
import type { charge } from "./tasks.ts";

/** BUG: not idempotent. Every execution makes a new charge. */
export const chargeNaive =
  (provider: FakeProvider): HandlerFn<typeof charge> =>
  async ({ account, amountCents }) => {
    const c = provider.charge(account, amountCents);
    return { chargeId: c.id, balanceCents: provider.balance(account) };
  };

/** Fixed: the provider deduplicates by the node's idempotency key. */
export const chargeIdempotent =
  (provider: FakeProvider): HandlerFn<typeof charge> =>
  async ({ account, amountCents }, ctx) => {
    const c = provider.charge(account, amountCents, ctx.idempotencyKey);
    return { chargeId: c.id, balanceCents: provider.balance(account) };
  };
