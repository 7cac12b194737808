// Batches: the list, a batch's page following it to the end (progress, pass rate, counts by
// verdict) and its results filtered by verdict, expanded to their output; Cancel.
import { expect, test } from "@playwright/test";

import { signIn, submitBatch } from "./support";

test("a batch's page follows it to the end: pass rate, counts by verdict, results by verdict", async ({ page }) => {
  const session = await signIn(page);
  const batch = await submitBatch(page, session, {
    items: [
      { id: "a", code: "print(1)", expected_stdout: "1\n" },
      { id: "b", code: "print(2)", expected_stdout: "3\n" },
      { id: "c", code: "raise SystemExit(1)" },
    ],
  });

  await page.goto("/sandboxes");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Batches" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Batches" })).toBeVisible();
  const listed = page.locator(`tr[data-batch-id="${batch.id}"]`);
  await expect(page.locator("tbody tr").first()).toHaveAttribute("data-batch-id", batch.id);
  await listed.getByRole("link", { name: batch.id.slice(-8) }).click();
  await expect(page).toHaveURL(new RegExp(`/batches/${batch.id}$`));

  await expect(page.getByTestId("batch-status")).toHaveText("finished", { timeout: 60_000 });
  const progress = page.getByRole("progressbar", { name: "Progress" });
  await expect(progress).toHaveAttribute("value", "3");
  await expect(progress).toHaveAttribute("max", "3");
  await expect(page.getByTestId("batch-progress")).toHaveText("3 of 3 ended (100 %)");
  await expect(page.getByTestId("pass-rate")).toHaveText("33 % (1 of 3)");
  for (const verdict of ["passed", "wrong_output", "failed"]) {
    await expect(page.locator(`.counts [data-verdict="${verdict}"] dd`)).toHaveText("1");
  }
  await expect(page.getByRole("button", { name: "Cancel" })).toHaveCount(0);

  const results = page.getByRole("region", { name: "Results" });
  const rows = results.locator("tbody tr[data-item-id]");
  await expect(rows).toHaveCount(3);
  await expect(rows.nth(2)).toContainText("failed");
  await expect(rows.nth(2).locator("td").nth(3)).toHaveText("1");
  await results.getByLabel("Verdict").selectOption("wrong_output");
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toHaveAttribute("data-item-id", "b");
  await results.getByRole("button", { name: "Show output of b" }).click();
  await expect(results.getByRole("button", { name: "Hide output of b" })).toHaveAttribute("aria-expanded", "true");
  await expect(results.getByRole("figure", { name: "stdout of b" }).locator("pre")).toHaveText("2");
  await results.getByLabel("Verdict").selectOption("");
  await expect(rows).toHaveCount(3);

  // The list caught up (it polls while a batch runs).
  await page.goto("/batches");
  await expect(listed).toHaveAttribute("data-status", "finished");
  await expect(listed).toContainText("33 % (1 of 3)");
});

test("a running batch can be cancelled from its page", async ({ page }) => {
  const session = await signIn(page);
  const items = Array.from({ length: 6 }, (_, i) => ({ id: `s${i}`, code: "import time\ntime.sleep(8)", timeout_ms: 20_000 }));
  const batch = await submitBatch(page, session, { items });
  await page.goto(`/batches/${batch.id}`);
  await expect(page.getByTestId("batch-status")).toHaveText("running");
  await page.getByRole("button", { name: "Cancel" }).click();
  await expect(page.getByTestId("batch-status")).toHaveText(/cancelling|cancelled/);
  await expect(page.getByTestId("batch-status")).toHaveText("cancelled", { timeout: 30_000 });
  await expect(page.getByRole("button", { name: "Cancel" })).toHaveCount(0);
  await expect(page.locator('.counts [data-verdict="cancelled"] dd')).not.toHaveText("0");
});
