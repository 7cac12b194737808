// axe-core on the Sandboxes page, each step of the wizard, a Sandbox page (a code-interpreter's
// with cells, a container's with its log), the Jobs list and a Job page, the Templates list,
// its New template form and a Template page, Identity verification,
// API keys, the Batches list and a Batch page, the Wallet, and Admin (with an operator's
// login): no serious or critical violations. With SBX_SCREENSHOTS=1 it also retakes the
// screenshots kept in docs/ (`SBX_SCREENSHOTS=1 scripts/dashboard-test -g accessibility`).
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";
import { fileURLToPath } from "node:url";

import {
  buildTemplate,
  call,
  createSandbox,
  NO_OPERATOR,
  operatorLogin,
  signIn,
  signInAs,
  submitJob,
  TINY_PNG,
} from "./support";

const docs = (name: string) => fileURLToPath(new URL(`../../docs/${name}`, import.meta.url));

async function screenshot(page: Page, name: string) {
  if (process.env.SBX_SCREENSHOTS !== "1") return;
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: docs(name) });
}

async function seriousViolations(page: Page, include?: string) {
  let builder = new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]);
  if (include) builder = builder.include(include);
  const { violations } = await builder.analyze();
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

test("the Sandboxes page has no serious accessibility violations", async ({ page }) => {
  const session = await signIn(page);
  await createSandbox(page, session, { image: "code-interpreter", timeout_s: 900, env: { A: "1" } });
  await page.goto("/sandboxes");
  await expect(page.locator("tbody tr").first()).toBeVisible();
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, "dashboard-sandboxes.png");
});

test("the wizard has no serious accessibility violations on any step", async ({ page }) => {
  await signIn(page);
  await page.goto("/sandboxes");
  await page.getByRole("button", { name: "Create Sandbox" }).first().click();
  const wizard = page.getByRole("dialog", { name: "Create Sandbox" });
  await expect(wizard.getByText(/No GPUs are available|Free now/)).toBeVisible();
  await wizard.getByLabel("GPU type").selectOption({ label: "A100 80 GB" });
  expect(await seriousViolations(page)).toEqual([]);

  await wizard.getByRole("button", { name: "Next" }).click();
  await wizard.getByLabel("Image", { exact: true }).selectOption("__custom__");
  await expect(wizard.getByLabel("Custom image")).toBeVisible();
  expect(await seriousViolations(page)).toEqual([]);
  await wizard.getByLabel("Image", { exact: true }).selectOption("python");

  await wizard.getByRole("button", { name: "Next" }).click();
  await wizard.getByRole("button", { name: "Add variable" }).click();
  await wizard.getByLabel("Name").fill("HF_HOME");
  await wizard.getByLabel("Value").fill("/workspace/hf");
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, "dashboard-wizard.png");

  // A container's network: the allow list, refused empty.
  await wizard.getByRole("group", { name: "Network" }).getByRole("radio", { name: "Allow list" }).check();
  await wizard.getByRole("button", { name: "Create Sandbox" }).click();
  await expect(wizard.getByLabel("Allowed hosts")).toHaveAttribute("aria-invalid", "true");
  expect(await seriousViolations(page)).toEqual([]);
});

test("the Sandbox page has no serious accessibility violations", async ({ page }) => {
  const session = await signIn(page);
  const sandbox = await createSandbox(page, session, { image: "code-interpreter", timeout_s: 900, env: { A: "1" } });
  await page.goto(`/sandboxes/${sandbox.id}`);
  const code = page.getByLabel("Code");
  await code.fill('import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt; plt.plot([1,2,3])\nprint("hello")');
  await code.press("ControlOrMeta+Enter");
  await expect(page.getByRole("img", { name: /^Figure 1 of cell 1/ })).toBeVisible({ timeout: 30_000 });
  await code.fill("1/0");
  await code.press("ControlOrMeta+Enter");
  await expect(page.getByRole("listitem", { name: "Cell 2" }).getByRole("figure", { name: "stderr" })).toBeVisible();
  await page.getByLabel("Timeout (seconds)").fill("0");
  await page.getByRole("button", { name: "Set timeout" }).click();
  await expect(page.getByLabel("Timeout (seconds)")).toHaveAttribute("aria-invalid", "true");
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, "dashboard-sandbox.png");
  await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);

  const container = await createSandbox(page, session, {
    image: "python",
    command: ["sh", "-c", "echo out; echo err >&2; sleep 60"],
    timeout_s: 300,
  });
  await page.goto(`/sandboxes/${container.id}`);
  await expect(page.getByRole("log", { name: "Sandbox log" })).toContainText("err", { timeout: 30_000 });
  await page.getByLabel("Command").fill("ls /");
  await page.getByLabel("Command").press("Enter");
  await expect(page.getByRole("listitem", { name: "Run 1" })).toContainText("exit code 0");
  expect(await seriousViolations(page)).toEqual([]);
  await call(page.request, session, "DELETE", `/v1/sandboxes/${container.id}`);
});

