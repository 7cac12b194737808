// How the Wallet reads `GET /v1/usage`, `/v1/prices` and `/v1/budget`: the range's days, the
// chart's series (cost per UTC day, stacked by resource), amounts in their units, the rates per
// hour and where the budget stands. Pure, unit-tested beside.
import type { Schemas } from "@/api/client";

export type UsageReport = Schemas["UsageReport"];
export type UsageRow = Schemas["UsageRow"];
export type PriceList = Schemas["PriceList"];
export type Budget = Schemas["BudgetView"];
export type GroupBy = "resource" | "sandbox" | "day";

/** The resources the meter charges, in the order the chart stacks them (bottom first). */
export const RESOURCES = ["cpu", "memory", "gpu", "storage", "exec"] as const;
export type Resource = (typeof RESOURCES)[number];

export const RESOURCE_LABELS: Record<Resource, string> = {
  cpu: "CPU",
  memory: "Memory",
  gpu: "GPU",
  storage: "Storage",
  exec: "Execs",
};

/** Each resource's colour in the chart and its legend: 3:1 or more against white. */
export const RESOURCE_COLOURS: Record<Resource, string> = {
  cpu: "#1f4fd1",
  memory: "#0f7b6c",
  gpu: "#8a3ffc",
  storage: "#b35c00",
  exec: "#5b6472",
};

/** The ranges the page offers, in days ending today (UTC). */
export const RANGES = [7, 30, 90] as const;
export type RangeDays = (typeof RANGES)[number];

const DAY_MS = 86_400_000;

/** `2026-11-30` for the UTC day holding `ms`. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * The start of a range of `days` UTC days ending with today's (so the chart has `days` whole
 * bars, today's the last): midnight UTC `days - 1` days before today, as RFC 3339.
 */
export function rangeStart(days: number, now: number): string {
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  return new Date(today - (days - 1) * DAY_MS).toISOString();
}

/** The UTC days from `from`'s to `to`'s, both included, as `2026-11-30`. */
export function daysBetween(from: string | number, to: string | number): string[] {
  const a = Math.floor((typeof from === "number" ? from : Date.parse(from)) / DAY_MS);
  const b = Math.floor((typeof to === "number" ? to : Date.parse(to)) / DAY_MS);
  const out: string[] = [];
  for (let d = a; d <= b && out.length <= 366; d++) out.push(utcDay(d * DAY_MS));
  return out;
}

/** One bar: a day's cost by resource, and its total. */
export type DayPoint = { day: string; total: number } & Record<Resource, number>;

/**
 * The chart's series from a `group_by=day` report: one point per UTC day of the range, days
 * without usage at zero, each resource's cost (an unknown resource counts in the total only).
 * An exclusive `to` at midnight does not start a day of its own.
 */
export function daySeries(report: Pick<UsageReport, "from" | "to" | "rows">): DayPoint[] {
  const byKey = new Map(report.rows.map((r) => [r.key, r]));
  const lastMs = Math.max(Date.parse(report.from), Date.parse(report.to) - 1);
  return daysBetween(report.from, lastMs).map((day) => {
    const row = byKey.get(day);
    const point = { day, total: row?.cost ?? 0 } as DayPoint;
    for (const r of RESOURCES) point[r] = row?.cost_by_resource?.[r] ?? 0;
    return point;
  });
}

/** The resources with any cost in the series: the chart draws (and its legend names) these. */
export function resourcesUsed(series: DayPoint[]): Resource[] {
  return RESOURCES.filter((r) => series.some((p) => p[r] > 0));
}

/** `30 Nov` for `2026-11-30`: the chart's axis, without the reader's time zone moving it. */
export function shortDay(day: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  return d.toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });
}

/** Three significant digits, no exponent: `0.0167`, `12.3`, `1,235`. */
function figure(n: number): string {
  if (n === 0) return "0";
  const decimals = Math.min(8, Math.max(0, 2 - Math.floor(Math.log10(Math.abs(n)))));
  return n.toLocaleString("en-US", { maximumFractionDigits: decimals });
}

