/**
 * A fake payment provider, like Stripe's API: it charges accounts and, when
 * given an idempotency key, returns the first charge made with that key
 * instead of charging again.
 */

/** One charge. */
export interface Charge {
  readonly id: string;
  readonly account: string;
  readonly amountCents: number;
}

/** An in-memory payment provider. */
export class FakeProvider {
  readonly charges: Charge[] = [];
  private readonly byKey = new Map<string, Charge>();

  /** Charges an account; with `idempotencyKey`, a repeated call returns the first charge. */
  charge(account: string, amountCents: number, idempotencyKey?: string): Charge {
    const seen = idempotencyKey === undefined ? undefined : this.byKey.get(idempotencyKey);
    if (seen) return seen;
    const c = { id: `ch_${this.charges.length + 1}`, account, amountCents };
    this.charges.push(c);
    if (idempotencyKey !== undefined) this.byKey.set(idempotencyKey, c);
    return c;
  }

  /** Total charged to an account, in cents. */
  balance(account: string): number {
    return this.charges.filter((c) => c.account === account).reduce((s, c) => s + c.amountCents, 0);
  }
}
