/**
 * The onboarding handlers, bound to the tasks of `tasks.ts`. Only the
 * worker imports this module. `handlers` reads the CRM's URL from `CRM_URL`
 * (default `http://127.0.0.1:4010`), so `weft worker src/handlers.ts` runs
 * them as is; `handlersFor` takes it explicitly.
 */
import { createHash } from "node:crypto";
import { type BoundHandler, handle, TaskFailure } from "@weft/core";
import {
  createAccount,
  notifyCrm,
  provisionWorkspace,
  sendWelcomeEmail,
  summarize,
} from "./tasks.ts";

/** What the handlers need from their environment. */
export interface HandlerConfig {
  /** Base URL of the CRM (`POST <crmUrl>/contacts`). */
  readonly crmUrl: string;
}

const idOf = (prefix: string, ...parts: ReadonlyArray<string>) =>
  `${prefix}-${createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 12)}`;

/** The steps `provisionWorkspace` goes through, each reported as progress. */
const PROVISION_STEPS = ["database", "storage", "defaults"] as const;

/** The handlers of the onboarding tasks. */
export const handlersFor = (config: HandlerConfig): ReadonlyArray<BoundHandler> => [
  // the id depends on the email alone: a retried or repeated attempt makes the same account
  handle(createAccount, async ({ email, name }) => ({
    accountId: idOf("acct", email.toLowerCase()),
    email,
    name,
  })),

  handle(sendWelcomeEmail, async ({ email }, ctx) => {
    ctx.log.info({ to: email }, "welcome email sent");
    // a mail API would take ctx.idempotencyKey (stable across retries) to send once
    return { messageId: idOf("msg", ctx.idempotencyKey) };
  }),

  handle(provisionWorkspace, async ({ accountId }, ctx) => {
    for (const [i, step] of PROVISION_STEPS.entries()) {
      await ctx.progress({ current: i, total: PROVISION_STEPS.length, message: step });
    }
    await ctx.progress({ current: PROVISION_STEPS.length, total: PROVISION_STEPS.length });
    return { accountId, workspaceId: idOf("ws", accountId) };
  }),

  handle(notifyCrm, async ({ email, name }, ctx) => {
    const res = await fetch(`${config.crmUrl}/contacts`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": ctx.idempotencyKey },
      body: JSON.stringify({ email, name }),
      signal: ctx.signal,
    });
    if (res.status >= 500 || res.status === 429) {
      // retryable: the retry policy's backoff applies, or the delay the CRM asks for
      const retryAfter = res.headers.get("retry-after");
      throw new TaskFailure(`CRM answered ${res.status}`, {
        tag: "CrmUnavailable",
        ...(retryAfter === null ? {} : { retryAfterMs: Number(retryAfter) * 1000 }),
      });
    }
    if (!res.ok) {
      throw new TaskFailure(`CRM refused the contact: ${res.status} ${await res.text()}`, {
        tag: "CrmRefused",
        nonRetryable: true,
      });
    }
    const { id } = (await res.json()) as { id: string };
    return { crmId: id };
  }),

  handle(summarize, async ([email, workspace, crm]) => ({
    accountId: workspace.accountId,
    messageId: email.messageId,
    workspaceId: workspace.workspaceId,
    crmId: crm.crmId,
  })),
];

/** The handlers, configured from the environment (`CRM_URL`): what `weft worker` loads. */
export const handlers: ReadonlyArray<BoundHandler> = handlersFor({
  crmUrl: process.env.CRM_URL || "http://127.0.0.1:4010",
});
