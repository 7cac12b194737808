// The Wallet against real usage: a code-interpreter sandbox that ran a cell costs something,
// which the Wallet's total, its chart (a bar for today), its breakdowns, the Sandboxes list's
// and the Sandbox page's "Cost so far" show; the rates per hour. Then the budget cut-off, in a
// project of its own (scripts/dashboard-test makes it, with an owner and a plain member): a
// tiny monthly limit set on the Wallet exceeds at once, the running sandbox is paused with
// reason budget, and creating or resuming a sandbox shows the 402.
import { expect, test, type Browser } from "@playwright/test";

import { budgetLogins, call, createSandbox, NO_BUDGET_PROJECT, row, signIn, signInAs } from "./support";

/** Today, as the API's `group_by=day` keys name it (UTC). */
const today = () => new Date().toISOString().slice(0, 10);
/** An amount of money that is not nothing: `$0.000037`, `$1.50`. */
const NON_ZERO = /^\$(?!0(\.0+)?$)[\d,.]+$/;

test("the Wallet shows what real usage cost: the total, today's bar, the breakdowns and the rates", async ({ page }) => {
  const session = await signIn(page);
  const sandbox = await createSandbox(page, session, { image: "code-interpreter", timeout_s: 600 });
  await call(page.request, session, "POST", `/v1/sandboxes/${sandbox.id}/exec`, { code: "print(sum(range(10)))" });

  await page.goto("/sandboxes");
  // The list's "Cost so far", joined from one usage report.
  await expect(row(page, sandbox.id).getByTestId("cost")).toHaveText(NON_ZERO);

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Wallet" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Wallet" })).toBeVisible();
  const spending = page.getByRole("region", { name: "Spending" });
  await expect(spending.getByTestId("range-total")).toHaveText(NON_ZERO);

  // The chart: an image named by its caption, with a bar for today (CPU at least).
  const chart = spending.getByRole("img", { name: "Cost per day, by resource (USD)" });
  await expect(chart).toBeVisible();
  await expect(chart.locator(`.chart-bar[data-day="${today()}"][data-resource="cpu"]`)).toHaveCount(1);
  await expect(chart.locator(".chart-bar")).not.toHaveCount(0);
  await expect(spending.locator(".recharts-legend-wrapper")).toContainText("CPU");
  // Its description, and its table equivalent.
  await expect(spending.getByText(/ in 30 days; the most on /)).toBeVisible();
  await spending.getByText("The chart as a table").click();
  const chartTable = spending.getByRole("table", { name: /^Cost per day, by resource/ });
  await expect(chartTable.locator(`tr[data-day="${today()}"] td`).last()).toHaveText(NON_ZERO);

  // The breakdowns: by resource (CPU in core-seconds), by sandbox, by day.
  const breakdown = spending.getByTestId("breakdown");
  const cpu = breakdown.locator('tr[data-key="cpu"]');
  await expect(cpu).toContainText(/core-(seconds|hours)/);
  await expect(cpu.locator("td").last()).toHaveText(NON_ZERO);
  await spending.getByRole("radio", { name: "By sandbox" }).check();
  const mine = breakdown.locator(`tr[data-key="${sandbox.id}"]`);
  await expect(mine.locator("td").last()).toHaveText(NON_ZERO);
  await expect(mine.getByRole("link")).toHaveAttribute("href", `/sandboxes/${sandbox.id}`);
  await spending.getByRole("radio", { name: "By day" }).check();
  await expect(breakdown.locator(`tr[data-day="${today()}"] td`).last()).toHaveText(NON_ZERO);
  // A shorter range: still today's.
  await spending.getByLabel("Range").selectOption("7");
  await expect(spending.getByText(/ in 7 days; the most on /)).toBeVisible();
  await expect(breakdown.locator("tbody tr")).toHaveCount(7);

  // The running sandbox with its cost so far, and the rates per hour.
  const live = page.getByRole("region", { name: "Running and paused sandboxes" });
  await expect(live.locator(`tr[data-sandbox-id="${sandbox.id}"]`).getByTestId("cost")).toHaveText(NON_ZERO);
  const rates = page.getByRole("region", { name: "Rates" });
  await expect(rates.getByRole("row", { name: /^CPU / })).toContainText("$0.0504 / core-hour");
  await expect(rates.getByRole("row", { name: /^CPU / })).toContainText("$0.000014 / core-second");

  // The Sandbox page's cost so far.
  await live.getByRole("link", { name: sandbox.id.slice(-8) }).click();
  await expect(page.getByRole("heading", { level: 1, name: `Sandbox ${sandbox.id.slice(-8)}` })).toBeVisible();
  await expect(page.getByTestId("cost-so-far")).toHaveText(NON_ZERO);
  await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
});

async function contextOf(browser: Browser) {
  return browser.newContext({ baseURL: process.env.SBX_URL });
}

