// The Sandbox page's Ports panel, against a running container (image "python") serving its
// /workspace with `python3 -m http.server` on 127.0.0.1:8000: a port out of range is refused
// here, the server's 422 is shown next to the field it names, then Open preview signs a URL for
// port 8000 (a link to a new tab, a copy button, when it expires) that serves the sandbox's file
// in the browser, without the session; axe-core finds nothing serious. A paused container keeps
// the panel; an ended one and a code-interpreter have none. Ports declared in the Create
// Sandbox wizard are listed in the panel (declared, whether a server listens), with the
// wizard's checks and the server's 422 at its field; Declare a port adds one from the panel.
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page, type Route } from "@playwright/test";

import { call, createSandbox, row, signIn, type SandboxView } from "./support";

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
    // The list has the server's port, not declared, listening (once the server is up).
    const listed = panel.locator('tr[data-port="8000"]');
    await expect(listed).toBeVisible({ timeout: 30_000 });
    await expect(listed.getByRole("cell", { name: "No", exact: true })).toBeVisible();
    await expect(listed.getByText("listening", { exact: true })).toBeVisible({ timeout: 30_000 });
    const port = panel.getByLabel("Port", { exact: true });
    const expires = panel.getByLabel("Expires in");
    const open = panel.getByRole("button", { name: "Open preview", exact: true });
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
    await expect(panel.getByRole("button", { name: "Open preview", exact: true })).toBeEnabled();

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

