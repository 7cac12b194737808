// The API keys page: a key created there is shown once and authenticates, and revoked there
// it no longer does; the webhook secret is hidden until asked for.
import { expect, test } from "@playwright/test";

import { signIn } from "./support";

test("a key is created (its secret shown once), authenticates, and is revoked", async ({ page, request, context }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await signIn(page);
  await page.goto("/sandboxes");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "API keys" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "API keys" })).toBeVisible();

  const name = `e2e-${Date.now()}`;
  await page.getByRole("button", { name: "Create key" }).click();
  const dialog = page.getByRole("dialog", { name: "Create key" });
  // Nameless: refused next to the field.
  await dialog.getByRole("button", { name: "Create key" }).click();
  await expect(dialog.getByLabel("Name")).toHaveAttribute("aria-invalid", "true");
  await dialog.getByLabel("Name").fill(name);
  await dialog.getByRole("button", { name: "Create key" }).click();

  const shown = page.getByRole("dialog", { name: `Key ${name} created` });
  await expect(shown.getByRole("note")).toContainText("you will not see it again");
  const secret = await shown.getByLabel("Key secret").inputValue();
  expect(secret.length).toBeGreaterThan(20);
  await shown.getByRole("button", { name: "Copy key" }).click();
  await expect(shown.getByRole("status")).toHaveText("Copied");
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
  await shown.getByRole("button", { name: "Done" }).click();
  await expect(shown).toBeHidden();
  // Focus back on the button that opened it.
  await expect(page.getByRole("button", { name: "Create key" })).toBeFocused();

  const row = page.getByRole("row").filter({ hasText: name });
  await expect(row).toContainText("active");
  const prefix = (await row.locator("td code").innerText()).replace(/…$/, "");
  expect(secret.startsWith(prefix)).toBe(true);
  // The secret is not shown again anywhere.
  await expect(page.getByText(secret)).toHaveCount(0);

  // `request` has no session cookie: only the key authenticates it.
  const withKey = () => request.get("/v1/sandboxes", { headers: { Authorization: `Bearer ${secret}` } });
  expect((await withKey()).status()).toBe(200);

  await row.getByRole("button", { name: "Revoke" }).click();
  const confirm = page.getByRole("alertdialog", { name: `Revoke key ${name}?` });
  await confirm.getByRole("button", { name: "Revoke" }).click();
  await expect(confirm).toBeHidden();
  await expect(row).toContainText("revoked");
  await expect(row.getByRole("button", { name: "Revoke" })).toHaveCount(0);
  expect((await withKey()).status()).toBe(401);
});

test("the webhook secret is hidden until Show is pressed", async ({ page }) => {
  await signIn(page);
  await page.goto("/api-keys");
  const section = page.getByRole("region", { name: "Webhook secret" });
  await expect(section.getByTestId("webhook-secret")).toHaveCount(0);
  await section.getByRole("button", { name: "Show" }).click();
  await expect(section.getByTestId("webhook-secret")).toHaveText(/^whsec_\S+$/);
  await expect(section.getByRole("button", { name: "Copy webhook secret" })).toBeVisible();
  await section.getByRole("button", { name: "Hide" }).click();
  await expect(section.getByTestId("webhook-secret")).toHaveCount(0);
});
