// Signs in, then times page.goto("/sandboxes") until the 200th row is visible, 7 times.
// Usage: node paint.mjs URL EMAIL PASSWORD (dashboard/bench/paint.sh runs it).
import { chromium } from "@playwright/test";
const [url, email, password] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
const page = await browser.newPage();
const r = await page.request.post(url + "/auth/login", { data: { email, password } });
if (r.status() !== 200) throw new Error("login " + r.status());
const times = [];
for (let i = 0; i < 7; i++) {
  const t0 = Date.now();
  await page.goto(url + "/sandboxes", { waitUntil: "commit" });
  await page.locator("tbody tr").nth(199).waitFor({ state: "visible", timeout: 10000 });
  const t = Date.now() - t0;
  const fcp = await page.evaluate(() => performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? -1);
  times.push([t, Math.round(fcp)]);
}
console.log(JSON.stringify(times));
times.sort((a, b) => a[0] - b[0]);
console.log(`200 rows visible after navigation: median ${times[3][0]} ms (first contentful paint ${times[3][1]} ms)`);
await browser.close();
