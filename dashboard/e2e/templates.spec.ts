// Templates: built from the New template form (the Dockerfile sent as a tar made in the
// browser), the build log followed to its end, the template offered by the Create Sandbox
// wizard (and run), deleted after asking; a failed build and its error; a bad name's problem
// next to the Name field.
import { expect, test, type Page } from "@playwright/test";

import { call, row, signIn, type SandboxView } from "./support";

/** A name of this run: templates are kept per project, across runs of the tests. */
function uniqueName(what: string): string {
  return `e2e-${what}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
}

async function openNewTemplate(page: Page) {
  await page.goto("/sandboxes");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Templates" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Templates" })).toBeVisible();
  await expect(page.getByText("Loading templates…")).toHaveCount(0);
  await page.getByRole("button", { name: "New template" }).first().click();
  const dialog = page.getByRole("dialog", { name: "New template" });
  await expect(dialog).toBeVisible();
  return dialog;
}

/** The answer to the form's `POST /v1/templates`, its request checked: a tar with the session's headers. */
function built(page: Page): Promise<{ status: number; body: { name: string; version: number; state: string } }> {
  return page
    .waitForResponse((r) => new URL(r.url()).pathname === "/v1/templates" && r.request().method() === "POST")
    .then(async (r) => {
      const headers = r.request().headers();
      expect(headers["content-type"]).toBe("application/x-tar");
      expect(headers["x-csrf-token"]).toBeTruthy();
      const tar = r.request().postDataBuffer();
      expect(tar?.length).toBe(2048); // a header, the Dockerfile's block, two zero blocks
      expect(tar?.subarray(257, 263).toString("latin1")).toBe("ustar\0");
      return { status: r.status(), body: await r.json() };
    });
}

test("a template built from the form: its log, ready, offered by the wizard, run, deleted", async ({ page }) => {
  test.setTimeout(240_000);
  const session = await signIn(page);
  const name = uniqueName("tpl");

  const dialog = await openNewTemplate(page);
  await expect(dialog.getByLabel("Dockerfile")).toHaveValue(/^FROM python\n/);
  await expect(dialog.getByLabel("Allow network")).not.toBeChecked();
  await dialog.getByLabel("Name").fill(name);
  await dialog.getByLabel("Dockerfile").fill("FROM python\nRUN echo built-by-e2e");
  const answer = built(page);
  await dialog.getByRole("button", { name: "Build template" }).click();
  const created = await answer;
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({ name, version: 1, state: "queued" });

  // Its page, following the build.
  await expect(dialog).toBeHidden();
  await expect(page).toHaveURL(new RegExp(`/templates/${name}\\?version=1$`));
  await expect(page.getByRole("heading", { level: 1, name: `Template ${name}` })).toBeVisible();
  const log = page.getByRole("log", { name: `Build log of ${name}:1` });
  await expect(log).toContainText("built-by-e2e", { timeout: 180_000 });
  await expect(page.getByTestId("template-state")).toHaveText("ready", { timeout: 60_000 });
  await expect(page.getByText("The log ended.")).toBeVisible();
  const versions = page.getByRole("region", { name: "Versions" });
  await expect(versions.locator("tbody tr")).toHaveCount(1);
  await expect(versions.locator('tr[data-version="1"]')).toHaveAttribute("data-state", "ready");

  // The list: ready, with its size.
  await page.getByRole("navigation", { name: "Breadcrumb" }).getByRole("link", { name: "Templates" }).click();
  const listed = page.locator(`tr[data-template-name="${name}"]`);
  await expect(listed).toHaveAttribute("data-state", "ready");
  await expect(listed).toContainText(`${name}:1`);
  await expect(listed.locator("td.number")).toHaveText(/\d+(\.\d)? (MiB|GiB)/);

  // Offered by the Create Sandbox wizard, by name (its newest ready version), and run.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Sandboxes" }).click();
  await page.getByRole("button", { name: "Create Sandbox" }).first().click();
  const wizard = page.getByRole("dialog", { name: "Create Sandbox" });
  await wizard.getByRole("button", { name: "Next" }).click();
  const image = wizard.getByLabel("Image", { exact: true });
  const option = image.locator(`optgroup[label="Your templates"] option[value="${name}"]`);
  await expect(option).toHaveCount(1);
  await expect(option).toHaveText(`${name} (template, ${name}:1)`);
  await image.selectOption(name);
  await expect(image).toHaveAccessibleDescription(new RegExp(`Your template: its newest ready version \\(now ${name}:1\\)`));
  await wizard.getByRole("button", { name: "Next" }).click();
  await wizard.getByLabel("Timeout (seconds)").fill("300");
  const sandboxAnswer = page.waitForResponse(
    (r) => r.url().endsWith("/v1/sandboxes") && r.request().method() === "POST",
  );
  await wizard.getByRole("button", { name: "Create Sandbox" }).click();
  const sandboxResponse = await sandboxAnswer;
  expect(sandboxResponse.status(), await sandboxResponse.text()).toBe(201);
  const sandbox = (await sandboxResponse.json()) as SandboxView;
  await expect(wizard).toBeHidden();
  try {
    expect(sandbox.image).toBe(name);
    await expect(row(page, sandbox.id)).toHaveAttribute("data-state", "running", { timeout: 60_000 });
  } finally {
    await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
  }

  // Deleted from its page, after asking.
  await page.goto(`/templates/${name}`);
  await expect(page.getByTestId("template-state")).toHaveText("ready");
  await page.getByRole("button", { name: "Delete" }).click();
  const confirm = page.getByRole("alertdialog", { name: `Delete template ${name}?` });
  await expect(confirm).toBeVisible();
  await confirm.getByRole("button", { name: "Delete" }).click();
  await expect(page).toHaveURL(/\/templates$/);
  await expect(page.getByRole("status").filter({ hasText: `Template ${name} deleted.` })).toBeAttached();
  await expect(page.locator(`tr[data-template-name="${name}"]`)).toHaveCount(0);
  const r = await page.request.get(`/v1/templates/${name}`, { headers: { "X-Sbx-Project": session.projects[0]!.id } });
  expect(r.status()).toBe(404);
});

test("a failed build shows its error, in the list and on its page; Delete from the list asks first", async ({ page }) => {
  test.setTimeout(180_000);
  await signIn(page);
  const name = uniqueName("fail");
  const dialog = await openNewTemplate(page);
  await dialog.getByLabel("Name").fill(name);
  await dialog.getByLabel("Dockerfile").fill("FROM python\nRUN echo about-to-fail && exit 3\n");
  await dialog.getByLabel("Build timeout (seconds)").fill("120");
  const answer = built(page);
  await dialog.getByRole("button", { name: "Build template" }).click();
  expect((await answer).status).toBe(201);

  await expect(page.getByRole("log", { name: `Build log of ${name}:1` })).toContainText("about-to-fail", { timeout: 120_000 });
  await expect(page.getByTestId("template-state")).toHaveText("failed", { timeout: 60_000 });
  await expect(page.getByTestId("template-error")).toContainText("The build failed:");
  const timeout = page.locator(".detail").filter({ has: page.locator("dt", { hasText: /^Timeout$/ }) });
  await expect(timeout).toContainText("2 min");

  await page.goto("/templates");
  const listed = page.locator(`tr[data-template-name="${name}"]`);
  await expect(listed).toHaveAttribute("data-state", "failed");
  await expect(listed.locator("td.template-error")).not.toHaveText("—");

  // Not offered by the wizard: it has no ready version.
  await page.goto("/sandboxes");
  await page.getByRole("button", { name: "Create Sandbox" }).first().click();
  const wizard = page.getByRole("dialog", { name: "Create Sandbox" });
  await wizard.getByRole("button", { name: "Next" }).click();
  await expect(wizard.getByLabel("Image", { exact: true }).locator(`option[value="${name}"]`)).toHaveCount(0);
  await page.keyboard.press("Escape");

  await page.goto("/templates");
  await listed.getByRole("button", { name: `Delete ${name}` }).click();
  const confirm = page.getByRole("alertdialog", { name: `Delete template ${name}?` });
  await confirm.getByRole("button", { name: "Cancel" }).click();
  await expect(listed).toBeVisible();
  await listed.getByRole("button", { name: `Delete ${name}` }).click();
  await confirm.getByRole("button", { name: "Delete" }).click();
  await expect(listed).toHaveCount(0);
});

test("a bad name's problem is shown next to the Name field", async ({ page }) => {
  await signIn(page);
  const dialog = await openNewTemplate(page);

  // Checked in the browser first: a name is needed.
  await dialog.getByLabel("Name").fill("");
  await dialog.getByRole("button", { name: "Build template" }).click();
  await expect(dialog.getByLabel("Name")).toHaveAccessibleDescription(/Give the template a name/);

  // The server's rules: its 422 names the field.
  await dialog.getByLabel("Name").fill("Bad Name");
  const answer = page.waitForResponse(
    (r) => new URL(r.url()).pathname === "/v1/templates" && r.request().method() === "POST",
  );
  await dialog.getByRole("button", { name: "Build template" }).click();
  const response = await answer;
  expect(response.status()).toBe(422);
  expect((await response.json()).field).toBe("name");

  const field = dialog.getByLabel("Name");
  await expect(field).toHaveAttribute("aria-invalid", "true");
  await expect(field).toHaveAccessibleDescription(/is not a template name/);
  await expect(field).toBeFocused();
  await expect(dialog.getByRole("alert")).toHaveCount(0);
  await expect(dialog).toBeVisible();

  // Editing it clears the error.
  await field.fill("good-name");
  await expect(field).not.toHaveAttribute("aria-invalid", "true");
  await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
});
