import { fileURLToPath } from "node:url";

import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// `npm run dev` proxies the API to a running sbx (SBX_URL, e.g. the $TEST_URL of
// scripts/setup.sh's start_test_server), so the session cookie stays same-origin; WebSockets
// too (the terminal's `/v1/sandboxes/{id}/pty`).
const target = process.env.SBX_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  resolve: { alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) } },
  server: {
    proxy: {
      "/v1": { target, ws: true },
      "/auth": target,
    },
  },
  build: {
    outDir: "dist",
    // The server serves these offline: no CDN, everything in the bundle.
    assetsInlineLimit: 4096,
    sourcemap: false,
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
