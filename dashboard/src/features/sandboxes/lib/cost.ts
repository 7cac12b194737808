// "Cost so far": what listed sandboxes cost since they were made, from
// `GET /v1/usage?group_by=sandbox&from=<the oldest one's created_at>` reports joined by id (the
// ended ones' and the live ones', see `api/cost.ts`). Pure, unit-tested in `cost.test.ts`.
import type { Schemas } from "@/api/client";

/** The longest range `GET /v1/usage` takes is 366 days; a day of margin for clocks. */
const MAX_RANGE_DAYS = 365;
const DAY_MS = 86_400_000;

/**
 * Where the report for `sandboxes` starts: the oldest one's `created_at`, but not before
 * midnight UTC 365 days ago (the API's range ends there; such old sandboxes' cost is their
 * last year's). `null` for no sandboxes.
 */
export function costFrom(sandboxes: Pick<Schemas["SandboxView"], "created_at">[], now: number): string | null {
  let oldest: string | null = null;
  let oldestMs = Infinity;
  for (const s of sandboxes) {
    const ms = Date.parse(s.created_at);
    if (ms < oldestMs) {
      oldest = s.created_at;
      oldestMs = ms;
    }
  }
  if (oldest === null) return null;
  const limit = (Math.floor(now / DAY_MS) - MAX_RANGE_DAYS + 1) * DAY_MS;
  return oldestMs < limit ? new Date(limit).toISOString() : oldest;
}

/** A `group_by=sandbox` report's cost by sandbox id. */
export function costById(report: Pick<Schemas["UsageReport"], "rows"> | undefined): Map<string, number> {
  return new Map((report?.rows ?? []).map((r) => [r.key, r.cost]));
}

/**
 * The list's costs: the ended sandboxes' report, the live ones' overriding it for them (a live
 * sandbox missing from its report has cost nothing yet). `undefined` until every report
 * needed has answered.
 */
export function joinCosts(
  sandboxes: Pick<Schemas["SandboxView"], "id" | "state">[] | undefined,
  isLive: (s: Pick<Schemas["SandboxView"], "state">) => boolean,
  ended: Map<string, number> | undefined,
  live: Map<string, number> | undefined,
): Map<string, number> | undefined {
  if (!sandboxes) return undefined;
  const liveOnes = sandboxes.filter(isLive);
  if (liveOnes.length > 0 && !live) return undefined;
  if (liveOnes.length < sandboxes.length && !ended) return undefined;
  const out = new Map(ended);
  for (const s of liveOnes) out.set(s.id, live?.get(s.id) ?? 0);
  return out;
}
