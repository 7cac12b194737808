import { expect, test, type Page } from "@playwright/test";

import { call, row, signIn } from "./support";

async function openWizard(page: Page) {
  await page.goto("/sandboxes");
  await page.getByRole("button", { name: "Create Sandbox" }).first().click();
  const wizard = page.getByRole("dialog", { name: "Create Sandbox" });
  await expect(wizard).toBeVisible();
  return wizard;
}

/** The sandbox the wizard's POST made, as the API answered it. */
function created(page: Page): Promise<{ id: string; state: string }> {
  return page
    .waitForResponse((r) => r.url().endsWith("/v1/sandboxes") && r.request().method() === "POST")
    .then(async (r) => {
      expect(r.status(), await r.text()).toBe(201);
      expect(r.request().headers()["idempotency-key"]).toMatch(/^[0-9a-f-]{36}$/);
      return (await r.json()) as { id: string; state: string };
    });
}

test("the wizard creates a code-interpreter sandbox", async ({ page }) => {
  await signIn(page);
  const wizard = await openWizard(page);

  // Step 1: no GPU on this machine: the wizard says so and offers No GPU.
  await expect(wizard.getByRole("group", { name: "GPU" })).toBeVisible();
  await expect(wizard.getByText("No GPUs are available on this server right now")).toBeVisible();
  await expect(wizard.getByLabel("GPU type")).toHaveValue("");
  await expect(wizard.getByLabel("GPU type").locator("option:checked")).toHaveText("No GPU");
  await expect(wizard.getByLabel("Count")).toBeDisabled();
  await wizard.getByRole("button", { name: "Next" }).click();

  // Step 2: the catalog, grouped by category.
  await expect(wizard.getByRole("group", { name: "Image" })).toBeVisible();
  await expect(wizard.getByLabel("Image", { exact: true }).locator("optgroup")).not.toHaveCount(0);
  await wizard.getByLabel("Image", { exact: true }).selectOption("code-interpreter");
  await wizard.getByRole("button", { name: "Next" }).click();

  // Step 3: configuration with its defaults; one environment variable.
  await expect(wizard.getByRole("group", { name: "Configuration" })).toBeVisible();
  await expect(wizard.getByLabel("Timeout (seconds)")).toHaveValue("3600");
  await expect(wizard.getByLabel("Memory")).toHaveValue("512Mi");
  await wizard.getByRole("button", { name: "Add variable" }).click();
  await wizard.getByLabel("Name").fill("GREETING");
  await wizard.getByLabel("Value").fill("hello");
  await expect(wizard.getByLabel("Project")).toBeVisible();
  const id = created(page);
  await wizard.getByRole("button", { name: "Create Sandbox" }).click();

  await expect(wizard).toBeHidden();
  const r = row(page, (await id).id);
  await expect(r).toBeVisible();
  await expect(r).toHaveAttribute("data-state", "running");
  await expect(r.getByRole("cell", { name: "code-interpreter" })).toBeVisible();
});

test("the wizard creates a GPU-less container sandbox, which runs", async ({ page }) => {
  await signIn(page);
  const wizard = await openWizard(page);
  await wizard.getByRole("button", { name: "Next" }).click();
  await wizard.getByLabel("Image", { exact: true }).selectOption("python");
  await expect(wizard.getByText(/CPython 3\.11/)).toBeVisible();
  await wizard.getByRole("button", { name: "Next" }).click();
  // The catalog's defaults for python.
  await expect(wizard.getByLabel("CPU")).toHaveValue("1");
  await expect(wizard.getByLabel("Memory")).toHaveValue("1Gi");
  await wizard.getByLabel("Timeout (seconds)").fill("600");
  await expect(wizard.getByText("Provisioning takes seconds to a couple of minutes.")).toBeVisible();
  const id = created(page);
  await wizard.getByRole("button", { name: "Create Sandbox" }).click();
  await expect(wizard).toBeHidden();

  const sandbox = await id;
  const r = row(page, sandbox.id);
  await expect(r).toBeVisible();
  await expect(r.getByRole("cell", { name: "python", exact: true })).toBeVisible();
  await expect(r.getByText("1 CPU · 1 GiB")).toBeVisible();
  // The API answers once the container runs, or `pending` when no runner has room yet (here
  // it usually runs at once); a pending row is shown as such, and the list's 10-second
  // polling brings it to running.
  expect(["pending", "running"]).toContain(sandbox.state);
  if (sandbox.state === "pending") await expect(r).toHaveAttribute("data-state", "pending");
  await expect(r).toHaveAttribute("data-state", "running", { timeout: 45_000 });
});

