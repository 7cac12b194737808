// How batches read: when they can still change (and so are polled), pass rates, counts by
// verdict, and what an item's `result` (an exec outcome) holds. Pure, unit-tested beside.
import type { Schemas } from "@/api/client";

export type Batch = Schemas["BatchView"];
export type BatchItem = Schemas["ItemView"];

/** The list is refreshed this often while any listed batch is running or cancelling … */
export const BATCHES_POLL_MS = 5_000;
/** … and a batch's page this often while it is. */
export const BATCH_POLL_MS = 2_000;

/** The verdicts an ended item can have, in the order the page lists them. */
export const VERDICTS = [
  "passed",
  "wrong_output",
  "failed",
  "timeout",
  "memory_limit",
  "disk_limit",
  "output_limit",
  "cancelled",
  "error",
] as const;

export function isActive(batch: Pick<Batch, "status">): boolean {
  return batch.status === "running" || batch.status === "cancelling";
}

/** TanStack Query's `refetchInterval` for one batch. */
export function batchRefetchInterval(batch: Pick<Batch, "status"> | undefined): number | false {
  return batch && isActive(batch) ? BATCH_POLL_MS : false;
}

/** … and for pages of the list. */
export function batchesRefetchInterval(pages: { data: Pick<Batch, "status">[] }[] | undefined): number | false {
  return pages?.some((p) => p.data.some(isActive)) ? BATCHES_POLL_MS : false;
}

/** A share as a whole percentage: `33 %`; `—` for none. */
export function formatPercent(share: number | null | undefined): string {
  return share == null ? "—" : `${Math.round(share * 100)} %`;
}

/** The pass rate with what it is of: `33 % (1 of 3)`; `—` before any item ended. */
export function describePassRate(batch: Pick<Batch, "pass_rate" | "passed" | "ended">): string {
  if (batch.pass_rate == null || batch.ended === 0) return "—";
  return `${formatPercent(batch.pass_rate)} (${batch.passed} of ${batch.ended})`;
}

/**
 * The counts, verdicts first in `VERDICTS` order, then any other key (an item's status before
 * it ends, `queued`, `running`, or a verdict this list does not know yet) by name; no zeros.
 */
export function countsInOrder(counts: Record<string, number | undefined>): [string, number][] {
  const rank = (k: string) => {
    const i = (VERDICTS as readonly string[]).indexOf(k);
    return i < 0 ? VERDICTS.length : i;
  };
  return Object.entries(counts)
    .filter((e): e is [string, number] => typeof e[1] === "number" && e[1] > 0)
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
}

/** The fields of an item's exec result the page shows. */
export interface ItemResult {
  status?: string;
  exit_code?: number | null;
  stdout?: string;
  stderr?: string;
  duration_ms?: number;
  message?: string | null;
}

export function itemResult(item: Pick<BatchItem, "result">): ItemResult | null {
  return (item.result as ItemResult | null | undefined) ?? null;
}

/** The items with `verdict`, or all for `""`. */
export function filterByVerdict<T extends Pick<BatchItem, "verdict">>(items: T[], verdict: string): T[] {
  return verdict ? items.filter((i) => i.verdict === verdict) : items;
}

/** The first line of an output, cut at `max` characters: `1`, `Traceback (most recent…`. */
export function outputPreview(text: string | undefined, max = 60): string {
  const first = (text ?? "").split("\n").find((l) => l.trim()) ?? "";
  const more = first.length > max || (text ?? "").trim().includes("\n");
  const cut = first.length > max ? first.slice(0, max - 1) : first;
  return more ? `${cut}…` : cut;
}

/** A run time in milliseconds: `850 ms`, `1.2 s`, `2 min 5 s`. */
export function formatMs(ms: number | undefined): string {
  if (ms == null) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1).replace(/\.0$/, "")} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}
