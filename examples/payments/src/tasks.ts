/**
 * The task a producer imports: charge an account.
 */
import { Schema, task } from "@weft/core";

/** Charges `amountCents` to `account`; returns the provider's charge id and the account's new balance. */
export const charge = task({
  name: "payments.charge",
  input: Schema.Struct({
    account: Schema.String.check(Schema.isMinLength(1)),
    amountCents: Schema.Int.check(Schema.isGreaterThan(0)),
  }),
  output: Schema.Struct({ chargeId: Schema.String, balanceCents: Schema.Int }),
  retry: { maxAttempts: 5 },
});
