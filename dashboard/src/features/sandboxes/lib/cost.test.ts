import { describe, expect, it } from "vitest";

import { costById, costFrom, joinCosts } from "./cost";
import { isLive } from "./polling";

const now = Date.parse("2026-11-30T15:00:00Z");

describe("cost so far", () => {
  it("reports from the oldest listed sandbox's creation", () => {
    const sandboxes = [
      { created_at: "2026-11-30T14:00:00Z" },
      { created_at: "2026-11-02T09:30:00.123456Z" },
      { created_at: "2026-11-29T00:00:00Z" },
    ];
    expect(costFrom(sandboxes, now)).toBe("2026-11-02T09:30:00.123456Z");
  });

  it("reports at most the API's range back: midnight 365 days ago", () => {
    expect(costFrom([{ created_at: "2024-01-01T00:00:00Z" }], now)).toBe("2025-12-01T00:00:00.000Z");
    expect(costFrom([{ created_at: "2025-12-01T00:00:00Z" }], now)).toBe("2025-12-01T00:00:00Z");
  });

  it("asks nothing for no sandboxes", () => expect(costFrom([], now)).toBeNull());

  it("joins the report's rows by sandbox id", () => {
    const costs = costById({
      rows: [
        { key: "a", cost: 0.5 },
        { key: "execs", cost: 0.1 },
      ] as never,
    });
    expect(costs.get("a")).toBe(0.5);
    expect(costs.get("b")).toBeUndefined();
    expect(costById(undefined).size).toBe(0);
  });

  it("takes the live sandboxes' costs from the live report, the others' from the ended one", () => {
    const sandboxes = [
      { id: "run", state: "running" },
      { id: "new", state: "pending" },
      { id: "done", state: "terminated" },
    ];
    const ended = new Map([
      ["done", 0.3],
      ["run", 0.1],
    ]);
    const live = new Map([["run", 0.2]]);
    expect(joinCosts(sandboxes, isLive, ended, live)).toEqual(
      new Map([
        ["done", 0.3],
        ["run", 0.2],
        ["new", 0],
      ]),
    );
  });

  it("waits for every report it needs", () => {
    const running = [{ id: "a", state: "running" }];
    const done = [{ id: "b", state: "failed" }];
    expect(joinCosts(undefined, isLive, new Map(), new Map())).toBeUndefined();
    expect(joinCosts(running, isLive, undefined, undefined)).toBeUndefined();
    expect(joinCosts(running, isLive, undefined, new Map([["a", 1]]))).toEqual(new Map([["a", 1]]));
    expect(joinCosts(done, isLive, undefined, undefined)).toBeUndefined();
    expect(joinCosts(done, isLive, new Map([["b", 2]]), undefined)).toEqual(new Map([["b", 2]]));
  });
});
