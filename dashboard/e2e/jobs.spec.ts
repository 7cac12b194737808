import { readFileSync } from "node:fs";
import { expect, test } from "@playwright/test";

import { jobRow, signIn, submitJob } from "./support";

test("the Jobs list shows a submitted job, and its page its status, output and log", async ({ page }) => {
  const session = await signIn(page);
  const job = await submitJob(page, session, { language: "python", code: "print(1)" });

  await page.goto("/sandboxes");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Jobs" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Jobs" })).toBeVisible();
  const r = jobRow(page, job.id);
  // Polled every 5 s while a listed job is queued or running.
  await expect(r).toHaveAttribute("data-status", "succeeded", { timeout: 30_000 });
  await expect(r).toContainText("python: print(1)");

  // The filter.
  await page.getByLabel("Status").selectOption("failed");
  await expect(r).toHaveCount(0);
  await expect(page.locator("tbody tr:not([data-status='failed'])")).toHaveCount(0);
  await page.getByLabel("Status").selectOption("succeeded");
  await expect(r).toBeVisible();

  await r.getByRole("link", { name: job.id.slice(-8) }).click();
  await expect(page).toHaveURL(new RegExp(`/jobs/${job.id}$`));
  await expect(page.getByTestId("job-status")).toHaveText("succeeded");
  await expect(page.getByRole("figure", { name: "stdout" }).locator("pre")).toHaveText("1");
  await expect(page.getByRole("log", { name: "Job log" })).toHaveText("1");
  await expect(page.getByText("The log ended.")).toBeVisible();
  await expect(page.getByRole("button", { name: "Cancel" })).toHaveCount(0);
});

test("a container job's artifacts download", async ({ page }) => {
  const session = await signIn(page);
  const job = await submitJob(page, session, {
    kind: "container",
    image: "python",
    command: ["sh", "-c", "mkdir -p /outputs && echo done > /outputs/result.txt"],
  });
  await page.goto(`/jobs/${job.id}`);
  await expect(page.getByTestId("job-status")).toHaveText("succeeded", { timeout: 45_000 });
  const artifacts = page.getByRole("region", { name: "Artifacts" });
  const link = artifacts.getByRole("link", { name: "result.txt" });
  await expect(link).toBeVisible();
  const download = page.waitForEvent("download");
  await link.click();
  const file = await download;
  expect(file.suggestedFilename()).toBe("result.txt");
  expect(readFileSync(await file.path(), "utf8")).toBe("done\n");
});

test("a running job can be cancelled from its page", async ({ page }) => {
  const session = await signIn(page);
  const job = await submitJob(page, session, { kind: "container", image: "python", command: ["sh", "-c", "echo started; sleep 120"] });
  await page.goto(`/jobs/${job.id}`);
  await expect(page.getByRole("log", { name: "Job log" })).toContainText("started", { timeout: 45_000 });
  await expect(page.getByTestId("job-status")).toHaveText("running");
  await page.getByRole("button", { name: "Cancel" }).click();
  await expect(page.getByTestId("job-status")).toHaveText("cancelled", { timeout: 30_000 });
  await expect(page.getByRole("button", { name: "Cancel" })).toHaveCount(0);
  await expect(page.getByText("The log ended.")).toBeVisible();
});

test("the list pages with Load more, newest first", async ({ page }) => {
  const session = await signIn(page);
  // One more than a page (50).
  const jobs = [];
  for (let i = 0; i < 51; i++) jobs.push(await submitJob(page, session, { language: "python", code: `print(${i})` }));
  await page.goto("/jobs");
  const rows = page.locator("tbody tr");
  await expect(rows).toHaveCount(50);
  await expect(rows.first()).toHaveAttribute("data-job-id", jobs[50]!.id);
  await expect(jobRow(page, jobs[0]!.id)).toHaveCount(0);
  await page.getByRole("button", { name: "Load more" }).click();
  await expect(jobRow(page, jobs[0]!.id)).toBeVisible();
  await expect(rows.nth(50)).toHaveAttribute("data-job-id", jobs[0]!.id);
});
