/**
 * Who may use the dashboard, and which requests may change state.
 *
 * - Authentication (`--auth`): a bearer token, or `user:pass` for HTTP Basic
 *   (RFC 7617). A browser sends Basic credentials by itself once asked; a
 *   bearer token is accepted from the `Authorization` header, or from the
 *   `weft_token` cookie that `/?token=<token>` sets (HttpOnly, SameSite=Strict).
 * - CSRF (the OWASP "custom request header" defence plus an origin check):
 *   a state-changing request (anything but GET, HEAD, OPTIONS) must carry
 *   the header `X-Weft-Action: 1`, which a cross-site form or image cannot
 *   set and which a cross-site script could only send after a CORS preflight
 *   the dashboard never grants; and when it carries `Origin`, that origin's
 *   host must be the request's `Host`.
 */
import { timingSafeEqual } from "node:crypto";

/** Credentials the dashboard requires. */
export type DashboardAuth =
  | { readonly kind: "bearer"; readonly token: string }
  | { readonly kind: "basic"; readonly user: string; readonly password: string };

/** The header every state-changing request must carry (value `1`). */
export const ACTION_HEADER = "x-weft-action";

/** The cookie a bearer token is kept in once given as `?token=`. */
export const TOKEN_COOKIE = "weft_token";

/**
 * Parses `--auth`: `user:pass` is HTTP Basic, anything else without a colon a bearer token.
 *
 * @throws Error naming `--auth` when the value is empty, or a `user:pass` with an empty part.
 */
export const parseAuth = (value: string): DashboardAuth => {
  if (value === "") throw new Error("--auth takes a bearer token or user:pass, got an empty value");
  const colon = value.indexOf(":");
  if (colon < 0) return { kind: "bearer", token: value };
  const user = value.slice(0, colon);
  const password = value.slice(colon + 1);
  if (user === "" || password === "")
    throw new Error("--auth user:pass needs both a user and a password");
  return { kind: "basic", user, password };
};

const same = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

const cookieValue = (header: string | undefined, name: string): string | undefined => {
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name)
      return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
};

/** Whether a request's `Authorization` header (and cookies) satisfy `auth`. */
export const authorized = (
  auth: DashboardAuth,
  header: string | undefined,
  cookie: string | undefined,
): boolean => {
  if (auth.kind === "bearer") {
    if (header?.startsWith("Bearer ")) return same(header.slice(7), auth.token);
    const fromCookie = cookieValue(cookie, TOKEN_COOKIE);
    return fromCookie !== undefined && same(fromCookie, auth.token);
  }
  if (!header?.startsWith("Basic ")) return false;
  const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
  return same(decoded, `${auth.user}:${auth.password}`);
};

/**
 * Why a state-changing request is refused as a possible cross-site request,
 * or `undefined` when it may go on.
 */
export const csrfRefusal = (
  action: string | undefined,
  origin: string | undefined,
  host: string | undefined,
): string | undefined => {
  if (action !== "1") return `a state-changing request needs the header X-Weft-Action: 1`;
  if (origin !== undefined && origin !== "null") {
    let originHost: string;
    try {
      originHost = new URL(origin).host;
    } catch {
      return `the Origin header ${JSON.stringify(origin)} is not a URL`;
    }
    if (originHost !== host) return `cross-origin request refused (Origin ${origin}, Host ${host})`;
  } else if (origin === "null") return "cross-origin request refused (Origin null)";
  return undefined;
};

/** Whether `host` (as given to `--host`) is a loopback address, which may serve without auth. */
export const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^127(\.\d{1,3}){3}$/.test(host);