test("the budget cut-off: a tiny limit set on the Wallet pauses the running sandbox and refuses new work", async ({
  browser,
}) => {
  const logins = budgetLogins();
  test.skip(!logins, NO_BUDGET_PROJECT);
  const context = await contextOf(browser);
  const page = await context.newPage();
  const session = await signInAs(page, logins!.owner);
  // From an earlier run against the same server: no limit, nothing live.
  await call(page.request, session, "PUT", "/v1/budget", { monthly_limit_usd: null, webhook_url: null });
  const sandbox = await createSandbox(page, session, { image: "code-interpreter", timeout_s: 600 });
  await call(page.request, session, "POST", `/v1/sandboxes/${sandbox.id}/exec`, { code: "print(1)" });

  await page.goto("/wallet");
  const budget = page.getByRole("region", { name: "Budget" });
  await expect(budget.getByTestId("budget-state")).toHaveText("ok");
  await expect(budget.getByTestId("budget-limit")).toHaveText("None");
  await expect(budget.getByTestId("budget-spent")).toHaveText(NON_ZERO);
  const limit = budget.getByLabel("Monthly limit (USD)");
  const webhook = budget.getByLabel("Budget webhook URL");

  // Refused next to their fields: a limit that is no amount (here), a webhook that is no URL
  // (by the API).
  await limit.fill("ten dollars");
  await budget.getByRole("button", { name: "Save budget" }).click();
  await expect(limit).toHaveAttribute("aria-invalid", "true");
  await expect(limit).toBeFocused();
  await limit.fill("5");
  await webhook.fill("ftp://example.test/hook");
  await budget.getByRole("button", { name: "Save budget" }).click();
  await expect(webhook).toHaveAttribute("aria-invalid", "true");
  await expect(webhook).toHaveAccessibleDescription(/absolute http or https URL/);
  await expect(budget.getByTestId("budget-limit")).toHaveText("None");

  // A limit already spent: exceeded at once (the PUT checks it).
  await webhook.fill("");
  await limit.fill("0.000001");
  await budget.getByRole("button", { name: "Save budget" }).click();
  await expect(budget.getByRole("status")).toHaveText(/^Saved: a limit of \$0.000001 a month; exceeded\.$/);
  await expect(budget.getByTestId("budget-state")).toHaveText("exceeded");
  await expect(budget.getByTestId("budget-exceeded")).toContainText("Budget exceeded.");
  await expect(budget.getByRole("meter", { name: "Budget used" })).toHaveAttribute("value", "1");
  await expect(budget.getByTestId("budget-used")).toContainText("(100 %)");
  // The running sandbox was paused, for the budget.
  const live = page.getByRole("region", { name: "Running and paused sandboxes" });
  await expect(live.locator(`tr[data-sandbox-id="${sandbox.id}"]`)).toHaveAttribute("data-state", "paused");

  // On the Sandboxes list: paused with reason budget; resuming it is refused.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Sandboxes" }).click();
  const r = row(page, sandbox.id);
  await expect(r).toHaveAttribute("data-state", "paused");
  await expect(r.getByText("budget", { exact: true })).toBeVisible();
  await r.getByRole("button", { name: "Resume", exact: true }).click();
  await expect(page.getByRole("alert")).toContainText("this project spent its monthly budget");
  await expect(r).toHaveAttribute("data-state", "paused");

  // Creating a sandbox: the wizard shows the 402.
  await page.getByRole("button", { name: "Create Sandbox" }).first().click();
  const wizard = page.getByRole("dialog", { name: "Create Sandbox" });
  await wizard.getByRole("button", { name: "Next" }).click();
  await wizard.getByLabel("Image", { exact: true }).selectOption("code-interpreter");
  await wizard.getByRole("button", { name: "Next" }).click();
  const refused = page.waitForResponse((res) => res.url().endsWith("/v1/sandboxes") && res.request().method() === "POST");
  await wizard.getByRole("button", { name: "Create Sandbox" }).click();
  expect((await refused).status()).toBe(402);
  await expect(wizard.getByRole("alert")).toContainText("this project spent its monthly budget");
  await wizard.getByRole("button", { name: "Close" }).click();

  // A plain member sees where the project stands, and that only owners set the budget.
  const memberContext = await contextOf(browser);
  const memberPage = await memberContext.newPage();
  const memberSession = await signInAs(memberPage, logins!.member);
  await memberPage.goto("/wallet");
  const memberBudget = memberPage.getByRole("region", { name: "Budget" });
  await expect(memberBudget.getByTestId("budget-state")).toHaveText("exceeded");
  await expect(memberBudget.getByRole("note")).toHaveText(/Only the project's owners set its budget/);
  await expect(memberBudget.getByRole("button", { name: "Save budget" })).toHaveCount(0);
  const put = await memberPage.request.put("/v1/budget", {
    headers: { "X-CSRF-Token": memberSession.csrf_token },
    data: { monthly_limit_usd: null, webhook_url: null },
  });
  expect(put.status()).toBe(403);
  expect((await put.json()).code).toBe("not_an_owner");
  await memberContext.close();

  // Removing the limit lets work start again.
  await page.goto("/wallet");
  await budget.getByRole("button", { name: "Remove limit" }).click();
  await expect(budget.getByRole("status")).toHaveText("Saved: no monthly limit.");
  await expect(budget.getByTestId("budget-state")).toHaveText("ok");
  await expect(budget.getByTestId("budget-limit")).toHaveText("None");
  await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
  await context.close();
});
