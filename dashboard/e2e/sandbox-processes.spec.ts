// The Sandbox page's Processes panel, against a running container (image "python"): start a
// process from the form and follow its output to its exit; the server's 422 next to the field
// it names; input to a process started with stdin open, with an environment; Stop (TERM, 143)
// and Kill (KILL, 137) from the page; the list read every 2 s while any runs (a process
// started through the API shows up) and not once none does. A code-interpreter has no panel.
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";

import { call, createSandbox, signIn, type SandboxView } from "./support";

type Session = Awaited<ReturnType<typeof signIn>>;

async function seriousViolations(page: Page) {
  const { violations } = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"])
    .analyze();
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

/** A container sandbox, once it runs (the page polls every 10 s: waiting here is quicker). */
async function runningContainer(page: Page, session: Session): Promise<SandboxView> {
  const created = await createSandbox(page, session, { image: "python", timeout_s: 300 });
  await expect
    .poll(
      async () => ((await call(page.request, session, "GET", `/v1/sandboxes/${created.id}`)) as SandboxView).state,
      { timeout: 60_000, intervals: [250, 500, 1000] },
    )
    .toBe("running");
  return created;
}

const processRow = (page: Page, pid: number) => page.locator(`tr[data-pid="${pid}"]`);

/** Fills the Start form's shell line (and tag) and starts it: the pid the server answered. */
async function startFromForm(page: Page, sandboxId: string, command: string, tag = ""): Promise<number> {
  const panel = page.getByRole("region", { name: "Processes", exact: true });
  await panel.getByLabel("Shell line").fill(command);
  await panel.getByLabel("Tag (optional)").fill(tag);
  const answer = page.waitForResponse(
    (r) => r.url().endsWith(`/v1/sandboxes/${sandboxId}/processes`) && r.request().method() === "POST",
  );
  await panel.getByRole("button", { name: "Start process" }).click();
  const r = await answer;
  const body = (await r.json()) as { pid: number; state: string; command: string[] };
  expect(r.status(), JSON.stringify(body)).toBe(201);
  expect(body.command).toEqual(["sh", "-c", command]);
  return body.pid;
}

test("a container's processes: start one, follow its output to exit 0; field errors; input and environment", async ({
  page,
}) => {
  test.setTimeout(120_000);
  const session = await signIn(page);
  const sandbox = await runningContainer(page, session);
  try {
    await page.goto(`/sandboxes/${sandbox.id}`);
    const panel = page.getByRole("region", { name: "Processes", exact: true });
    await expect(panel).toBeVisible({ timeout: 30_000 });
    await expect(panel.getByText("No processes yet.")).toBeVisible();

    // Started from the form: its row, and its output followed live to the end.
    const ticks = "for i in 1 2 3; do echo tick $i; sleep 0.2; done";
    const pid = await startFromForm(page, sandbox.id, ticks, "ticker");
    await expect(panel.getByLabel("Shell line")).toHaveValue("");
    const row = processRow(page, pid);
    await expect(row).toBeVisible();
    await expect(row.getByRole("cell").nth(0)).toHaveText("ticker");
    await expect(row.getByRole("cell").nth(1)).toHaveText(`sh -c '${ticks}'`);
    await expect(row.locator("time")).toHaveAttribute("datetime", /^\d{4}-\d\d-\d\dT/);
    // The one started is the one shown.
    await expect(row.getByRole("button", { name: `Output of process ${pid}` })).toHaveAttribute("aria-pressed", "true");
    const output = panel.getByRole("region", { name: `Process ${pid} (ticker)` });
    const log = output.getByRole("log", { name: `Output of process ${pid}` });
    await expect(log).toContainText("tick 1");
    await expect(log).toHaveText(/^tick 1\ntick 2\ntick 3\n$/);
    await expect(output.getByText("The process ended.")).toBeVisible();
    await expect(row).toHaveAttribute("data-state", "exited");
    await expect(row.locator('td[data-column="exit"]')).toHaveText("0");
    await expect(output.getByText("exit code 0")).toBeVisible();
    await expect(output.getByRole("button", { name: "Stop" })).toHaveCount(0);
    await expect(panel.getByRole("status").filter({ hasText: `Process ${pid} exited with code 0.` })).toBeAttached();
    // The API agrees.
    const info = (await call(page.request, session, "GET", `/v1/sandboxes/${sandbox.id}/processes/${pid}`)) as {
      state: string;
      exit_code: number;
      tag: string;
    };
    expect(info).toMatchObject({ state: "exited", exit_code: 0, tag: "ticker" });

    // A tag the server refuses: its problem next to the Tag field, no process started.
    const tag = panel.getByLabel("Tag (optional)");
    await panel.getByLabel("Shell line").fill("true");
    await tag.fill("a b");
    const refused = page.waitForResponse(
      (r) => r.url().endsWith(`/v1/sandboxes/${sandbox.id}/processes`) && r.request().method() === "POST",
    );
    await panel.getByRole("button", { name: "Start process" }).click();
    const problem = (await (await refused).json()) as { code: string; field: string; detail: string };
    expect((await refused).status()).toBe(422);
    expect(problem.field).toBe("tag");
    await expect(tag).toHaveAttribute("aria-invalid", "true");
    await expect(tag).toBeFocused();
    await expect(tag).toHaveAccessibleDescription(new RegExp(problem.detail.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
    await expect(panel.locator("tbody tr")).toHaveCount(1);
    // Typing clears it.
    await tag.fill("");
    await expect(tag).not.toHaveAttribute("aria-invalid", "true");

    // What the browser can tell itself: an environment line without "=", a timeout of 0.
    const env = panel.getByLabel("Environment (optional)");
    const timeout = panel.getByLabel("Timeout in seconds (optional)");
    await env.fill("GREETING");
    await timeout.fill("0");
    await panel.getByRole("button", { name: "Start process" }).click();
    await expect(timeout).toHaveAttribute("aria-invalid", "true");
    await expect(env).toHaveAttribute("aria-invalid", "true");
    await expect(env).toHaveAccessibleDescription(/Line 1: write NAME=VALUE/);
    await expect(timeout).toBeFocused();
    expect(await seriousViolations(page)).toEqual([]);

    // Input to a process started with stdin open, in an environment of its own.
    await env.fill("GREETING=hello there");
    await timeout.fill("60");
    await panel.getByLabel("Keep stdin open").check();
    const reader = await startFromForm(page, sandbox.id, 'read line; echo "$GREETING, $line"', "reader");
    const readerOutput = panel.getByRole("region", { name: `Process ${reader} (reader)` });
    await expect(readerOutput.getByText("Following the output…")).toBeVisible();
    await expect(processRow(page, reader)).toHaveAttribute("data-state", "running");
    const input = readerOutput.getByRole("form", { name: `Input of process ${reader}` });
    await input.getByLabel("Input", { exact: true }).fill("world");
    await input.getByRole("button", { name: "Send" }).click();
    await expect(readerOutput.getByRole("log")).toHaveText(/^hello there, world\n$/);
    await expect(processRow(page, reader)).toHaveAttribute("data-state", "exited");
    await expect(processRow(page, reader).locator('td[data-column="exit"]')).toHaveText("0");
    // Its input box goes with it.
    await expect(input).toHaveCount(0);

    // Choosing the first shows its kept output again; choosing it again hides it.
    const first = processRow(page, pid).getByRole("button", { name: `Output of process ${pid}` });
    await first.click();
    await expect(panel.getByRole("log", { name: `Output of process ${pid}` })).toHaveText(/^tick 1\ntick 2\ntick 3\n$/);
    await expect(panel.getByRole("log", { name: `Output of process ${reader}` })).toHaveCount(0);
    await first.click();
    await expect(first).toHaveAttribute("aria-pressed", "false");
    await expect(panel.getByRole("log")).toHaveCount(0);
    expect(await seriousViolations(page)).toEqual([]);
  } finally {
    await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
  }
});

test("a container's processes: Stop and Kill from the page; the list polls only while one runs", async ({ page }) => {
  test.setTimeout(120_000);
  const session = await signIn(page);
  const sandbox = await runningContainer(page, session);
  try {
    await page.goto(`/sandboxes/${sandbox.id}`);
    const panel = page.getByRole("region", { name: "Processes", exact: true });
    await expect(panel).toBeVisible({ timeout: 30_000 });

    const sleeper = await startFromForm(page, sandbox.id, "sleep 300", "sleeper");
    const output = panel.getByRole("region", { name: `Process ${sleeper} (sleeper)` });
    await expect(output.getByText("Following the output…")).toBeVisible();
    await expect(processRow(page, sleeper)).toHaveAttribute("data-state", "running");
    await expect(processRow(page, sleeper).locator('td[data-column="exit"]')).toHaveText("—");

    // While one runs the list is read again by itself: one started through the API shows up.
    const viaApi = (await call(page.request, session, "POST", `/v1/sandboxes/${sandbox.id}/processes`, {
      command: ["sh", "-c", "echo from the api"],
      tag: "from-api",
    })) as { pid: number };
    await expect(processRow(page, viaApi.pid).getByRole("cell").nth(0)).toHaveText("from-api", { timeout: 6_000 });
    await expect(processRow(page, viaApi.pid)).toHaveAttribute("data-state", "exited", { timeout: 6_000 });

    // Stop: TERM, so 128 + 15.
    const signalled = page.waitForResponse((r) => r.url().endsWith(`/processes/${sleeper}/signal`));
    await output.getByRole("group", { name: `Process ${sleeper} actions` }).getByRole("button", { name: "Stop" }).click();
    expect((await signalled).status()).toBe(204);
    expect(JSON.parse((await signalled).request().postData() ?? "{}")).toEqual({ signal: "TERM" });
    await expect(output.getByText("The process ended.")).toBeVisible({ timeout: 15_000 });
    await expect(processRow(page, sleeper)).toHaveAttribute("data-state", "exited");
    await expect(processRow(page, sleeper).locator('td[data-column="exit"]')).toHaveText("143 (TERM)");
    await expect(output.getByRole("button", { name: "Stop" })).toHaveCount(0);

    // Kill: KILL, so 128 + 9.
    const victim = await startFromForm(page, sandbox.id, "sleep 300", "victim");
    const victimOutput = panel.getByRole("region", { name: `Process ${victim} (victim)` });
    await victimOutput.getByRole("button", { name: "Kill" }).click();
    await expect(victimOutput.getByText("The process ended.")).toBeVisible({ timeout: 15_000 });
    await expect(processRow(page, victim).locator('td[data-column="exit"]')).toHaveText("137 (KILL)");
    const killed = (await call(page.request, session, "GET", `/v1/sandboxes/${sandbox.id}/processes/${victim}`)) as {
      exit_code: number;
    };
    expect(killed.exit_code).toBe(137);

    // None runs now: the list is not read again until something changes.
    await expect(panel.locator('tbody tr[data-state="running"]')).toHaveCount(0);
    await page.waitForTimeout(1_000);
    const reads: string[] = [];
    page.on("request", (r) => {
      if (r.method() === "GET" && r.url().endsWith(`/v1/sandboxes/${sandbox.id}/processes`)) reads.push(r.url());
    });
    await page.waitForTimeout(5_000);
    expect(reads).toEqual([]);
    // Refresh reads it.
    await panel.getByRole("button", { name: "Refresh" }).click();
    await expect(panel.getByRole("status").filter({ hasText: "Read the processes again." })).toBeAttached();
    expect(reads.length).toBe(1);
  } finally {
    await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
  }
});

test("a code-interpreter sandbox has no Processes panel (no processes asked for)", async ({ page }) => {
  const session = await signIn(page);
  const sandbox = await createSandbox(page, session, { image: "code-interpreter", timeout_s: 300 });
  const asked: string[] = [];
  page.on("request", (r) => {
    if (r.url().includes("/processes")) asked.push(r.url());
  });
  try {
    await page.goto(`/sandboxes/${sandbox.id}`);
    // It runs (its Files panel is shown), and yet has no Processes panel, nor asks for one.
    await expect(page.getByRole("region", { name: "Files", exact: true })).toBeVisible({ timeout: 30_000 });
    await expect(page.getByRole("region", { name: "Console" })).toBeVisible();
    await expect(page.getByRole("region", { name: "Processes", exact: true })).toHaveCount(0);
    await expect(page.getByRole("heading", { name: "Processes" })).toHaveCount(0);
    expect(asked).toEqual([]);
  } finally {
    await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
  }
});