test("a problem about a field is shown next to it, on its step", async ({ page }) => {
  await signIn(page);
  const wizard = await openWizard(page);
  await wizard.getByRole("button", { name: "Next" }).click();
  await wizard.getByRole("button", { name: "Next" }).click();
  await wizard.getByLabel("Memory").fill("lots");
  const answer = page.waitForResponse((r) => r.url().endsWith("/v1/sandboxes") && r.request().method() === "POST");
  await wizard.getByRole("button", { name: "Create Sandbox" }).click();
  expect((await answer).status()).toBe(422);

  const memory = wizard.getByLabel("Memory");
  await expect(memory).toHaveAttribute("aria-invalid", "true");
  await expect(memory).toHaveAccessibleDescription(/is not a quantity of bytes/);
  await expect(memory).toBeFocused();
  await expect(wizard).toBeVisible();

  // Fixed, it goes through.
  await memory.fill("256Mi");
  await expect(memory).not.toHaveAttribute("aria-invalid", "true");
  await wizard.getByRole("button", { name: "Create Sandbox" }).click();
  await expect(wizard).toBeHidden();
});

test("a GPU choice explains identity verification to an unverified person", async ({ page }) => {
  const session = await signIn(page);
  const wizard = await openWizard(page);
  await expect(wizard.getByRole("note")).toHaveCount(0);
  await wizard.getByLabel("GPU type").selectOption({ label: "H100 80 GB" });
  await expect(wizard.getByLabel("Count")).toBeEnabled();
  await wizard.getByLabel("Count").fill("2");
  // Shares of a card only with one card.
  await expect(wizard.getByLabel("Fraction").locator('option[value="0.5"]')).toBeDisabled();
  await expect(wizard.getByLabel("Fraction")).toHaveValue("1");

  const notice = wizard.getByRole("note", { name: "GPU sandboxes need identity verification" });
  if (session.user.kyc_status === "verified") {
    await expect(notice).toHaveCount(0);
  } else {
    await expect(notice).toBeVisible();
    await expect(notice).toContainText(session.user.kyc_status);
  }
  await page.keyboard.press("Escape");
  await expect(wizard).toBeHidden();
});

/** The wizard at its Configuration step, for a `python` container. */
async function configureContainer(page: Page) {
  const wizard = await openWizard(page);
  await wizard.getByRole("button", { name: "Next" }).click();
  await wizard.getByLabel("Image", { exact: true }).selectOption("python");
  await wizard.getByRole("button", { name: "Next" }).click();
  await expect(wizard.getByRole("group", { name: "Configuration" })).toBeVisible();
  return wizard;
}

/** The wizard's POST: the body sent and the API's answer. */
function posted(page: Page) {
  return page
    .waitForResponse((r) => r.url().endsWith("/v1/sandboxes") && r.request().method() === "POST")
    .then(async (r) => ({
      status: r.status(),
      body: r.request().postDataJSON() as { network?: unknown },
      answer: (await r.json()) as { id: string; state: string },
    }));
}

