import { expect, test } from "@playwright/test";

import { call, createSandbox, row, signIn } from "./support";

test("a code-interpreter's page: details, history, cells with results and figures, the timeout", async ({ page }) => {
  const session = await signIn(page);
  const sandbox = await createSandbox(page, session, { image: "code-interpreter", timeout_s: 600, env: { MODE: "e2e" } });

  // From the list, by the row's id.
  await page.goto("/sandboxes");
  await row(page, sandbox.id).getByRole("link", { name: sandbox.id.slice(-8) }).click();
  await expect(page).toHaveURL(new RegExp(`/sandboxes/${sandbox.id}$`));
  await expect(page.getByRole("heading", { level: 1, name: `Sandbox ${sandbox.id.slice(-8)}` })).toBeVisible();

  const details = page.getByRole("region", { name: "Details" });
  await expect(details.getByText("code-interpreter", { exact: true }).first()).toBeVisible();
  await expect(details.getByText("MODE", { exact: true })).toBeVisible();
  await expect(details.getByText("1 CPU", { exact: true })).toBeVisible();
  const history = page.getByRole("region", { name: "State history" });
  await expect(history.locator('tr[data-state="running"]')).toContainText("started");
  await expect(history.locator('tr[data-state="pending"]')).toContainText("created");

  // Cells: variables persist; the last expression is the result.
  const code = page.getByLabel("Code");
  await code.fill("x = 41");
  await page.getByRole("button", { name: "Run" }).click();
  await expect(page.getByRole("listitem", { name: "Cell 1" })).toContainText("succeeded");
  await expect(code).toHaveValue("");
  await code.fill("x + 1");
  await code.press("ControlOrMeta+Enter");
  const cell2 = page.getByRole("listitem", { name: "Cell 2" });
  await expect(cell2.getByRole("figure", { name: "Out [2]" }).locator("pre")).toHaveText("42");

  // A figure comes back as an image.
  await code.fill('import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt; plt.plot([1,2,3])');
  await code.press("ControlOrMeta+Enter");
  const figure = page.getByRole("listitem", { name: "Cell 3" }).getByRole("img", { name: /^Figure 1 of cell 3/ });
  await expect(figure).toBeVisible({ timeout: 30_000 });
  expect(await figure.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBeGreaterThan(100);

  // A traceback is on stderr, and the cell failed.
  await code.fill("1/0");
  await page.getByRole("button", { name: "Run" }).click();
  const cell4 = page.getByRole("listitem", { name: "Cell 4" });
  await expect(cell4.getByRole("figure", { name: "stderr" })).toContainText("ZeroDivisionError");
  await expect(cell4).toContainText("failed");

  // The timeout: a bad value is refused next to the field; a good one moves the expiry.
  const timeout = page.getByLabel("Timeout (seconds)");
  await timeout.fill("86401");
  await page.getByRole("button", { name: "Set timeout" }).click();
  await expect(timeout).toHaveAttribute("aria-invalid", "true");
  await expect(timeout).toHaveAccessibleDescription(/from 1 to 86,400/);
  await timeout.fill("7200");
  const answer = page.waitForResponse((r) => r.url().endsWith(`/v1/sandboxes/${sandbox.id}/timeout`));
  await page.getByRole("button", { name: "Set timeout" }).click();
  const extended = (await (await answer).json()) as { expires_at: string };
  expect(Date.parse(extended.expires_at) - Date.now()).toBeGreaterThan(7_000_000);
  await expect(page.getByTestId("expires").locator("time")).toHaveAttribute("datetime", extended.expires_at);
  await expect(page.getByTestId("expires")).toContainText(/\(in (1 h 59 min|2 h)/);
  await expect(page.getByRole("status").filter({ hasText: "It now ends in 2 h" })).toBeVisible();

  // Pause and delete as on the list, with its confirmation.
  const actions = page.getByRole("group", { name: "Sandbox actions" });
  await actions.getByRole("button", { name: "Pause" }).click();
  await expect(history.locator('tr[data-state="paused"]')).toContainText("user");
  await expect(page.getByLabel("Code")).toBeDisabled();
  await actions.getByRole("button", { name: "Delete" }).click();
  await page.getByRole("alertdialog", { name: /Delete sandbox/ }).getByRole("button", { name: "Delete" }).click();
  await expect(history.locator('tr[data-state="terminated"]')).toBeVisible();
  await expect(actions.getByRole("button", { name: "Resume" })).toBeDisabled();
  await expect(page.getByLabel("Timeout (seconds)")).toBeDisabled();
});

test("a container's page: its live log and commands from the console", async ({ page }) => {
  const session = await signIn(page);
  const sandbox = await createSandbox(page, session, {
    image: "python",
    command: ["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.3; done; sleep 60"],
    timeout_s: 300,
  });
  await page.goto(`/sandboxes/${sandbox.id}`);
  const log = page.getByRole("log", { name: "Sandbox log" });
  await expect(log).toHaveAttribute("aria-live", "off");
  await expect(log).toContainText("line 1", { timeout: 30_000 });
  await expect(log).toContainText("line 3");
  await expect(log).toHaveText(/line 1\nline 2\nline 3\n/);
  await expect(page.getByText("Following the log…")).toBeVisible();

  const command = page.getByLabel("Command");
  await command.fill("echo hi");
  await command.press("Enter");
  const first = page.getByRole("listitem", { name: "Run 1" });
  await expect(first.getByRole("figure", { name: "stdout" }).locator("pre")).toHaveText("hi");
  await expect(first).toContainText("exit code 0");
  await command.fill("echo oops >&2; exit 3");
  await page.getByRole("button", { name: "Run" }).click();
  const second = page.getByRole("listitem", { name: "Run 2" });
  await expect(second.getByRole("figure", { name: "stderr" }).locator("pre")).toHaveText("oops");
  await expect(second).toContainText("exit code 3");

  // Its end ends the log.
  await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
  await expect(page.getByText("The log ended.")).toBeVisible({ timeout: 15_000 });
});
