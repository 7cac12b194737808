import { describe, expect, it } from "vitest";

import {
  allowIndexOfProblem,
  allowListProblem,
  checkAllowList,
  formatNetwork,
  hasNetworkChoice,
  lineOfEntry,
  NETWORK_CHOICES,
  networkOf,
  parseAllowList,
  parseNetworkSetting,
  toNetworkSetting,
  type NetworkSetting,
} from "./network";

describe("the allow list as typed", () => {
  it("is one entry a line, trimmed, blank lines skipped", () => {
    expect(parseAllowList("pypi.org\n  *.example.com  \n\n\t203.0.113.0/24\n")).toEqual([
      "pypi.org",
      "*.example.com",
      "203.0.113.0/24",
    ]);
    expect(parseAllowList("a.test\r\nb.test\rc.test")).toEqual(["a.test", "b.test", "c.test"]);
    expect(parseAllowList("")).toEqual([]);
    expect(parseAllowList(" \n \n")).toEqual([]);
  });
  it("keeps what the server is to judge as it is", () => {
    expect(parseAllowList("bad name!\nallowed.test")).toEqual(["bad name!", "allowed.test"]);
  });
  it("finds the line of an entry, counting the blank ones", () => {
    const text = "\nallowed.test\n\n  \nbad name!\n";
    expect(lineOfEntry(text, 0)).toBe(2);
    expect(lineOfEntry(text, 1)).toBe(5);
    expect(lineOfEntry(text, 2)).toBeNull();
    expect(lineOfEntry(text, -1)).toBeNull();
    expect(lineOfEntry("a\r\n\r\nb", 1)).toBe(3);
  });
});

describe("the request's network", () => {
  it("sends nothing for none, the API's default", () => {
    expect(toNetworkSetting("none", "pypi.org")).toBeUndefined();
  });
  it("is true for full", () => {
    expect(toNetworkSetting("full", "pypi.org")).toBe(true);
  });
  it("is the entries for an allow list", () => {
    expect(toNetworkSetting("allow", " pypi.org \n\n*.example.com\n")).toEqual({ allow: ["pypi.org", "*.example.com"] });
  });
  it("needs an entry in an allow list, and nothing else here", () => {
    expect(checkAllowList("allow", " \n\n")).toMatch(/at least one/);
    expect(checkAllowList("allow", "bad name!")).toBeNull();
    expect(checkAllowList("none", "")).toBeNull();
    expect(checkAllowList("full", "")).toBeNull();
  });
  it("is offered for containers, not a code-interpreter", () => {
    expect(hasNetworkChoice("python")).toBe(true);
    expect(hasNetworkChoice("ghcr.io/org/image:tag")).toBe(true);
    expect(hasNetworkChoice("code-interpreter")).toBe(false);
    expect(hasNetworkChoice(" code-interpreter ")).toBe(false);
  });
  it("offers none first, the default", () => {
    expect(NETWORK_CHOICES.map((c) => c.value)).toEqual(["none", "full", "allow"]);
  });
});

describe("a problem about an entry", () => {
  it("names the entry's index", () => {
    expect(allowIndexOfProblem("network.allow[2]")).toBe(2);
    expect(allowIndexOfProblem("network.allow[0]")).toBe(0);
    expect(allowIndexOfProblem("network.allow")).toBeNull();
    expect(allowIndexOfProblem("network")).toBeNull();
    expect(allowIndexOfProblem("env[1]")).toBeNull();
    expect(allowIndexOfProblem(null)).toBeNull();
  });
  it("is shown with the line at fault", () => {
    const text = "allowed.test\n\nbad name!";
    expect(allowListProblem("network.allow[1]", "`bad name!` is not a host name.", text)).toBe(
      "Line 3: `bad name!` is not a host name.",
    );
  });
  it("is shown as it is when no line can be named", () => {
    expect(allowListProblem("network.allow", "At most 64 entries.", "a")).toBe("At most 64 entries.");
    expect(allowListProblem("network.allow[5]", "Bad entry.", "a\nb")).toBe("Bad entry.");
  });
});

describe("a sandbox's network", () => {
  it("reads the three forms the API gives", () => {
    expect(parseNetworkSetting(false)).toBe(false);
    expect(parseNetworkSetting(true)).toBe(true);
    expect(parseNetworkSetting({ allow: ["pypi.org", "203.0.113.0/24"] })).toEqual({ allow: ["pypi.org", "203.0.113.0/24"] });
  });
  it("is not known when absent or not understood", () => {
    for (const v of [undefined, null, "true", 1, {}, { allow: "pypi.org" }]) expect(parseNetworkSetting(v)).toBeNull();
  });
  it("is read from the sandbox, when it has one", () => {
    expect(networkOf({ id: "x", network: { allow: ["allowed.test"] } })).toEqual({ allow: ["allowed.test"] });
    expect(networkOf({ id: "x", network: false })).toBe(false);
    expect(networkOf({ id: "x" })).toBeNull();
  });
  it.each<[NetworkSetting | null, string]>([
    [false, "None"],
    [true, "Full"],
    [{ allow: ["allowed.test"] }, "Allowed: allowed.test"],
    [{ allow: ["pypi.org", "*.example.com", "203.0.113.0/24"] }, "Allowed: pypi.org, *.example.com, 203.0.113.0/24"],
    [null, "—"],
  ])("%j reads %s", (network, text) => expect(formatNetwork(network)).toBe(text));
});
