/**
 * The onboarding workflow: create the account, then send the welcome email,
 * provision the workspace and notify the CRM in parallel, then summarize.
 *
 *     createAccount → group(sendWelcomeEmail, provisionWorkspace, notifyCrm) → summarize
 */
import { chain, group } from "@weft/core";
import {
  createAccount,
  notifyCrm,
  provisionWorkspace,
  type Signup,
  sendWelcomeEmail,
  summarize,
} from "./tasks.ts";

/** The onboarding canvas for one signup; its result is a `Summary`. */
export const onboarding = (signup: Signup) =>
  chain(
    createAccount.si(signup),
    group(sendWelcomeEmail.s(), provisionWorkspace.s(), notifyCrm.s()),
    summarize.s(),
  );