test("ports declared in the wizard are listed in the panel; Declare a port adds one", async ({ page }) => {
  test.setTimeout(150_000);
  const session = await signIn(page);
  await page.goto("/sandboxes");
  await page.getByRole("button", { name: "Create Sandbox" }).first().click();
  const wizard = page.getByRole("dialog", { name: "Create Sandbox" });
  await wizard.getByRole("button", { name: "Next" }).click();
  await wizard.getByLabel("Image", { exact: true }).selectOption("python");
  await wizard.getByRole("button", { name: "Next" }).click();
  await expect(wizard.getByRole("group", { name: "Configuration" })).toBeVisible();
  await wizard.getByLabel("Memory").fill("256Mi");
  await wizard.getByLabel("Timeout (seconds)").fill("300");

  const ports = wizard.getByLabel("Ports", { exact: true });
  await expect(ports).toHaveAccessibleDescription(/separated by commas or spaces, at most 16/);
  const create = wizard.getByRole("button", { name: "Create Sandbox" });
  const isCreate = (r: { url(): string; method(): string }) =>
    new URL(r.url()).pathname === "/v1/sandboxes" && r.method() === "POST";
  const posts: string[] = [];
  page.on("request", (r) => {
    if (isCreate(r)) posts.push(r.url());
  });

  // Checked here, next to the field, without asking the server.
  for (const [typed, said] of [
    ["8000, 0", /“0” is not a port: give whole numbers from 1 to 65,535\./],
    ["8000 70000", /“70000” is not a port/],
    ["8000 8000", /Port 8000 is listed twice/],
  ] as const) {
    await ports.fill(typed);
    await create.click();
    await expect(ports).toHaveAttribute("aria-invalid", "true");
    await expect(ports).toBeFocused();
    await expect(ports).toHaveAccessibleDescription(said);
  }
  expect(posts).toEqual([]);
  await ports.fill("8000");
  await expect(ports).not.toHaveAttribute("aria-invalid", "true");

  // The server's 422 about `ports[1]` sits at the field: the request's list, rewritten on its
  // way to name 8000 twice, is refused by the server.
  let rewritten = false;
  const rewrite = async (route: Route) => {
    if (route.request().method() !== "POST" || rewritten) return route.fallback();
    rewritten = true;
    await route.continue({ postData: JSON.stringify({ ...route.request().postDataJSON(), ports: [8000, 8000] }) });
  };
  await page.route((url) => url.pathname === "/v1/sandboxes", rewrite);
  const refused = page.waitForResponse((r) => isCreate(r.request()));
  await create.click();
  const refusal = await refused;
  const problem = (await refusal.json()) as { code: string; field: string; detail: string };
  expect(refusal.status(), JSON.stringify(problem)).toBe(422);
  expect(problem).toMatchObject({ code: "invalid_request", field: "ports[1]" });
  await page.unroute((url) => url.pathname === "/v1/sandboxes", rewrite);
  await expect(wizard.getByRole("group", { name: "Configuration" })).toBeVisible();
  await expect(ports).toHaveAttribute("aria-invalid", "true");
  await expect(ports).toBeFocused();
  await expect(ports).toHaveAccessibleDescription(new RegExp(escape(problem.detail)));
  await expect(wizard.getByRole("alert")).toHaveCount(0);

  // Sent as the API's `ports`.
  await ports.fill(" 8000 ");
  const answered = page.waitForResponse((r) => isCreate(r.request()));
  await create.click();
  const answer = await answered;
  const created = (await answer.json()) as SandboxView;
  expect(answer.status(), JSON.stringify(created)).toBe(201);
  expect(answer.request().postDataJSON()).toMatchObject({ image: "python", ports: [8000] });
  expect(created.ports).toEqual([8000]);
  await expect(wizard).toBeHidden();
  await expect(row(page, created.id)).toBeVisible();

  try {
    await expect
      .poll(() => stateOf(page, session, created.id), { timeout: 60_000, intervals: [250, 500, 1000] })
      .toBe("running");
    await page.goto(`/sandboxes/${created.id}`);
    const details = page.getByRole("region", { name: "Details" });
    await expect(details.getByTestId("ports")).toHaveText("8000", { timeout: 30_000 });
    const panel = page.getByRole("region", { name: "Ports", exact: true });
    await expect(panel).toBeVisible();
    const list = panel.getByRole("table", { name: "The sandbox's ports, ascending" });
    const port8000 = list.locator('tr[data-port="8000"]');
    await expect(port8000.getByRole("rowheader")).toHaveText("8000");
    await expect(port8000.getByRole("cell", { name: "Yes", exact: true })).toBeVisible();
    await expect(port8000.getByText("not listening", { exact: true })).toBeVisible();

    // A server comes up on it: the list, read every few seconds, says so.
    await call(page.request, session, "POST", `/v1/sandboxes/${created.id}/processes`, {
      command: ["python3", "-m", "http.server", "8000", "--bind", "127.0.0.1", "--directory", "/workspace"],
    });
    await expect(port8000.getByText("listening", { exact: true })).toBeVisible({ timeout: 30_000 });
    await expect(port8000).toHaveAttribute("data-listening", "true");

    // Declare a port: checked here, then the server's 422 at the field, then declared.
    const declare = panel.getByRole("form", { name: "Declare a port" });
    const field = declare.getByLabel("Port to declare");
    const submit = declare.getByRole("button", { name: "Declare port" });
    await field.fill("70000");
    await submit.click();
    await expect(field).toHaveAttribute("aria-invalid", "true");
    await expect(field).toBeFocused();
    await expect(field).toHaveAccessibleDescription(/Give a port from 1 to 65,535\./);
    await field.fill("9000");
    await expect(field).not.toHaveAttribute("aria-invalid", "true");

    const portsUrl = (url: string) => new URL(url).pathname === `/v1/sandboxes/${created.id}/ports`;
    const isDeclare = (r: { url(): string; method(): string }) => portsUrl(r.url()) && r.method() === "POST";
    // The first POST rewritten on its way to port 0, which the server refuses; the list's GETs
    // pass untouched.
    let spoiled = false;
    const spoil = async (route: Route) => {
      if (route.request().method() !== "POST" || spoiled) return route.fallback();
      spoiled = true;
      await route.continue({ postData: JSON.stringify({ port: 0 }) });
    };
    await page.route((url) => portsUrl(url.href), spoil);
    const refusedDeclare = page.waitForResponse((r) => isDeclare(r.request()));
    await submit.click();
    const declareRefusal = await refusedDeclare;
    const declareProblem = (await declareRefusal.json()) as { field: string; detail: string };
    expect(declareRefusal.status(), JSON.stringify(declareProblem)).toBe(422);
    expect(declareProblem.field).toBe("port");
    await page.unroute((url) => portsUrl(url.href), spoil);
    await expect(field).toHaveAttribute("aria-invalid", "true");
    await expect(field).toBeFocused();
    await expect(field).toHaveAccessibleDescription(new RegExp(escape(declareProblem.detail)));
    await expect(panel.getByRole("alert")).toHaveCount(0);

    await field.fill("9000");
    const accepted = page.waitForResponse((r) => isDeclare(r.request()));
    await submit.click();
    const declared = await accepted;
    expect(declared.status(), await declared.text()).toBe(200);
    expect(declared.request().postDataJSON()).toEqual({ port: 9000 });
    await expect(panel.getByRole("status").filter({ hasText: "Port 9000 declared." })).toBeAttached();
    await expect(field).toHaveValue("");
    const port9000 = list.locator('tr[data-port="9000"]');
    await expect(port9000.getByRole("cell", { name: "Yes", exact: true })).toBeVisible();
    await expect(port9000.getByText("not listening", { exact: true })).toBeVisible();
    await expect(details.getByTestId("ports")).toHaveText("8000, 9000");
    expect(((await call(page.request, session, "GET", `/v1/sandboxes/${created.id}`)) as SandboxView).ports).toEqual([
      8000, 9000,
    ]);

    // Open preview on a row signs a URL for that port.
    const previewed = page.waitForResponse(
      (r) => r.url().endsWith(`/v1/sandboxes/${created.id}/previews`) && r.request().method() === "POST",
    );
    await port8000.getByRole("button", { name: "Open preview of port 8000" }).click();
    const preview = await previewed;
    expect(preview.status()).toBe(201);
    expect(preview.request().postDataJSON()).toEqual({ port: 8000, expires_in: 3600 });
    await expect(panel.getByRole("region", { name: "Preview of port 8000" })).toBeVisible();
    expect(await seriousViolations(page)).toEqual([]);
  } finally {
    await call(page.request, session, "DELETE", `/v1/sandboxes/${created.id}`);
  }
});
