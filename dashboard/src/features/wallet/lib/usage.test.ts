import { describe, expect, it } from "vitest";

import { formatUsd } from "@/lib/money";

import {
  budgetShare,
  byCost,
  describeBudgetState,
  daysBetween,
  daySeries,
  describeAmount,
  describeSeries,
  formatAmount,
  parseLimit,
  rangeStart,
  rates,
  resourcesUsed,
  shortDay,
} from "./usage";

const row = (key: string, cost_by_resource: Record<string, number>, extra: object = {}) =>
  ({
    key,
    running_seconds: 0,
    paused_seconds: 0,
    cpu_core_seconds: 0,
    memory_gib_seconds: 0,
    gpu_card_seconds: 0,
    storage_gib_seconds: 0,
    exec_seconds: 0,
    cost_by_resource,
    cost: Object.values(cost_by_resource).reduce((a, b) => a + b, 0),
    ...extra,
  }) as never;

describe("the range", () => {
  it("starts at midnight UTC so that it holds `days` whole days, today's the last", () => {
    const now = Date.parse("2026-11-30T15:42:00Z");
    expect(rangeStart(7, now)).toBe("2026-11-24T00:00:00.000Z");
    expect(rangeStart(1, now)).toBe("2026-11-30T00:00:00.000Z");
    expect(rangeStart(30, now)).toBe("2026-11-01T00:00:00.000Z");
  });

  it("lists the UTC days between two times, both included, across months", () => {
    expect(daysBetween("2026-11-29T23:00:00Z", "2026-12-01T01:00:00Z")).toEqual([
      "2026-11-29",
      "2026-11-30",
      "2026-12-01",
    ]);
    expect(daysBetween("2026-11-30T10:00:00Z", "2026-11-30T11:00:00Z")).toEqual(["2026-11-30"]);
  });
});

describe("the chart's series", () => {
  const report = {
    from: "2026-11-27T00:00:00Z",
    to: "2026-11-30T15:00:00.5Z",
    rows: [
      row("2026-11-28", { cpu: 0.01, memory: 0.002 }),
      row("2026-11-30", { cpu: 0.03, gpu: 1.5, exec: 0.001, future: 0.5 }),
    ],
  };

  it("has one point per day of the range, days without usage at zero", () => {
    const series = daySeries(report);
    expect(series.map((p) => p.day)).toEqual(["2026-11-27", "2026-11-28", "2026-11-29", "2026-11-30"]);
    expect(series[0]).toEqual({ day: "2026-11-27", total: 0, cpu: 0, memory: 0, gpu: 0, storage: 0, exec: 0 });
    expect(series[1]).toMatchObject({ cpu: 0.01, memory: 0.002, gpu: 0, total: 0.012 });
    // A resource the chart does not know counts in the day's total only.
    expect(series[3]).toMatchObject({ cpu: 0.03, gpu: 1.5, exec: 0.001, storage: 0 });
    expect(series[3]!.total).toBeCloseTo(2.031);
  });

  it("does not start a day at an exclusive end at midnight", () => {
    const series = daySeries({ from: "2026-11-28T00:00:00Z", to: "2026-11-30T00:00:00Z", rows: [] });
    expect(series.map((p) => p.day)).toEqual(["2026-11-28", "2026-11-29"]);
  });

  it("stacks only the resources that cost anything, in their order", () => {
    expect(resourcesUsed(daySeries(report))).toEqual(["cpu", "memory", "gpu", "exec"]);
    expect(resourcesUsed(daySeries({ ...report, rows: [] }))).toEqual([]);
  });

  it("is described in a sentence", () => {
    expect(describeSeries(daySeries(report), formatUsd)).toBe("$2.04 in 4 days; the most on 30 Nov: $2.03.");
    expect(describeSeries(daySeries({ ...report, rows: [] }), formatUsd)).toBe("Nothing was spent in these 4 days.");
  });

  it("names days without the reader's time zone moving them", () => expect(shortDay("2026-12-01")).toBe("1 Dec"));
});

describe("amounts", () => {
  it("reads resource-seconds below an hour, resource-hours from one", () => {
    expect(formatAmount(45, "core")).toBe("45 core-seconds");
    expect(formatAmount(0.125, "GiB")).toBe("0.125 GiB-seconds");
    expect(formatAmount(5400, "card")).toBe("1.5 card-hours");
    expect(formatAmount(3_600_000, "core")).toBe("1,000 core-hours");
  });

  it("picks the unit by resource", () => {
    expect(describeAmount(row("cpu", { cpu: 1 }, { cpu_core_seconds: 60 }))).toBe("60 core-seconds");
    expect(describeAmount(row("memory", { memory: 1 }, { memory_gib_seconds: 7200 }))).toBe("2 GiB-hours");
    expect(describeAmount(row("exec", { exec: 1 }, { exec_seconds: 1.5 }))).toBe("1.5 exec-seconds");
    expect(describeAmount(row("other", {}))).toBe("—");
  });

  it("sorts rows by cost, the largest first", () =>
    expect(byCost([row("a", { cpu: 1 }), row("b", { cpu: 3 }), row("c", { cpu: 1 })]).map((r: { key: string }) => r.key)).toEqual([
      "b",
      "a",
      "c",
    ]));
});

describe("rates", () => {
  it("lists CPU, memory, each GPU model, other GPUs, storage and execs", () => {
    const lines = rates({
      currency: "USD",
      cpu_core_second: 0.000014,
      memory_gib_second: 0.0000045,
      gpu_second: { H100: 0.0011, A10G: 0.0003 },
      gpu_default_second: 0.0006,
      storage_gib_second: 0.00000004,
      exec_second: 0.000016,
    });
    expect(lines.map((l) => l.label)).toEqual([
      "CPU",
      "Memory",
      "GPU A10G",
      "GPU H100",
      "GPU, other models",
      "Storage (paused sandboxes' snapshots)",
      "Execs",
    ]);
    expect(lines[3]).toEqual({ label: "GPU H100", unit: "card", perSecond: 0.0011 });
  });
});

describe("the budget", () => {
  it("is a share of the limit, at most whole", () => {
    expect(budgetShare({ monthly_limit_usd: 10, spent_usd: 2.5 })).toBe(0.25);
    expect(budgetShare({ monthly_limit_usd: 10, spent_usd: 12 })).toBe(1);
    expect(budgetShare({ monthly_limit_usd: 0, spent_usd: 0 })).toBe(1);
    expect(budgetShare({ monthly_limit_usd: null, spent_usd: 3 })).toBeNull();
  });

  it("says what its state means", () => {
    expect(describeBudgetState("exceeded")).toMatch(/^Exceeded: new work is refused/);
    expect(describeBudgetState("warning")).toMatch(/^Warning: 80 %/);
    expect(describeBudgetState("ok")).toBe("Within the limit");
  });

  it("reads a typed limit: empty is none, else USD", () => {
    expect(parseLimit("")).toBeNull();
    expect(parseLimit("  ")).toBeNull();
    expect(parseLimit("50")).toBe(50);
    expect(parseLimit("$1,250.5")).toBe(1250.5);
    expect(parseLimit(".5")).toBe(0.5);
    expect(parseLimit("0.000001")).toBe(0.000001);
    expect(parseLimit("-3")).toBeUndefined();
    expect(parseLimit("ten")).toBeUndefined();
    expect(parseLimit("1e3")).toBeUndefined();
  });
});