/**
 * An amount of a resource in readable units: resource-seconds below an hour, else
 * resource-hours: `45 core-seconds`, `1.5 GiB-hours`, `12 exec-seconds`.
 */
export function formatAmount(seconds: number, unit: string): string {
  if (seconds < 3600) return `${figure(seconds)} ${unit}-seconds`;
  return `${figure(seconds / 3600)} ${unit}-hours`;
}

/** What a resource row of a `group_by=resource` report used, in its units. */
export function describeAmount(row: UsageRow): string {
  switch (row.key) {
    case "cpu":
      return formatAmount(row.cpu_core_seconds, "core");
    case "memory":
      return formatAmount(row.memory_gib_seconds, "GiB");
    case "gpu":
      return formatAmount(row.gpu_card_seconds, "card");
    case "storage":
      return formatAmount(row.storage_gib_seconds, "GiB");
    case "exec":
      return formatAmount(row.exec_seconds, "exec");
    default:
      return "—";
  }
}

/** A resource's name, or the key as it came for one this page does not know. */
export function resourceLabel(key: string): string {
  return (RESOURCE_LABELS as Record<string, string>)[key] ?? key;
}

/** Rows by cost, the largest first; ties by key. */
export function byCost<T extends { key: string; cost: number }>(rows: T[]): T[] {
  return [...rows].sort((a, b) => b.cost - a.cost || a.key.localeCompare(b.key));
}

/** One line of the rates table: what is charged, per second of one unit. */
export interface Rate {
  label: string;
  /** The unit, as in `core-second`, `core-hour`. */
  unit: string;
  perSecond: number;
}

/** The price list as table lines: CPU, memory, each priced GPU model, other GPUs, storage, execs. */
export function rates(prices: PriceList): Rate[] {
  const gpus = Object.entries(prices.gpu_second ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([model, perSecond]) => ({ label: `GPU ${model}`, unit: "card", perSecond }));
  return [
    { label: "CPU", unit: "core", perSecond: prices.cpu_core_second },
    { label: "Memory", unit: "GiB", perSecond: prices.memory_gib_second },
    ...gpus,
    { label: "GPU, other models", unit: "card", perSecond: prices.gpu_default_second },
    { label: "Storage (paused sandboxes' snapshots)", unit: "GiB", perSecond: prices.storage_gib_second },
    { label: "Execs", unit: "exec", perSecond: prices.exec_second },
  ];
}

/** How far into its budget the project is, 0 to 1 (for the meter); `null` without a limit. */
export function budgetShare(budget: Pick<Budget, "monthly_limit_usd" | "spent_usd">): number | null {
  const limit = budget.monthly_limit_usd;
  if (limit == null) return null;
  if (limit <= 0) return 1;
  return Math.min(1, Math.max(0, budget.spent_usd / limit));
}

/** The budget's state in words. */
export function describeBudgetState(state: string): string {
  if (state === "exceeded") return "Exceeded: new work is refused and running sandboxes are paused";
  if (state === "warning") return "Warning: 80 % or more of the limit is spent";
  return "Within the limit";
}

/**
 * A monthly limit as typed: empty is none (`null`); else a number of USD, from 0. `undefined`
 * for text that is not one.
 */
export function parseLimit(text: string): number | null | undefined {
  const t = text.trim().replace(/^\$/, "").replace(/,/g, "");
  if (t === "") return null;
  if (!/^\d*\.?\d+$|^\d+\.$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}


/**
 * The chart in a sentence, its description for screen readers and everyone: the total, and
 * the day that cost the most.
 */
export function describeSeries(series: DayPoint[], formatMoney: (usd: number) => string): string {
  const total = series.reduce((sum, p) => sum + p.total, 0);
  const days = `${series.length} day${series.length === 1 ? "" : "s"}`;
  if (total <= 0) return `Nothing was spent in these ${days}.`;
  const top = series.reduce((a, b) => (b.total > a.total ? b : a));
  return `${formatMoney(total)} in ${days}; the most on ${shortDay(top.day)}: ${formatMoney(top.total)}.`;
}
