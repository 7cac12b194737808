import { expect, test, type Page } from "@playwright/test";

import { call, createSandbox, row, signIn } from "./support";

/** Presses Tab until `name` has the focus (at most `max` times). */
async function tabTo(page: Page, name: string | RegExp, max = 30) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      return el ? el.getAttribute("aria-label") || el.innerText || (el as HTMLInputElement).labels?.[0]?.innerText || "" : "";
    });
    if (typeof name === "string" ? focused.trim() === name : name.test(focused)) return;
  }
  throw new Error(`Tab never reached ${name}`);
}

test("the wizard works from the keyboard alone", async ({ page }) => {
  await signIn(page);
  await page.goto("/sandboxes");
  await expect(page.getByRole("heading", { name: "Sandboxes", level: 1 })).toBeVisible();

  // Escape closes it, and the focus goes back to the button that opened it.
  await tabTo(page, "Create Sandbox");
  await page.keyboard.press("Enter");
  const wizard = page.getByRole("dialog", { name: "Create Sandbox" });
  await expect(wizard).toBeVisible();
  await page.keyboard.press("Escape");
  await expect(wizard).toBeHidden();
  await expect(page.getByRole("button", { name: "Create Sandbox" }).first()).toBeFocused();

  // Open with Space; each step puts the focus on its heading.
  await page.keyboard.press("Space");
  await expect(wizard).toBeVisible();
  await expect(wizard.getByRole("heading", { name: "GPU" })).toBeFocused();
  await page.keyboard.press("Tab");
  await expect(wizard.getByLabel("GPU type")).toBeFocused();
  // Count and Fraction are disabled without a GPU: the next stop is Next.
  await page.keyboard.press("Tab");
  await expect(wizard.getByRole("button", { name: "Next" })).toBeFocused();
  await page.keyboard.press("Enter");

  await expect(wizard.getByRole("heading", { name: "Image" })).toBeFocused();
  await page.keyboard.press("Tab");
  await expect(wizard.getByLabel("Image", { exact: true })).toBeFocused();
  await expect(wizard.getByLabel("Image", { exact: true })).toHaveValue("code-interpreter");
  // Back and forth.
  await page.keyboard.press("Tab");
  await expect(wizard.getByRole("button", { name: "Back" })).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(wizard.getByRole("heading", { name: "GPU" })).toBeFocused();
  await tabTo(page, "Next");
  await page.keyboard.press("Space");
  await expect(wizard.getByRole("heading", { name: "Image" })).toBeFocused();
  await tabTo(page, "Next");
  await page.keyboard.press("Enter");

  await expect(wizard.getByRole("heading", { name: "Configuration" })).toBeFocused();
  await page.keyboard.press("Tab");
  await expect(wizard.getByLabel("CPU")).toBeFocused();
  await page.keyboard.press("Tab");
  await expect(wizard.getByLabel("Memory")).toBeFocused();
  await page.keyboard.press("Tab");
  await expect(wizard.getByLabel("Timeout (seconds)")).toBeFocused();
  await page.keyboard.press("ControlOrMeta+a");
  await page.keyboard.type("900");
  await tabTo(page, "Add variable");
  await page.keyboard.press("Enter");
  // The new row sits before the button: back to its Name.
  await page.keyboard.press("Shift+Tab");
  await page.keyboard.press("Shift+Tab");
  await page.keyboard.press("Shift+Tab");
  await expect(wizard.getByLabel("Name")).toBeFocused();
  await page.keyboard.type("MODE");
  await page.keyboard.press("Tab");
  await expect(wizard.getByLabel("Value")).toBeFocused();
  await page.keyboard.type("keyboard");

  // Enter in a field submits the last step.
  const answer = page.waitForResponse((r) => r.url().endsWith("/v1/sandboxes") && r.request().method() === "POST");
  await page.keyboard.press("Enter");
  const response = await answer;
  expect(response.status()).toBe(201);
  expect(response.request().postDataJSON()).toMatchObject({
    image: "code-interpreter",
    timeout_s: 900,
    env: { MODE: "keyboard" },
  });
  await expect(wizard).toBeHidden();
  const { id } = (await response.json()) as { id: string };
  await expect(row(page, id)).toHaveAttribute("data-state", "running");
});

test("a sandbox's page and its console work from the keyboard", async ({ page }) => {
  const session = await signIn(page);
  const sandbox = await createSandbox(page, session, { image: "code-interpreter", timeout_s: 600 });
  await page.goto("/sandboxes");
  await expect(row(page, sandbox.id)).toBeVisible();
  // The row's id is a link: Tab to it, Enter opens the page.
  await tabTo(page, sandbox.id.slice(-8), 60);
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(new RegExp(`/sandboxes/${sandbox.id}$`));
  await tabTo(page, "Code", 60);
  await page.keyboard.type("y = 6");
  await page.keyboard.press("Enter");
  await page.keyboard.type("y * 7");
  await page.keyboard.press("ControlOrMeta+Enter");
  await expect(page.getByRole("listitem", { name: "Cell 1" }).getByRole("figure", { name: "Out [1]" })).toContainText("42");
  // The focus stays in the editor for the next cell.
  await expect(page.getByLabel("Code")).toBeFocused();
  await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
});

test("API keys and a batch's results work from the keyboard alone", async ({ page }) => {
  const session = await signIn(page);
  await page.goto("/api-keys");
  await expect(page.getByRole("heading", { name: "API keys", level: 1 })).toBeVisible();
  await tabTo(page, "Create key");
  await page.keyboard.press("Enter");
  const dialog = page.getByRole("dialog", { name: "Create key" });
  await expect(dialog.getByLabel("Name")).toBeFocused();
  await page.keyboard.type("keyboard");
  await page.keyboard.press("Enter");
  // The secret has the focus, selected, to copy at once.
  const shown = page.getByRole("dialog", { name: "Key keyboard created" });
  await expect(shown.getByLabel("Key secret")).toBeFocused();
  await page.keyboard.press("Escape");
  await expect(shown).toBeHidden();
  await expect(page.getByRole("button", { name: "Create key" })).toBeFocused();

  const batch = (await call(page.request, session, "POST", "/v1/batches", {
    items: [{ id: "only", code: "print('hi')" }],
  })) as { id: string };
  await page.goto(`/batches/${batch.id}`);
  await expect(page.getByTestId("batch-status")).toHaveText("finished", { timeout: 60_000 });
  await tabTo(page, "Show output of only");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("figure", { name: "stdout of only" })).toContainText("hi");
  await expect(page.getByRole("button", { name: "Hide output of only" })).toBeFocused();
});
