// The Sandbox page's Terminal panel, against a running container (image "python") and the real
// `GET /v1/sandboxes/{id}/pty`: open a shell and type into it with the keyboard (what it prints
// in xterm's rows), the size the shell sees following the page's, reattach after a reload (its
// kept output replayed), a dropped connection and Reconnect (the screen reset before the
// replay, so nothing shows twice), `exit` and a new terminal, Escape then Tab out of it; a
// reconnect to a shell killed meanwhile cannot connect (the hint); no Terminal panel for a
// code-interpreter. axe on the way. A dropped connection is made with Playwright's WebSocket
// routing, which connects to the real server from the page.
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Locator, type Page, type WebSocketRoute } from "@playwright/test";

import { call, createSandbox, signIn, type SandboxView } from "./support";

type Session = Awaited<ReturnType<typeof signIn>>;

interface ProcessView {
  pid: number;
  state: string;
  exit_code: number | null;
  tty?: boolean;
}

async function seriousViolations(page: Page) {
  const { violations } = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"])
    .analyze();
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

/** Every violation, of any impact, inside the Terminal panel (xterm's DOM and ours). */
async function panelViolations(page: Page) {
  const { violations } = await new AxeBuilder({ page })
    .include('section[aria-labelledby="terminal-heading"]')
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"])
    .analyze();
  return violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`,
  );
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

const terminalPanel = (page: Page) => page.getByRole("region", { name: "Terminal", exact: true });
const screen = (panel: Locator) => panel.locator(".xterm-rows");

/** The pid of the terminal the panel is connected to, once it is. */
async function connectedPid(panel: Locator): Promise<number> {
  const status = panel.getByRole("status").filter({ hasText: /Connected to terminal \d+\./ });
  await expect(status).toBeVisible({ timeout: 30_000 });
  const pid = Number(/terminal (\d+)\./.exec(await status.innerText())?.[1]);
  expect(pid).toBeGreaterThan(0);
  await expect(panel.locator(".terminal-view")).toHaveAttribute("data-pid", String(pid));
  return pid;
}

/** Types `line` and Enter with the keyboard into the terminal, which has the focus. */
async function typeLine(page: Page, panel: Locator, line: string) {
  await expect(panel.getByRole("textbox", { name: "Terminal" })).toBeFocused();
  await page.keyboard.type(line);
  await page.keyboard.press("Enter");
}

/** How many times `text` is on the terminal's screen. */
async function countOnScreen(panel: Locator, text: string): Promise<number> {
  return (await screen(panel).innerText()).split(text).length - 1;
}

/** The last `ROWS COLS` line `stty size` printed on the screen. */
async function lastSttySize(panel: Locator): Promise<{ rows: number; cols: number } | null> {
  // xterm's rows may space with no-break spaces.
  const lines = [...(await screen(panel).innerText()).matchAll(/^(\d+)[ \u00a0]+(\d+)[ \u00a0]*$/gm)];
  const last = lines.at(-1);
  return last ? { rows: Number(last[1]), cols: Number(last[2]) } : null;
}

async function processOf(page: Page, session: Session, sandboxId: string, pid: number): Promise<ProcessView> {
  return (await call(page.request, session, "GET", `/v1/sandboxes/${sandboxId}/processes/${pid}`)) as ProcessView;
}

test("a container's terminal: type into a shell, its size, reattach after a reload, reconnect, exit, a new one", async ({
  page,
}) => {
  test.setTimeout(180_000);
  const session = await signIn(page);
  const sandbox = await runningContainer(page, session);
  const sockets: string[] = [];
  // The text frames the page sends: its resize messages.
  const sent: string[] = [];
  page.on("websocket", (ws) => {
    if (!ws.url().includes("/pty")) return;
    sockets.push(ws.url());
    ws.on("framesent", (f) => {
      if (typeof f.payload === "string") sent.push(f.payload);
    });
  });
  try {
    await page.goto(`/sandboxes/${sandbox.id}`);
    const panel = terminalPanel(page);
    await expect(panel).toBeVisible({ timeout: 30_000 });
    await expect(panel.getByRole("heading", { level: 2, name: "Terminal" })).toBeVisible();
    // Nothing is connected before it is asked for.
    const open = panel.getByRole("button", { name: "Open terminal" });
    await expect(open).toHaveAccessibleDescription(/in \/workspace/);
    expect(sockets).toEqual([]);

    await open.click();
    const pid = await connectedPid(panel);
    expect(sockets).toHaveLength(1);
    const first = new URL(sockets[0]!);
    expect(first.protocol).toBe("ws:");
    expect(first.pathname).toBe(`/v1/sandboxes/${sandbox.id}/pty`);
    expect([...first.searchParams.keys()]).toEqual(["cols", "rows", "project"]);
    // The project, which the page's WebSocket cannot send as `X-Sbx-Project`.
    expect(first.searchParams.get("project")).toBe(session.projects[0]!.id);
    const size = { cols: Number(first.searchParams.get("cols")), rows: Number(first.searchParams.get("rows")) };
    expect(size.cols).toBeGreaterThan(20);
    expect(size.rows).toBeGreaterThan(5);
    // The API lists it as a terminal.
    expect(await processOf(page, session, sandbox.id, pid)).toMatchObject({ state: "running", tty: true });

    // Typed with the keyboard into the focused terminal; the shell's output on its screen.
    const terminal = panel.getByRole("textbox", { name: "Terminal" });
    await expect(terminal).toHaveAccessibleDescription(/Escape, then Tab/);
    await typeLine(page, panel, "echo hi-$((6*7))");
    await expect(screen(panel)).toContainText("hi-42");

    // The shell has the size asked for, and follows the page's: a narrower window, fewer columns.
    await typeLine(page, panel, "stty size");
    await expect.poll(() => lastSttySize(panel)).toEqual(size);
    expect(sent).toEqual([]);
    await page.setViewportSize({ width: 1000, height: 860 });
    await expect.poll(() => sent.length).toBeGreaterThan(0);
    const resized = JSON.parse(sent.at(-1)!) as { type: string; cols: number; rows: number };
    expect(resized).toEqual({ type: "resize", cols: expect.any(Number), rows: size.rows });
    expect(resized.cols).toBeLessThan(size.cols);
    // Settled: no further resize on its way.
    await page.waitForTimeout(300);
    const settled = JSON.parse(sent.at(-1)!) as { cols: number; rows: number };
    await typeLine(page, panel, "stty size");
    await expect.poll(() => lastSttySize(panel)).toEqual({ rows: settled.rows, cols: settled.cols });
    expect(await seriousViolations(page)).toEqual([]);
    expect(await panelViolations(page)).toEqual([]);

    // A reload leaves the shell running: the panel offers it, and reattaching replays its output.
    // From here on the page's sockets go through a route, which can drop one.
    const routes: WebSocketRoute[] = [];
    await page.routeWebSocket(/\/pty\?/, (ws) => {
      ws.connectToServer();
      routes.push(ws);
    });
    await page.reload();
    await expect(panel).toBeVisible({ timeout: 30_000 });
    const running = panel.getByRole("region", { name: "Running terminals" });
    await expect(running.getByRole("listitem")).toHaveCount(1);
    await running.getByRole("button", { name: `Reattach to terminal ${pid}` }).click();
    expect(await connectedPid(panel)).toBe(pid);
    expect(new URL(routes[0]!.url()).searchParams.get("pid")).toBe(String(pid));
    await expect(screen(panel)).toContainText("hi-42");
    await expect(terminal).toBeFocused();

    // The connection drops: disconnected, Reconnect (focused) reattaches to the same shell, and
    // the screen, reset first, shows the replayed output once.
    await routes[0]!.close({ code: 4000, reason: "dropped by the test" });
    await expect(panel.getByText(`Disconnected from terminal ${pid}.`)).toBeVisible();
    const reconnect = panel.getByRole("group", { name: "Terminal actions" }).getByRole("button", { name: "Reconnect" });
    await expect(reconnect).toBeFocused();
    expect(await processOf(page, session, sandbox.id, pid)).toMatchObject({ state: "running" });
    expect(await seriousViolations(page)).toEqual([]);
    await reconnect.click();
    expect(await connectedPid(panel)).toBe(pid);
    expect(routes).toHaveLength(2);
    expect(new URL(routes[1]!.url()).searchParams.get("pid")).toBe(String(pid));
    await expect(screen(panel)).toContainText("hi-42");
    await expect.poll(() => countOnScreen(panel, "hi-42")).toBe(1);

    // `exit` ends it: its exit code, and New terminal (focused) in place of the connection.
    await typeLine(page, panel, "exit");
    await expect(panel.getByText(`Terminal ${pid} exited with code 0.`)).toBeVisible({ timeout: 15_000 });
    await expect(panel.locator(".terminal-view")).toHaveAttribute("data-state", "exited");
    const again = panel.getByRole("button", { name: "New terminal" });
    await expect(again).toBeFocused();
    await expect(panel.getByRole("button", { name: "Reconnect" })).toHaveCount(0);
    await expect.poll(async () => (await processOf(page, session, sandbox.id, pid)).state).toBe("exited");
    expect((await processOf(page, session, sandbox.id, pid)).exit_code).toBe(0);
    expect(await seriousViolations(page)).toEqual([]);
    expect(await panelViolations(page)).toEqual([]);

    // A new terminal: another shell, on a clean screen.
    await again.click();
    const second = await connectedPid(panel);
    expect(second).not.toBe(pid);
    expect(new URL(routes.at(-1)!.url()).searchParams.has("pid")).toBe(false);
    await expect(screen(panel)).not.toContainText("hi-42");

    // Tab belongs to the shell; Escape then Tab moves on from the terminal.
    await expect(terminal).toBeFocused();
    await page.keyboard.press("Tab");
    await expect(terminal).toBeFocused();
    await page.keyboard.press("Escape");
    await page.keyboard.press("Tab");
    await expect(panel.getByRole("checkbox", { name: "Screen reader mode" })).toBeFocused();

    // Detach: back to Open terminal (focused), with the shell still running to reattach to.
    await panel.getByRole("button", { name: "Detach" }).click();
    await expect(open).toBeFocused();
    await expect(running.getByRole("button", { name: `Reattach to terminal ${second}` })).toBeVisible();
    await expect(running.getByRole("button", { name: `Reattach to terminal ${pid}` })).toHaveCount(0);
    expect(await seriousViolations(page)).toEqual([]);
  } finally {
    await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
  }
});

test("a container's terminal: a reconnect to a shell killed meanwhile could not connect, with a hint", async ({
  page,
}) => {
  test.setTimeout(120_000);
  const session = await signIn(page);
  const sandbox = await runningContainer(page, session);
  // Routed until the drop; the reconnect goes to the server directly, as a refusal would.
  const routes: WebSocketRoute[] = [];
  let routing = true;
  await page.routeWebSocket(
    (url) => routing && url.pathname.endsWith("/pty"),
    (ws) => {
      ws.connectToServer();
      routes.push(ws);
    },
  );
  try {
    await page.goto(`/sandboxes/${sandbox.id}`);
    const panel = terminalPanel(page);
    await expect(panel).toBeVisible({ timeout: 30_000 });
    await panel.getByRole("button", { name: "Open terminal" }).click();
    const pid = await connectedPid(panel);

    await routes[0]!.close({ code: 4000, reason: "dropped by the test" });
    await expect(panel.getByText(`Disconnected from terminal ${pid}.`)).toBeVisible();
    routing = false;
    await call(page.request, session, "POST", `/v1/sandboxes/${sandbox.id}/processes/${pid}/signal`, {
      signal: "KILL",
    });
    await expect.poll(async () => (await processOf(page, session, sandbox.id, pid)).state).toBe("exited");

    // The server refuses the reattach before the upgrade: the browser only learns it failed.
    await panel.getByRole("button", { name: "Reconnect" }).click();
    const alert = panel.getByRole("alert").filter({ hasText: "Could not connect to the terminal." });
    await expect(alert).toBeVisible({ timeout: 15_000 });
    await expect(alert).toContainText("The sandbox must be running");
    await expect(alert).toContainText(`terminal ${pid} must still run`);
    await expect(panel.locator(".terminal-view")).toHaveAttribute("data-state", "failed");
    const actions = panel.getByRole("group", { name: "Terminal actions" });
    await expect(actions.getByRole("button", { name: "Try again" })).toBeFocused();
    expect(await seriousViolations(page)).toEqual([]);
    expect(await panelViolations(page)).toEqual([]);

    // A new terminal still can.
    await actions.getByRole("button", { name: "New terminal" }).click();
    const second = await connectedPid(panel);
    expect(second).not.toBe(pid);
    await expect(panel.getByRole("alert")).toHaveCount(0);
  } finally {
    await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
  }
});

test("a code-interpreter sandbox has no terminal panel", async ({ page }) => {
  const session = await signIn(page);
  const sandbox = await createSandbox(page, session, { image: "code-interpreter", timeout_s: 300 });
  try {
    await page.goto(`/sandboxes/${sandbox.id}`);
    await expect(page.getByRole("region", { name: "Files", exact: true })).toBeVisible({ timeout: 30_000 });
    await expect(page.getByRole("region", { name: "Terminal", exact: true })).toHaveCount(0);
    await expect(page.getByRole("button", { name: "Open terminal" })).toHaveCount(0);
  } finally {
    await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
  }
});
