// The Sandbox page's Files panel, against a code-interpreter's /workspace: upload (several
// files, into the folder shown), list, New folder (its checks and the server's problem), open
// a folder, download, delete (a file, then a folder with what it holds), from the page alone;
// the cell sees what was uploaded; axe-core finds nothing serious.
import AxeBuilder from "@axe-core/playwright";
import { readFileSync } from "node:fs";
import { expect, test, type Page } from "@playwright/test";

import { call, createSandbox, signIn } from "./support";

async function seriousViolations(page: Page) {
  const { violations } = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"])
    .analyze();
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

const entryRow = (page: Page, path: string) => page.locator(`tr[data-path="${path}"]`);

test("a sandbox's files: upload, list, new folder, open, download, delete", async ({ page }) => {
  const session = await signIn(page);
  const sandbox = await createSandbox(page, session, { image: "code-interpreter", timeout_s: 600 });
  try {
    await page.goto(`/sandboxes/${sandbox.id}`);
    const files = page.getByRole("region", { name: "Files", exact: true });
    const folder = files.getByRole("navigation", { name: "Folder" });
    await expect(folder.locator('[aria-current="location"]')).toHaveText("/workspace");
    // A code-interpreter has no /outputs to switch to.
    await expect(files.getByRole("radio")).toHaveCount(0);

    // Two files at once, into /workspace; one with a space in its name.
    const hello = "hello, files\n";
    await files.getByLabel("Upload files").setInputFiles([
      { name: "hello.txt", mimeType: "text/plain", buffer: Buffer.from(hello) },
      { name: "a b.txt", mimeType: "text/plain", buffer: Buffer.from("spaced") },
    ]);
    await expect(files.getByRole("status").filter({ hasText: "Uploaded 2 files to /workspace." })).toBeAttached();
    const helloRow = entryRow(page, "/workspace/hello.txt");
    await expect(helloRow).toHaveAttribute("data-type", "file");
    await expect(helloRow.getByRole("cell").nth(0)).toHaveText("File");
    await expect(helloRow.getByRole("cell").nth(1)).toHaveText(`${hello.length} B`);
    await expect(helloRow.locator("time")).toHaveAttribute("datetime", /^\d{4}-\d\d-\d\dT/);
    await expect(entryRow(page, "/workspace/a b.txt")).toBeVisible();

    // The sandbox sees them: a cell reads the file.
    const code = page.getByLabel("Code");
    await code.fill("open('/workspace/a b.txt').read()");
    await code.press("ControlOrMeta+Enter");
    await expect(page.getByRole("listitem", { name: "Cell 1" }).getByRole("figure", { name: "Out [1]" })).toContainText(
      "spaced",
    );

    // New folder: a name with a slash is refused here, a file's name by the server (its detail
    // shown next to the field), then a good one.
    await files.getByRole("button", { name: "New folder" }).click();
    const dialog = page.getByRole("dialog", { name: "New folder" });
    const name = dialog.getByLabel("Folder name");
    await expect(name).toBeFocused();
    await name.fill("a/b");
    await dialog.getByRole("button", { name: "Create folder" }).click();
    await expect(name).toHaveAttribute("aria-invalid", "true");
    await expect(name).toHaveAccessibleDescription(/cannot hold “\/”/);
    await name.fill("hello.txt");
    const refused = page.waitForResponse((r) => r.url().includes("/directories/workspace/hello.txt"));
    await dialog.getByRole("button", { name: "Create folder" }).click();
    const problem = (await (await refused).json()) as { code: string; detail: string };
    expect((await refused).status()).toBe(409);
    expect(problem.code).toBe("path_conflict");
    await expect(name).toHaveAttribute("aria-invalid", "true");
    await expect(dialog.getByText(problem.detail)).toBeVisible();
    await name.fill("results");
    await name.press("Enter");
    await expect(dialog).toBeHidden();
    await expect(files.getByRole("button", { name: "New folder" })).toBeFocused();
    const resultsRow = entryRow(page, "/workspace/results");
    await expect(resultsRow).toHaveAttribute("data-type", "directory");
    await expect(resultsRow.getByRole("cell").nth(0)).toHaveText("Folder");
    // Folders first.
    await expect(files.locator("tbody tr").first()).toHaveAttribute("data-path", "/workspace/results");
    expect(await seriousViolations(page)).toEqual([]);

    // Open it (from the keyboard): empty, and the breadcrumb has the focus.
    await resultsRow.getByRole("button", { name: "results", exact: true }).focus();
    await page.keyboard.press("Enter");
    const current = folder.locator('[aria-current="location"]');
    await expect(current).toHaveText("results");
    await expect(current).toBeFocused();
    await expect(files.getByText("This folder is empty.")).toBeVisible();

    // Upload into it, and download it back.
    const csv = "x,y\n1,2\n3,4\n";
    await files.getByLabel("Upload files").setInputFiles({ name: "data.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    const dataRow = entryRow(page, "/workspace/results/data.csv");
    await expect(dataRow).toBeVisible();
    await expect(entryRow(page, "/workspace/hello.txt")).toHaveCount(0);
    const download = page.waitForEvent("download");
    await dataRow.getByRole("link", { name: "data.csv", exact: true }).click();
    const saved = await download;
    expect(saved.suggestedFilename()).toBe("data.csv");
    expect(readFileSync(await saved.path(), "utf8")).toBe(csv);
    // By the API too, by its percent-encoded path.
    const viaApi = await page.request.get(`/v1/sandboxes/${sandbox.id}/files/workspace/a%20b.txt`, {
      headers: { "X-Sbx-Project": session.projects[0]!.id },
    });
    expect(await viaApi.text()).toBe("spaced");

    // Back up by the breadcrumb; Refresh reads the folder again.
    await folder.getByRole("button", { name: "/workspace", exact: true }).click();
    await expect(current).toHaveText("/workspace");
    await expect(resultsRow).toBeVisible();
    await files.getByRole("button", { name: "Refresh" }).click();
    await expect(files.getByRole("status").filter({ hasText: "Read /workspace again." })).toBeAttached();

    // Delete a file: asked first; Cancel keeps it.
    await helloRow.getByRole("button", { name: "Delete hello.txt" }).click();
    let confirm = page.getByRole("alertdialog", { name: "Delete hello.txt?" });
    await expect(confirm).toContainText("/workspace/hello.txt is deleted for good");
    await confirm.getByRole("button", { name: "Cancel" }).click();
    await expect(helloRow).toBeVisible();
    await helloRow.getByRole("button", { name: "Delete hello.txt" }).click();
    await confirm.getByRole("button", { name: "Delete" }).click();
    await expect(helloRow).toHaveCount(0);

    // A folder goes with everything in it.
    await resultsRow.getByRole("button", { name: "Delete results" }).click();
    confirm = page.getByRole("alertdialog", { name: "Delete folder results?" });
    await expect(confirm).toContainText("and everything in it");
    await confirm.getByRole("button", { name: "Delete" }).click();
    await expect(resultsRow).toHaveCount(0);
    const left = (await call(page.request, session, "GET", `/v1/sandboxes/${sandbox.id}/files?path=/workspace`)) as {
      data: { path: string }[];
    };
    expect(left.data.map((e) => e.path)).not.toContain("/workspace/results");
    expect(left.data.map((e) => e.path)).toContain("/workspace/a b.txt");
    expect(await seriousViolations(page)).toEqual([]);
  } finally {
    await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
  }
});

test("a container's Files panel switches to /outputs", async ({ page }) => {
  const session = await signIn(page);
  const sandbox = await createSandbox(page, session, {
    image: "python",
    command: ["sh", "-c", "mkdir -p /outputs && echo done > /outputs/result.txt; sleep 120"],
    timeout_s: 300,
  });
  try {
    await page.goto(`/sandboxes/${sandbox.id}`);
    const files = page.getByRole("region", { name: "Files", exact: true });
    await expect(files).toBeVisible({ timeout: 30_000 });
    const tree = files.getByRole("group", { name: "Folder tree" });
    await tree.getByRole("radio", { name: "/outputs" }).check();
    await expect(files.getByRole("navigation", { name: "Folder" }).locator('[aria-current="location"]')).toHaveText(
      "/outputs",
    );
    // The listing is read when shown and on Refresh, not polled: the command may write later.
    const row = entryRow(page, "/outputs/result.txt");
    await expect(async () => {
      if (!(await row.count())) await files.getByRole("button", { name: "Refresh" }).click();
      await expect(row).toBeVisible({ timeout: 2_000 });
    }).toPass({ timeout: 30_000 });
    await expect(row.getByRole("cell").nth(1)).toHaveText("5 B");
    expect(await seriousViolations(page)).toEqual([]);
    await tree.getByRole("radio", { name: "/workspace" }).check();
    await expect(row).toHaveCount(0);
  } finally {
    await call(page.request, session, "DELETE", `/v1/sandboxes/${sandbox.id}`);
  }
});
