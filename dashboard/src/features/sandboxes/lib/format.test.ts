import { describe, expect, it } from "vitest";

import { formatBytes, formatDuration, formatGpu, shortId } from "./format";
import { fractionAllowed, sameModel } from "./gpu-types";
import { POLL_INTERVAL_MS, sandboxesRefetchInterval } from "./polling";

describe("formatGpu", () => {
  it.each([
    [{ type: "H100 80GB", count: 1, fraction: 0.5 }, "H100 80GB × 1 @ 50 %"],
    [{ type: "A10 24GB", count: 2, fraction: 1 }, "A10 24GB × 2 @ 100 %"],
    [{ type: "T4 16GB" }, "T4 16GB × 1 @ 100 %"],
    [null, "—"],
    [undefined, "—"],
    [{}, "—"],
  ])("%j reads %s", (gpu, text) => expect(formatGpu(gpu)).toBe(text));
});

describe("figures", () => {
  it("formats bytes", () => {
    expect(formatBytes(512 * 1024 ** 2)).toBe("512 MiB");
    expect(formatBytes(2 * 1024 ** 3)).toBe("2 GiB");
    expect(formatBytes(1.5 * 1024 ** 3)).toBe("1.5 GiB");
  });
  it("formats durations by their two largest units", () => {
    expect(formatDuration(45)).toBe("45 s");
    expect(formatDuration(200)).toBe("3 min 20 s");
    expect(formatDuration(3600)).toBe("1 h");
    expect(formatDuration(7500)).toBe("2 h 5 min");
    expect(formatDuration(-3)).toBe("0 s");
  });
  it("shortens ids to their random end", () =>
    expect(shortId("01a22c19-0287-7706-b6fe-3c2909de8ad4")).toBe("09de8ad4"));
});

describe("GPU types", () => {
  it("compares models as the server does", () => expect(sameModel(" h100  80gb", "H100 80GB")).toBe(true));
  it("allows shares only of one card", () => {
    expect(fractionAllowed(0.5, 1)).toBe(true);
    expect(fractionAllowed(0.5, 2)).toBe(false);
    expect(fractionAllowed(1, 4)).toBe(true);
  });
});

describe("the list's polling", () => {
  const page = (...states: string[]) => ({ data: states.map((state) => ({ state })) }) as never;
  it.each(["pending", "running", "paused"])("polls every 10 s while one is %s", (s) =>
    expect(sandboxesRefetchInterval(page("terminated", s))).toBe(POLL_INTERVAL_MS),
  );
  it("stops when every one has ended", () => expect(sandboxesRefetchInterval(page("terminated", "failed"))).toBe(false));
  it("does not poll an empty list or before the first answer", () => {
    expect(sandboxesRefetchInterval(page())).toBe(false);
    expect(sandboxesRefetchInterval(undefined)).toBe(false);
  });
});
