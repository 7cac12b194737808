// axe-core on the Sandboxes page and each step of the wizard: no serious or critical
// violations. With SBX_SCREENSHOTS=1 it also retakes the screenshots kept in docs/
// (`SBX_SCREENSHOTS=1 scripts/dashboard-test -g accessibility`).
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";
import { fileURLToPath } from "node:url";

import { createSandbox, signIn } from "./support";

const docs = (name: string) => fileURLToPath(new URL(`../../docs/${name}`, import.meta.url));

async function screenshot(page: Page, name: string) {
  if (process.env.SBX_SCREENSHOTS === "1") await page.screenshot({ path: docs(name) });
}

async function seriousViolations(page: Page, include?: string) {
  let builder = new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]);
  if (include) builder = builder.include(include);
  const { violations } = await builder.analyze();
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

test("the Sandboxes page has no serious accessibility violations", async ({ page }) => {
  const session = await signIn(page);
  await createSandbox(page, session, { image: "code-interpreter", timeout_s: 900, env: { A: "1" } });
  await page.goto("/sandboxes");
  await expect(page.locator("tbody tr").first()).toBeVisible();
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, "dashboard-sandboxes.png");
});

test("the wizard has no serious accessibility violations on any step", async ({ page }) => {
  await signIn(page);
  await page.goto("/sandboxes");
  await page.getByRole("button", { name: "Create Sandbox" }).first().click();
  const wizard = page.getByRole("dialog", { name: "Create Sandbox" });
  await expect(wizard.getByText(/No GPUs are available|Free now/)).toBeVisible();
  await wizard.getByLabel("GPU type").selectOption({ label: "A100 80 GB" });
  expect(await seriousViolations(page)).toEqual([]);

  await wizard.getByRole("button", { name: "Next" }).click();
  await wizard.getByLabel("Image", { exact: true }).selectOption("__custom__");
  await expect(wizard.getByLabel("Custom image")).toBeVisible();
  expect(await seriousViolations(page)).toEqual([]);
  await wizard.getByLabel("Image", { exact: true }).selectOption("python");

  await wizard.getByRole("button", { name: "Next" }).click();
  await wizard.getByRole("button", { name: "Add variable" }).click();
  await wizard.getByLabel("Name").fill("HF_HOME");
  await wizard.getByLabel("Value").fill("/workspace/hf");
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, "dashboard-wizard.png");
});
