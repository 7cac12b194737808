// The one API client: openapi-fetch typed by the generated schema. Same origin, the session
// cookie, and a middleware adding the CSRF token (non-GET) and the chosen project to every
// request from the signed-in state.
import createClient, { type Middleware } from "openapi-fetch";

import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
/** What sign-in and `GET /auth/session` answer. */
export type Session = Schemas["SessionView"];
/** A project the signed-in person belongs to. */
export type ProjectMembership = Schemas["MembershipView"];

/** What the middleware adds: set by the session provider when the session or project changes. */
const requestContext: { csrfToken: string | null; projectId: string | null } = {
  csrfToken: null,
  projectId: null,
};

/** Called by the session provider; the only writer of the request context. */
export function setRequestContext(csrfToken: string | null, projectId: string | null) {
  requestContext.csrfToken = csrfToken;
  requestContext.projectId = projectId;
}

/**
 * `X-CSRF-Token` for the session-only calls whose types declare it a required parameter
 * (`/auth/kyc`, `/admin/…`); the middleware would set the same value.
 */
export function csrfHeader(): { "X-CSRF-Token": string } {
  return { "X-CSRF-Token": requestContext.csrfToken ?? "" };
}

/** The session's headers for a request: the CSRF token on changes, the current project always. */
function addSessionHeaders(method: string, headers: Headers): Headers {
  if (method !== "GET" && method !== "HEAD" && requestContext.csrfToken) {
    headers.set("X-CSRF-Token", requestContext.csrfToken);
  }
  // A call may name another project itself (the wizard's "Project"); else the current one.
  if (requestContext.projectId && !headers.has("X-Sbx-Project")) {
    headers.set("X-Sbx-Project", requestContext.projectId);
  }
  return headers;
}

const sessionHeaders: Middleware = {
  onRequest({ request }) {
    addSessionHeaders(request.method, request.headers);
    return request;
  },
};

/**
 * A plain `fetch` with the same cookie and headers as `api`, for what openapi-fetch does not
 * read: event streams (EventSource cannot send `X-Sbx-Project`), file downloads and a sandbox's
 * files (their paths are URL paths, `/` and all, which openapi-fetch would encode as one segment).
 */
export function sessionFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const method = init.method ?? "GET";
  return fetch(path, {
    ...init,
    method,
    credentials: "same-origin",
    headers: addSessionHeaders(method, new Headers(init.headers)),
  });
}

/**
 * The session's headers for a request `fetch` cannot make: an upload through XMLHttpRequest,
 * whose progress `fetch` does not report.
 */
export function sessionHeadersFor(method: string): Headers {
  return addSessionHeaders(method, new Headers());
}

export const api = createClient<paths>({
  baseUrl: "",
  credentials: "same-origin",
});
api.use(sessionHeaders);