test("the Jobs pages have no serious accessibility violations", async ({ page }) => {
  const session = await signIn(page);
  await submitJob(page, session, { language: "python", code: "import sys; print(1); print('warn', file=sys.stderr)" });
  const job = await submitJob(page, session, {
    kind: "container",
    image: "python",
    command: ["sh", "-c", "echo working; mkdir -p /outputs && echo done > /outputs/result.txt"],
  });
  await page.goto("/jobs");
  await expect(page.locator("tbody tr").first()).toBeVisible();
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, "dashboard-jobs.png");

  await page.goto(`/jobs/${job.id}`);
  await expect(page.getByRole("link", { name: "result.txt" })).toBeVisible({ timeout: 45_000 });
  await expect(page.getByText("The log ended.")).toBeVisible();
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, "dashboard-job.png");
});

test("the Templates pages have no serious accessibility violations", async ({ page }) => {
  test.setTimeout(180_000);
  const session = await signIn(page);
  const suffix = Date.now().toString(36);
  const ready = await buildTemplate(page, session, `a11y-ready-${suffix}`, "FROM python\nRUN echo a11y\n");
  const failed = await buildTemplate(page, session, `a11y-failed-${suffix}`, "FROM python\nRUN exit 1\n");
  expect([ready.state, failed.state]).toEqual(["ready", "failed"]);
  try {
    await page.goto("/templates");
    await expect(page.locator(`tr[data-template-name="${ready.name}"]`)).toBeVisible();
    await expect(page.locator(`tr[data-template-name="${failed.name}"]`)).toBeVisible();
    expect(await seriousViolations(page)).toEqual([]);

    await page.getByRole("button", { name: "New template" }).first().click();
    const dialog = page.getByRole("dialog", { name: "New template" });
    await dialog.getByLabel("Name").fill("Not A Name");
    await dialog.getByRole("button", { name: "Build template" }).click();
    await expect(dialog.getByLabel("Name")).toHaveAttribute("aria-invalid", "true");
    expect(await seriousViolations(page)).toEqual([]);
    await page.keyboard.press("Escape");

    await page.goto(`/templates/${failed.name}`);
    await expect(page.getByText("The log ended.")).toBeVisible();
    await expect(page.getByTestId("template-error")).toBeVisible();
    expect(await seriousViolations(page)).toEqual([]);
    await page.goto(`/templates/${ready.name}`);
    await expect(page.getByText("The log ended.")).toBeVisible();
    expect(await seriousViolations(page)).toEqual([]);
  } finally {
    await call(page.request, session, "DELETE", `/v1/templates/${ready.name}`);
    await call(page.request, session, "DELETE", `/v1/templates/${failed.name}`);
  }
});

