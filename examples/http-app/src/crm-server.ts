/**
 * Runs the flaky CRM alone on `CRM_PORT` (default 4010), for trying the
 * example by hand: `npm run crm -w @weft/example-http-app`.
 */
import { startCrm } from "./crm.ts";

const crm = await startCrm(Number(process.env.CRM_PORT || 4010));
console.log(`flaky CRM listening on ${crm.url}`);
process.once("SIGTERM", () => void crm.close());
process.once("SIGINT", () => void crm.close());
