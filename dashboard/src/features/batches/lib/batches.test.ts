import { describe, expect, it } from "vitest";

import {
  BATCH_POLL_MS,
  BATCHES_POLL_MS,
  batchesRefetchInterval,
  batchRefetchInterval,
  countsInOrder,
  describePassRate,
  filterByVerdict,
  formatMs,
  formatPercent,
  outputPreview,
} from "./batches";

describe("polling", () => {
  it("refetches a batch every 2 s while it runs or cancels, then stops", () => {
    expect(batchRefetchInterval({ status: "running" })).toBe(BATCH_POLL_MS);
    expect(batchRefetchInterval({ status: "cancelling" })).toBe(BATCH_POLL_MS);
    expect(batchRefetchInterval({ status: "finished" })).toBe(false);
    expect(batchRefetchInterval({ status: "cancelled" })).toBe(false);
    expect(batchRefetchInterval(undefined)).toBe(false);
  });

  it("refetches the list every 5 s while any listed batch can change", () => {
    expect(batchesRefetchInterval([{ data: [{ status: "finished" }] }, { data: [{ status: "cancelling" }] }])).toBe(
      BATCHES_POLL_MS,
    );
    expect(batchesRefetchInterval([{ data: [{ status: "finished" }, { status: "cancelled" }] }])).toBe(false);
    expect(batchesRefetchInterval(undefined)).toBe(false);
  });
});

describe("formatting", () => {
  it("gives pass rates as whole percentages with what they are of", () => {
    expect(formatPercent(1 / 3)).toBe("33 %");
    expect(formatPercent(2 / 3)).toBe("67 %");
    expect(formatPercent(1)).toBe("100 %");
    expect(formatPercent(null)).toBe("—");
    expect(describePassRate({ pass_rate: 1 / 3, passed: 1, ended: 3 })).toBe("33 % (1 of 3)");
    expect(describePassRate({ pass_rate: null, passed: 0, ended: 0 })).toBe("—");
  });

  it("orders counts by verdict, then other keys by name, without zeros", () => {
    expect(countsInOrder({ failed: 1, running: 2, passed: 1, wrong_output: 1, queued: 3, timeout: 0 })).toEqual([
      ["passed", 1],
      ["wrong_output", 1],
      ["failed", 1],
      ["queued", 3],
      ["running", 2],
    ]);
    expect(countsInOrder({})).toEqual([]);
  });

  it("previews the first line of an output", () => {
    expect(outputPreview("1\n")).toBe("1");
    expect(outputPreview("\nfirst\nsecond\n")).toBe("first…");
    expect(outputPreview("x".repeat(70), 60)).toBe(`${"x".repeat(59)}…`);
    expect(outputPreview(undefined)).toBe("");
  });

  it("gives run times in ms, s or min", () => {
    expect(formatMs(12.4)).toBe("12 ms");
    expect(formatMs(1200)).toBe("1.2 s");
    expect(formatMs(3000)).toBe("3 s");
    expect(formatMs(125_000)).toBe("2 min 5 s");
    expect(formatMs(undefined)).toBe("—");
  });
});

describe("filterByVerdict", () => {
  it("keeps the items with the verdict, or all", () => {
    const items = [
      { id: "a", verdict: "passed" },
      { id: "b", verdict: "wrong_output" },
      { id: "c", verdict: null },
    ];
    expect(filterByVerdict(items, "wrong_output").map((i) => i.id)).toEqual(["b"]);
    expect(filterByVerdict(items, "").map((i) => i.id)).toEqual(["a", "b", "c"]);
  });
});
