// When the Sandboxes list polls: every 10 s while any listed sandbox can still change by
// itself (pending → running, running → paused or ended, paused → ended at its timeout), and
// not at all once every listed one has ended.
import type { Schemas } from "@/api/client";

export const POLL_INTERVAL_MS = 10_000;

/** States a sandbox leaves without anyone asking. */
export const LIVE_STATES: readonly string[] = ["pending", "running", "paused"];

export function isLive(sandbox: Pick<Schemas["SandboxView"], "state">): boolean {
  return LIVE_STATES.includes(sandbox.state);
}

/** TanStack Query's `refetchInterval` for a page of sandboxes. */
export function sandboxesRefetchInterval(page: Schemas["SandboxPage"] | undefined): number | false {
  return page?.data.some(isLive) ? POLL_INTERVAL_MS : false;
}
