import { expect, test } from "@playwright/test";

import { devLogin } from "./support";

test("a wrong password is refused with a message, and the right one signs in", async ({ page }) => {
  const { email, password } = devLogin();
  await page.goto("/");
  await expect(page).toHaveURL(/\/sign-in$/);

  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(`${password}-wrong`);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText("The email or password is wrong.");
  await expect(page).toHaveURL(/\/sign-in$/);

  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/sandboxes$/);
  await expect(page.getByRole("heading", { name: "Sandboxes", level: 1 })).toBeVisible();
  await expect(page.getByRole("navigation").getByRole("link", { name: "Sandboxes" })).toBeVisible();
  await expect(page.getByText(email)).toBeVisible();

  // A reload keeps the session (GET /auth/session).
  await page.reload();
  await expect(page.getByRole("heading", { name: "Sandboxes", level: 1 })).toBeVisible();

  await page.getByRole("button", { name: "Sign out", exact: true }).click();
  await expect(page).toHaveURL(/\/sign-in$/);
  await page.goto("/sandboxes");
  await expect(page).toHaveURL(/\/sign-in$/);
});

test("sign out everywhere ends the person's other sessions", async ({ browser }) => {
  const { email, password } = devLogin();
  const signInAt = async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto("/sign-in");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("heading", { name: "Sandboxes", level: 1 })).toBeVisible();
    return page;
  };
  const here = await signInAt();
  const elsewhere = await signInAt();

  await here.getByRole("button", { name: "Sign out everywhere" }).click();
  await expect(here).toHaveURL(/\/sign-in$/);
  await elsewhere.reload();
  await expect(elsewhere).toHaveURL(/\/sign-in$/);
});
