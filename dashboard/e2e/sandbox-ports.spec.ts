// The Sandbox page's Ports panel, against a running container (image "python") serving its
// /workspace with `python3 -m http.server` on 127.0.0.1:8000: a port out of range is refused
// here, the server's 422 is shown next to the field it names, then Open preview signs a URL for
// port 8000 (a link to a new tab, a copy button, when it expires) that serves the sandbox's file
// in the browser, without the session; axe-core finds nothing serious. A paused container keeps
// the panel; an ended one and a code-interpreter have none.
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";

import { call, createSandbox, signIn, type SandboxView } from "./support";

type Session = Awaited<ReturnType<typeof signIn>>;

interface PreviewView {
  url: string;
  sandbox_id: string;
  port: number;
  expires_at: string;
}

async function seriousViolations(page: Page) {
  const { violations } = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"])
    .analyze();
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

async function stateOf(page: Page, session: Session, id: string): Promise<string> {
  return ((await call(page.request, session, "GET", `/v1/sandboxes/${id}`)) as SandboxView).state;
}

/** A container sandbox, once it runs (the page polls every 10 s: waiting here is quicker). */
async function runningContainer(page: Page, session: Session): Promise<SandboxView> {
  const created = await createSandbox(page, session, { image: "python", memory: "256Mi", timeout_s: 300 });
  await expect
    .poll(() => stateOf(page, session, created.id), { timeout: 60_000, intervals: [250, 500, 1000] })
    .toBe("running");
  return created;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const HINT = "Anyone with the link reaches this port until it expires.";

test("a container's port: open a preview, its URL serves the sandbox's server; field errors", async ({
  page,
  context,
}) => {
  test.setTimeout(120_000);
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  const session = await signIn(page);
  const sandbox = await runningContainer(page, session);
  let ended = false;
  try {
    // A file, and a server for it on port 8000 (on the loopback: only a preview URL reaches it).
    const hello = "hello through a preview URL\n";
    await call(page.request, session, "PUT", `/v1/sandboxes/${sandbox.id}/files/workspace/hello.txt`, hello);
    await call(page.request, session, "POST", `/v1/sandboxes/${sandbox.id}/processes`, {
      command: ["python3", "-m", "http.server", "8000", "--bind", "127.0.0.1", "--directory", "/workspace"],
    });

    await page.goto(`/sandboxes/${sandbox.id}`);
    const panel = page.getByRole("region", { name: "Ports", exact: true });
    await expect(panel).toBeVisible({ timeout: 30_000 });
    await expect(panel.getByText(HINT)).toBeVisible();
    const port = panel.getByLabel("Port", { exact: true });
    const expires = panel.getByLabel("Expires in");
    const open = panel.getByRole("button", { name: "Open preview" });
    await expect(open).toHaveAccessibleDescription(HINT);
    await expect(expires).toHaveValue("3600");
    await expect(panel.getByRole("link")).toHaveCount(0);

    // Out of range: the form checks it itself (it does not leave it to the input's min and
    // max, which would not say why), next to the field; nothing is asked of the server.
    const posts: string[] = [];
    page.on("request", (r) => {
      if (r.method() === "POST" && r.url().endsWith(`/v1/sandboxes/${sandbox.id}/previews`)) posts.push(r.url());
    });
    for (const bad of ["70000", "0"]) {
      await port.fill(bad);
      await open.click();
      await expect(port).toHaveAttribute("aria-invalid", "true");
      await expect(port).toBeFocused();
      await expect(port).toHaveAccessibleDescription(/Give a port from 1 to 65,535\./);
    }
    await port.fill("");
    await open.click();
    await expect(port).toHaveAccessibleDescription(/Enter the port the server listens on/);
    expect(posts).toEqual([]);
    // Typing clears it.
    await port.fill("8000");
    await expect(port).not.toHaveAttribute("aria-invalid", "true");

    // The server's 422 next to the field it names: the request's expiry, rewritten on its way
    // to 0 (which no choice offers), is refused by the server.
    const previewsUrl = (url: string) => url.endsWith(`/v1/sandboxes/${sandbox.id}/previews`);
    await page.route(
      (url) => previewsUrl(url.href),
      (route) => route.continue({ postData: JSON.stringify({ ...route.request().postDataJSON(), expires_in: 0 }) }),
      { times: 1 },
    );
    const refused = page.waitForResponse((r) => previewsUrl(r.url()) && r.request().method() === "POST");
    await open.click();
    const refusal = await refused;
    const problem = (await refusal.json()) as { code: string; field: string; detail: string };
    expect(refusal.status(), JSON.stringify(problem)).toBe(422);
    expect(problem).toMatchObject({ code: "invalid_request", field: "expires_in" });
    await expect(expires).toHaveAttribute("aria-invalid", "true");
    await expect(expires).toBeFocused();
    await expect(expires).toHaveAccessibleDescription(new RegExp(escape(problem.detail)));
    await expect(port).not.toHaveAttribute("aria-invalid", "true");
    await expect(panel.getByRole("alert")).toHaveCount(0);
    await expect(panel.getByRole("link")).toHaveCount(0);
    expect(await seriousViolations(page)).toEqual([]);
    // Choosing again clears it.
    await expires.selectOption({ label: "15 minutes" });
    await expect(expires).not.toHaveAttribute("aria-invalid", "true");

    // Port 8000 for 15 minutes: the URL, a link to a new tab, a copy button, when it expires.
    const answered = page.waitForResponse((r) => previewsUrl(r.url()) && r.request().method() === "POST");
    const before = Date.now();
    await open.click();
    const answer = await answered;
    const preview = (await answer.json()) as PreviewView;
    expect(answer.status(), JSON.stringify(preview)).toBe(201);
    expect(answer.request().postDataJSON()).toEqual({ port: 8000, expires_in: 900 });
    expect(preview).toMatchObject({ sandbox_id: sandbox.id, port: 8000 });
    expect(preview.url).toMatch(/^http:\/\/[0-9a-f]{60}\.preview\.localhost:\d+\/$/);
    const expiresInS = (Date.parse(preview.expires_at) - before) / 1000;
    expect(expiresInS).toBeGreaterThan(900 - 60);
    expect(expiresInS).toBeLessThan(900 + 60);

    const shown = panel.getByRole("region", { name: "Preview of port 8000" });
    const link = shown.getByRole("link", { name: /\.preview\.localhost:/ });
    await expect(link).toHaveAttribute("href", preview.url);
    await expect(link).toContainText(preview.url);
    await expect(link).toHaveAccessibleName(`${preview.url} (opens in a new tab)`);
    await expect(link).toHaveAttribute("target", "_blank");
    await expect(link).toHaveAttribute("rel", "noopener noreferrer");
    const local = await page.evaluate((at) => new Date(at).toLocaleString(), preview.expires_at);
    await expect(shown.locator("time")).toHaveAttribute("datetime", preview.expires_at);
    await expect(shown.locator("time")).toHaveText(local);
    await expect(panel.getByRole("status").filter({ hasText: "Preview URL of port 8000 ready" })).toBeAttached();
    await shown.getByRole("button", { name: "Copy URL" }).click();
    await expect(shown.getByText("Copied")).toBeVisible();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(preview.url);
    expect(await seriousViolations(page)).toEqual([]);

    // The link opens a tab of its own on the preview's origin (no session there): the
    // server's listing of /workspace, then the file it serves.
    const opened = context.waitForEvent("page");
    await link.click();
    const tab = await opened;
    await tab.waitForLoadState();
    expect(new URL(tab.url()).host).toBe(new URL(preview.url).host);
    // The server may still be starting: read it again until it answers.
    await expect(async () => {
      const r = await tab.goto(preview.url);
      expect(r?.status()).toBe(200);
      await expect(tab.getByRole("link", { name: "hello.txt" })).toBeVisible({ timeout: 1_000 });
    }).toPass({ timeout: 30_000 });
    const file = await tab.goto(`${preview.url}hello.txt`);
    expect(file?.status()).toBe(200);
    expect(await file?.text()).toBe(hello);
    await expect(tab.locator("body")).toHaveText(hello.trim());
    await tab.close();

    // Paused: the panel stays (a URL works again once it is resumed), and says so.
    await call(page.request, session, "POST", `/v1/sandboxes/${sandbox.id}/pause`);
    await expect.poll(() => stateOf(page, session, sandbox.id), { timeout: 30_000 }).toBe("paused");
    await page.reload();
    await expect(panel).toBeVisible({ timeout: 30_000 });
    await expect(panel.getByText("The sandbox is paused")).toBeVisible();
    await expect(panel.getByRole("button", { name: "Open preview" })).toBeEnabled();

    // Ended: no panel.
    await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
    ended = true;
    await page.reload();
    await expect(page.getByRole("region", { name: "Live log", exact: true })).toBeVisible({ timeout: 30_000 });
    await expect(panel).toHaveCount(0);
    await expect(page.getByRole("button", { name: "Open preview" })).toHaveCount(0);
  } finally {
    if (!ended) await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
  }
});

test("a code-interpreter sandbox has no ports panel", async ({ page }) => {
  const session = await signIn(page);
  const sandbox = await createSandbox(page, session, { image: "code-interpreter", timeout_s: 300 });
  try {
    await page.goto(`/sandboxes/${sandbox.id}`);
    await expect(page.getByRole("region", { name: "Files", exact: true })).toBeVisible({ timeout: 30_000 });
    await expect(page.getByRole("region", { name: "Ports", exact: true })).toHaveCount(0);
    await expect(page.getByRole("button", { name: "Open preview" })).toHaveCount(0);
  } finally {
    await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
  }
});
