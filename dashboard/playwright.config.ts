import { defineConfig } from "@playwright/test";

// Runs against a real sbx (SBX_URL) serving the built dashboard, signed in as the user whose
// email and password are the two lines of SBX_LOGIN_FILE. scripts/dashboard-test sets both.
const baseURL = process.env.SBX_URL;
if (!baseURL) throw new Error("set SBX_URL to a running sbx serving dashboard/dist (see scripts/dashboard-test)");

export default defineConfig({
  testDir: "e2e",
  // One worker: the tests share the dev project, and the polling test needs every other
  // sandbox of it ended.
  workers: 1,
  fullyParallel: false,
  forbidOnly: Boolean(process.env.CI),
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [["list"], ["html", { open: "never" }]],
  use: {
    baseURL,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    viewport: { width: 1360, height: 860 },
  },
  projects: [
    {
      name: "chromium",
      use: {
        browserName: "chromium",
        // Debian's chromium: Playwright's own browser downloads are not reachable here.
        launchOptions: {
          executablePath: process.env.SBX_CHROMIUM ?? "/usr/bin/chromium",
          args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
          ],
        },
      },
    },
  ],
});
