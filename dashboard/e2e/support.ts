// What the browser tests share: the dev login, signing in through the API, and API calls
// with the session (for set-up and clean-up around what the UI is tested for).
import { readFileSync } from "node:fs";
import { expect, type APIRequestContext, type Page } from "@playwright/test";

import type { components } from "../src/api/schema";
import { tar } from "../src/lib/tar";

export type SandboxView = components["schemas"]["SandboxView"];
type Session = components["schemas"]["SessionView"];

export function devLogin(): { email: string; password: string } {
  const file = process.env.SBX_LOGIN_FILE;
  if (!file) throw new Error("set SBX_LOGIN_FILE to the server's login file (two lines: email, password)");
  const [email, password] = readFileSync(file, "utf8").split("\n").map((l) => l.trim());
  if (!email || !password) throw new Error(`${file}: expected two lines, email and password`);
  return { email, password };
}

/** Signs the page's browser context in (the cookie lands in the context) and gives the session. */
export async function signIn(page: Page): Promise<Session> {
  const r = await page.request.post("/auth/login", { data: devLogin() });
  expect(r.status(), await r.text()).toBe(200);
  return (await r.json()) as Session;
}

/** An API call with the session cookie, as the dashboard makes it. */
export async function call(
  request: APIRequestContext,
  session: Session,
  method: "GET" | "POST" | "PUT" | "DELETE",
  path: string,
  data?: unknown,
) {
  const headers: Record<string, string> = { "X-CSRF-Token": session.csrf_token };
  if (session.projects[0]) headers["X-Sbx-Project"] = session.projects[0].id;
  const r = await request.fetch(path, { method, headers, data });
  expect(r.ok(), `${method} ${path}: ${r.status()} ${await r.text()}`).toBe(true);
  return r.status() === 204 ? null : r.json();
}

export async function createSandbox(page: Page, session: Session, body: object): Promise<SandboxView> {
  return (await call(page.request, session, "POST", "/v1/sandboxes", body)) as SandboxView;
}

/** Deletes every pending, running or paused sandbox of the project. */
export async function endLiveSandboxes(page: Page, session: Session) {
  for (const state of ["pending", "running", "paused"]) {
    const page1 = (await call(page.request, session, "GET", `/v1/sandboxes?state=${state}&limit=200`)) as {
      data: SandboxView[];
    };
    for (const s of page1.data) await call(page.request, session, "DELETE", `/v1/sandboxes/${s.id}`);
  }
}

/** The table row of a sandbox. */
export function row(page: Page, id: string) {
  return page.locator(`tr[data-sandbox-id="${id}"]`);
}

export type JobView = components["schemas"]["JobView"];

export async function submitJob(page: Page, session: Session, body: object): Promise<JobView> {
  return (await call(page.request, session, "POST", "/v1/jobs", body)) as JobView;
}

/** The table row of a job. */
export function jobRow(page: Page, id: string) {
  return page.locator(`tr[data-job-id="${id}"]`);
}

/** A two-line login file (email, password) named by the environment variable `name`; `null` without it. */
function loginFrom(name: string): { email: string; password: string } | null {
  const file = process.env[name];
  if (!file) return null;
  const [email, password] = readFileSync(file, "utf8").split("\n").map((l) => l.trim());
  if (!email || !password) throw new Error(`${file}: expected two lines, email and password`);
  return { email, password };
}

/**
 * An operator's login, from the optional `SBX_OPERATOR_LOGIN_FILE` (two lines, email and
 * password, as `scripts/dashboard-test` writes it); `null` without it: the Admin tests skip.
 */
export function operatorLogin(): { email: string; password: string } | null {
  return loginFrom("SBX_OPERATOR_LOGIN_FILE");
}

/**
 * The budget project's owner and plain member (`SBX_BUDGET_OWNER_LOGIN_FILE`,
 * `SBX_BUDGET_MEMBER_LOGIN_FILE`, as `scripts/dashboard-test` writes them): a project of its
 * own, so that its budget cut-off leaves the dev project's tests alone. `null` without them:
 * the budget test skips.
 */
export function budgetLogins(): { owner: { email: string; password: string }; member: { email: string; password: string } } | null {
  const owner = loginFrom("SBX_BUDGET_OWNER_LOGIN_FILE");
  const member = loginFrom("SBX_BUDGET_MEMBER_LOGIN_FILE");
  return owner && member ? { owner, member } : null;
}

export const NO_BUDGET_PROJECT =
  "no budget project: set SBX_BUDGET_OWNER_LOGIN_FILE and SBX_BUDGET_MEMBER_LOGIN_FILE (scripts/dashboard-test does)";

export const NO_OPERATOR = "no operator: set SBX_OPERATOR_LOGIN_FILE to an operator's two-line login file";

/** Signs the page's browser context in as someone else than the dev user. */
export async function signInAs(page: Page, login: { email: string; password: string }): Promise<Session> {
  const r = await page.request.post("/auth/login", { data: login });
  expect(r.status(), await r.text()).toBe(200);
  return (await r.json()) as Session;
}

export type BatchView = components["schemas"]["BatchView"];

export async function submitBatch(page: Page, session: Session, body: object): Promise<BatchView> {
  return (await call(page.request, session, "POST", "/v1/batches", body)) as BatchView;
}

/** A 1×1 PNG: an ID document the API takes. */
export const TINY_PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);

export type TemplateView = components["schemas"]["TemplateView"];

/**
 * Builds template `name` from `dockerfile` through the API (the context a tar made by the
 * dashboard's own writer), and waits until its build ends unless `wait` is false.
 */
export async function buildTemplate(
  page: Page,
  session: Session,
  name: string,
  dockerfile: string,
  wait = true,
): Promise<TemplateView> {
  const headers: Record<string, string> = { "X-CSRF-Token": session.csrf_token, "Content-Type": "application/x-tar" };
  if (session.projects[0]) headers["X-Sbx-Project"] = session.projects[0].id;
  const r = await page.request.post(`/v1/templates?name=${encodeURIComponent(name)}`, {
    headers,
    data: Buffer.from(tar([{ name: "Dockerfile", data: dockerfile }])),
  });
  expect(r.status(), await r.text()).toBe(201);
  const created = (await r.json()) as TemplateView;
  if (!wait) return created;
  let t = created;
  await expect
    .poll(
      async () => {
        t = (await call(page.request, session, "GET", `/v1/templates/${name}?version=${created.version}`)) as TemplateView;
        return t.state;
      },
      { timeout: 120_000, intervals: [500, 1000] },
    )
    .toMatch(/^(ready|failed)$/);
  return t;
}