test("a container's network: an allow list, sent and shown on its page; none for a code-interpreter", async ({
  page,
}) => {
  const session = await signIn(page);
  const wizard = await openWizard(page);
  // A code-interpreter has no network choice.
  await wizard.getByRole("button", { name: "Next" }).click();
  await expect(wizard.getByLabel("Image", { exact: true })).toHaveValue("code-interpreter");
  await wizard.getByRole("button", { name: "Next" }).click();
  await expect(wizard.getByRole("group", { name: "Configuration" })).toBeVisible();
  await expect(wizard.getByRole("group", { name: "Network" })).toHaveCount(0);
  await wizard.getByRole("button", { name: "Back" }).click();
  await wizard.getByLabel("Image", { exact: true }).selectOption("python");
  await wizard.getByRole("button", { name: "Next" }).click();

  // A container's: none by default.
  const network = wizard.getByRole("group", { name: "Network" });
  await expect(network.getByRole("radio", { name: "None" })).toBeChecked();
  await expect(network).toHaveAccessibleDescription(/Loopback only/);
  await expect(wizard.getByLabel("Allowed hosts")).toHaveCount(0);
  await network.getByRole("radio", { name: "Allow list" }).check();
  await expect(network).toHaveAccessibleDescription(/egress proxy/);

  // An empty list is refused here, without asking the server.
  const allow = wizard.getByLabel("Allowed hosts");
  await expect(allow).toHaveAccessibleDescription(/One a line/);
  await allow.fill(" \n\n");
  await wizard.getByRole("button", { name: "Create Sandbox" }).click();
  await expect(allow).toHaveAttribute("aria-invalid", "true");
  await expect(allow).toHaveAccessibleDescription(/at least one host name/);
  await expect(allow).toBeFocused();

  // Blank lines and spaces are dropped.
  await allow.fill("\n  allowed.test  \n\n");
  await expect(allow).not.toHaveAttribute("aria-invalid", "true");
  const answer = posted(page);
  await wizard.getByRole("button", { name: "Create Sandbox" }).click();
  const { status, body, answer: sandbox } = await answer;
  expect(status).toBe(201);
  expect(body.network).toEqual({ allow: ["allowed.test"] });
  await expect(wizard).toBeHidden();

  // Its page shows it.
  await row(page, sandbox.id).getByRole("link", { name: sandbox.id.slice(-8) }).click();
  await expect(page).toHaveURL(new RegExp(`/sandboxes/${sandbox.id}$`));
  const details = page.getByRole("region", { name: "Details" });
  await expect(details.getByTestId("network")).toHaveText("Allowed: allowed.test");
  await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
});

test("the server's problem about an allowed host is shown under the list, naming the line", async ({ page }) => {
  const session = await signIn(page);
  const wizard = await configureContainer(page);
  await wizard.getByRole("group", { name: "Network" }).getByRole("radio", { name: "Allow list" }).check();
  const allow = wizard.getByLabel("Allowed hosts");
  // The second entry, on the third line: the server's `network.allow[1]`.
  await allow.fill("allowed.test\n\nbad name!");
  const refused = posted(page);
  await wizard.getByRole("button", { name: "Create Sandbox" }).click();
  const { status, body } = await refused;
  expect(status).toBe(422);
  expect(body.network).toEqual({ allow: ["allowed.test", "bad name!"] });

  await expect(wizard).toBeVisible();
  await expect(wizard.getByRole("group", { name: "Configuration" })).toBeVisible();
  await expect(allow).toHaveAttribute("aria-invalid", "true");
  await expect(allow).toHaveAccessibleDescription(/Line 3: \S/);
  await expect(allow).toBeFocused();
  // Not the alert above the buttons: the problem sits with its field.
  await expect(wizard.getByRole("alert")).toHaveCount(0);

  // Fixed, it goes through.
  await allow.fill("allowed.test");
  await expect(allow).not.toHaveAttribute("aria-invalid", "true");
  const answer = posted(page);
  await wizard.getByRole("button", { name: "Create Sandbox" }).click();
  const { status: created, answer: sandbox } = await answer;
  expect(created).toBe(201);
  await expect(wizard).toBeHidden();
  await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
});
