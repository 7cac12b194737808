import { expect, test } from "@playwright/test";

import { createSandbox, endLiveSandboxes, row, signIn, call } from "./support";

test("the list refreshes every 10 s while a sandbox is live, and stops when none is", async ({ page }) => {
  const session = await signIn(page);
  await endLiveSandboxes(page, session);
  const sandbox = await createSandbox(page, session, { image: "code-interpreter", timeout_s: 600 });

  // Answered list requests: TanStack Query re-arms the interval when a fetch settles, so each
  // step below starts from the previous poll's answer.
  let lists = 0;
  page.on("requestfinished", (r) => {
    if (r.method() === "GET" && new URL(r.url()).pathname === "/v1/sandboxes") lists += 1;
  });
  const settled = async (n: number) => {
    await expect.poll(() => lists).toBe(n);
    await page.waitForTimeout(250);
  };
  // Playwright's clock drives the page's timers (refetchInterval's among them): 10 s pass
  // without being waited for.
  await page.clock.install();
  await page.goto("/sandboxes");
  await expect(row(page, sandbox.id)).toHaveAttribute("data-state", "running");
  await settled(1);

  // The clock keeps flowing between steps (TanStack Query schedules its own notifications
  // with setTimeout(0), which a paused clock would hold back): a margin below 10 s.
  await page.clock.fastForward(8_000);
  await page.waitForTimeout(300);
  expect(lists).toBe(1);
  await page.clock.fastForward(2_000);
  await settled(2);
  await page.clock.fastForward(10_000);
  await settled(3);

  // Ended behind the page's back: the next poll sees it, and polling stops.
  await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
  await page.clock.fastForward(10_000);
  await settled(4);
  await expect(row(page, sandbox.id)).toHaveAttribute("data-state", "terminated");
  for (let i = 0; i < 3; i++) await page.clock.fastForward(10_000);
  await page.waitForTimeout(1_000);
  expect(lists).toBe(4);
});

test("pause, resume, and delete after a confirmation", async ({ page }) => {
  const session = await signIn(page);
  const sandbox = await createSandbox(page, session, { image: "code-interpreter", timeout_s: 600 });
  await page.goto("/sandboxes");
  const r = row(page, sandbox.id);
  const button = (name: string) => r.getByRole("button", { name, exact: true });

  await expect(r).toHaveAttribute("data-state", "running");
  await expect(button("Pause")).toBeEnabled();
  await expect(button("Resume")).toBeDisabled();
  await expect(r.getByRole("button", { name: `Copy id ${sandbox.id}` })).toBeVisible();
  await expect(r.locator("code")).toHaveAttribute("title", sandbox.id);

  await button("Pause").click();
  await expect(r).toHaveAttribute("data-state", "paused");
  await expect(r.getByText("user", { exact: true })).toBeVisible();
  await expect(button("Pause")).toBeDisabled();
  await expect(button("Resume")).toBeEnabled();

  await button("Resume").click();
  await expect(r).toHaveAttribute("data-state", "running");

  // Delete asks first; Cancel keeps the sandbox.
  await button("Delete").click();
  const confirm = page.getByRole("alertdialog", { name: /Delete sandbox/ });
  await expect(confirm).toBeVisible();
  await confirm.getByRole("button", { name: "Cancel" }).click();
  await expect(confirm).toBeHidden();
  await expect(r).toHaveAttribute("data-state", "running");

  await button("Delete").click();
  await confirm.getByRole("button", { name: "Delete" }).click();
  await expect(r).toHaveAttribute("data-state", "terminated");
  for (const name of ["Pause", "Resume", "Delete"]) await expect(button(name)).toBeDisabled();
});

test("the state filter lists only sandboxes in that state", async ({ page }) => {
  const session = await signIn(page);
  const live = await createSandbox(page, session, { image: "code-interpreter", timeout_s: 600 });
  const ended = await createSandbox(page, session, { image: "code-interpreter", timeout_s: 600 });
  await call(page.request, session, "DELETE", `/v1/sandboxes/${ended.id}`);
  await page.goto("/sandboxes");
  await expect(row(page, live.id)).toBeVisible();
  await expect(row(page, ended.id)).toBeVisible();

  await page.getByLabel("State").selectOption("terminated");
  await expect(row(page, live.id)).toHaveCount(0);
  await expect(row(page, ended.id)).toBeVisible();
  await expect(page.locator("tbody tr:not([data-state='terminated'])")).toHaveCount(0);

  await page.getByLabel("State").selectOption("failed");
  await expect(page.locator("tbody tr:not([data-state='failed'])")).toHaveCount(0);
  await call(page.request, session, "DELETE", `/v1/sandboxes/${live.id}`);
});

test("a pending row says what it waits for", async ({ page }) => {
  const session = await signIn(page);
  // More CPUs than any runner here has: pending until deleted.
  const sandbox = await createSandbox(page, session, { image: "python", cpu: 64, timeout_s: 300 });
  expect(sandbox.state).toBe("pending");
  await page.goto("/sandboxes");
  const r = row(page, sandbox.id);
  await expect(r).toHaveAttribute("data-state", "pending");
  await expect(r.getByText(/^waiting for /)).toBeVisible();
  await expect(r.getByText("python", { exact: true })).toBeVisible();
  await expect(r.getByText("64 CPUs · 1 GiB")).toBeVisible();
  await expect(r.getByRole("button", { name: "Pause", exact: true })).toBeDisabled();
  await expect(r.getByRole("button", { name: "Delete", exact: true })).toBeEnabled();
  await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
});
