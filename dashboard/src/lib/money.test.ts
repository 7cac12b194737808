import { describe, expect, it } from "vitest";

import { formatHourly, formatUsd } from "./money";

describe("formatUsd", () => {
  it.each([
    [0, "$0.00"],
    [1234.5, "$1,234.50"],
    [12.3456, "$12.35"],
    [1.5, "$1.50"],
    [0.5, "$0.50"],
    [0.123456, "$0.123"],
    [0.0504, "$0.0504"],
    [0.012, "$0.012"],
    [0.0000185, "$0.0000185"],
    [0.000014, "$0.000014"],
    [1.23456e-7, "$0.00000012"], // eight decimals at most
    [1e-9, "< $0.00000001"],
  ])("%s reads %s", (usd, text) => expect(formatUsd(usd)).toBe(text));

  it("says nothing of what is not a number", () => {
    expect(formatUsd(Number.NaN)).toBe("—");
    expect(formatUsd(Number.POSITIVE_INFINITY)).toBe("—");
  });
});

describe("formatHourly", () => {
  it("turns a rate per second into one per hour", () => {
    expect(formatHourly(0.000014, "core")).toBe("$0.0504 / core-hour");
    expect(formatHourly(0.0000045, "GiB")).toBe("$0.0162 / GiB-hour");
    expect(formatHourly(0.0011, "card")).toBe("$3.96 / card-hour");
  });
});