test("the Identity verification, API keys and Batches pages have no serious accessibility violations", async ({ page }) => {
  const session = await signIn(page);
  await page.goto("/kyc");
  await expect(page.getByRole("heading", { level: 1, name: "Identity verification" })).toBeVisible();
  if (await page.getByLabel("ID document").count()) {
    await page.getByLabel("ID document").setInputFiles({ name: "a.txt", mimeType: "text/plain", buffer: Buffer.from("x") });
    await expect(page.getByLabel("ID document")).toHaveAttribute("aria-invalid", "true");
  }
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, "dashboard-kyc.png");

  await page.goto("/api-keys");
  await page.getByRole("region", { name: "Webhook secret" }).getByRole("button", { name: "Show" }).click();
  await expect(page.getByTestId("webhook-secret")).toBeVisible();
  expect(await seriousViolations(page)).toEqual([]);
  await page.getByRole("button", { name: "Create key" }).click();
  await page.getByRole("dialog", { name: "Create key" }).getByLabel("Name").fill("a11y");
  await page.getByRole("dialog", { name: "Create key" }).getByRole("button", { name: "Create key" }).click();
  await expect(page.getByLabel("Key secret")).toBeVisible();
  expect(await seriousViolations(page)).toEqual([]);
  await page.getByRole("button", { name: "Done" }).click();
  await screenshot(page, "dashboard-api-keys.png");

  const batch = (await call(page.request, session, "POST", "/v1/batches", {
    items: [
      { id: "a", code: "print(1)", expected_stdout: "1\n" },
      { id: "b", code: "print(2)", expected_stdout: "3\n" },
    ],
  })) as { id: string };
  await page.goto("/batches");
  await expect(page.locator("tbody tr").first()).toBeVisible();
  expect(await seriousViolations(page)).toEqual([]);
  await page.goto(`/batches/${batch.id}`);
  await expect(page.getByTestId("batch-status")).toHaveText("finished", { timeout: 60_000 });
  await page.getByRole("button", { name: "Show output of b" }).click();
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, "dashboard-batch.png");
});

test("the Wallet has no serious accessibility violations", async ({ page }) => {
  const session = await signIn(page);
  // Something spent today (the tests above spent more), and a limit for the meter: a generous
  // one, removed again, so that the dev project's other tests never meet a cut-off.
  const sandbox = await createSandbox(page, session, { image: "code-interpreter", timeout_s: 900 });
  await call(page.request, session, "POST", `/v1/sandboxes/${sandbox.id}/exec`, { code: "print(1)" });
  await call(page.request, session, "PUT", "/v1/budget", { monthly_limit_usd: 50, webhook_url: null });
  try {
    await page.goto("/wallet");
    await expect(page.getByRole("meter", { name: "Budget used" })).toBeVisible();
    await expect(page.locator(".chart-bar").first()).toBeVisible();
    await expect(page.getByRole("region", { name: "Rates" }).getByRole("table")).toBeVisible();
    await expect(page.getByRole("region", { name: "Running and paused sandboxes" }).getByTestId("cost").first()).toHaveText(/^\$/);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, "dashboard-wallet.png");

    await page.getByRole("radio", { name: "By sandbox" }).check();
    await page.getByText("The chart as a table").click();
    await page.getByLabel("Monthly limit (USD)").fill("lots");
    await page.getByRole("button", { name: "Save budget" }).click();
    await expect(page.getByLabel("Monthly limit (USD)")).toHaveAttribute("aria-invalid", "true");
    expect(await seriousViolations(page)).toEqual([]);
  } finally {
    await call(page.request, session, "PUT", "/v1/budget", { monthly_limit_usd: null, webhook_url: null });
    await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
  }
});

test("the Admin page has no serious accessibility violations", async ({ browser }) => {
  const login = operatorLogin();
  test.skip(!login, NO_OPERATOR);
  const context = await browser.newContext({ baseURL: process.env.SBX_URL });
  const page = await context.newPage();
  const session = await signInAs(page, login!);
  // A check to list: the operator's own (decided in kyc.spec.ts).
  if (session.user.kyc_status === "unverified" || session.user.kyc_status === "rejected") {
    await call(page.request, session, "POST", "/auth/kyc", {
      legal_name: "Grace Hopper",
      country: "US",
      date_of_birth: "1986-12-09",
      document: { name: "scan.png", content_type: "image/png", content_b64: TINY_PNG.toString("base64") },
    });
  }
  await page.goto("/operator");
  await page.getByLabel("Status").selectOption("all");
  await expect(page.getByRole("table", { name: "Identity checks" }).getByRole("row").nth(1)).toBeVisible();
  expect(await seriousViolations(page)).toEqual([]);
  await context.close();
});
