/**
 * The onboarding workflow's task declarations: shared by the HTTP app (which
 * submits and reads runs) and the worker (which binds handlers to them).
 * Declarations hold no handler code, so the app never imports what the
 * worker runs.
 */
import { Schema, task } from "@weft/core";

/** What `POST /signups` takes: an email address and a display name. */
export const Signup = Schema.Struct({
  email: Schema.String.check(Schema.isPattern(/^[^@\s]+@[^@\s]+\.[^@\s]+$/)),
  name: Schema.String.check(Schema.isMinLength(1)),
});
export type Signup = typeof Signup.Type;

/** The account `createAccount` made; every later step receives it. */
export const Account = Schema.Struct({
  accountId: Schema.String,
  email: Schema.String,
  name: Schema.String,
});
export type Account = typeof Account.Type;

/** `sendWelcomeEmail`'s output: the id of the message sent. */
export const WelcomeSent = Schema.Struct({ messageId: Schema.String });

/** `provisionWorkspace`'s output. */
export const Workspace = Schema.Struct({ accountId: Schema.String, workspaceId: Schema.String });

/** `notifyCrm`'s output: the contact's id in the CRM. */
export const CrmContact = Schema.Struct({ crmId: Schema.String });

/** Creates the account (its id derived from the email, so a retry makes the same one). */
export const createAccount = task({
  name: "onboarding.createAccount",
  input: Signup,
  output: Account,
});

/** Sends the welcome email; its output is the message id. */
export const sendWelcomeEmail = task({
  name: "onboarding.sendWelcomeEmail",
  input: Account,
  output: WelcomeSent,
});

/** Provisions the account's workspace in steps, reporting progress. */
export const provisionWorkspace = task({
  name: "onboarding.provisionWorkspace",
  input: Account,
  output: Workspace,
});

/**
 * Registers the contact with the CRM over HTTP. The CRM is flaky, so a
 * failed call is retried: up to 3 attempts, 100 ms apart unless the CRM
 * asks for another delay (`Retry-After`).
 */
export const notifyCrm = task({
  name: "onboarding.notifyCrm",
  input: Account,
  output: CrmContact,
  retry: { maxAttempts: 3, backoff: { kind: "fixed", delayMs: 100 }, jitter: "none" },
  timeoutMs: 10_000,
});

/** What the onboarding run produces. */
export const Summary = Schema.Struct({
  accountId: Schema.String,
  messageId: Schema.String,
  workspaceId: Schema.String,
  crmId: Schema.String,
});
export type Summary = typeof Summary.Type;

/** Gathers the three parallel steps' outputs (in declaration order) into the run's result. */
export const summarize = task({
  name: "onboarding.summarize",
  input: Schema.Tuple([WelcomeSent, Workspace, CrmContact]),
  output: Summary,
});
