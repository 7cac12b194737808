import { describe, expect, it } from "vitest";

import {
  checkPortList,
  declaredPorts,
  fieldOfDeclareProblem,
  formatPorts,
  listeningLabel,
  MAX_DECLARED_PORTS,
  parsePort,
  parsePortList,
  portIndexOfProblem,
  portListProblem,
  portsRefetchInterval,
  PORTS_POLL_MS,
  sortPorts,
  splitPorts,
  toDeclareRequest,
  toPortsSetting,
} from "./ports";

const range = (n: number, from = 8000) => Array.from({ length: n }, (_, i) => from + i);

describe("a port as typed", () => {
  it("is a whole number from 1 to 65535", () => {
    expect(parsePort("8000")).toBe(8000);
    expect(parsePort(" 1 ")).toBe(1);
    expect(parsePort("65535")).toBe(65535);
  });
  it("is nothing else", () => {
    for (const t of ["", " ", "0", "65536", "-1", "80.5", "1e3", "0x50", "http", "+80"]) expect(parsePort(t)).toBeNull();
  });
});

describe("the wizard's list of ports", () => {
  it("splits on commas, spaces and new lines, skipping empty entries", () => {
    expect(splitPorts(" 8000, 9000\n3000 ,,  4000 ")).toEqual(["8000", "9000", "3000", "4000"]);
    expect(splitPorts("  ")).toEqual([]);
  });
  it("takes an empty list (nothing is sent)", () => {
    expect(parsePortList("")).toEqual({ ports: [] });
    expect(parsePortList(" , \n")).toEqual({ ports: [] });
    expect(checkPortList("")).toBeNull();
    expect(toPortsSetting("  ")).toBeUndefined();
  });
  it("keeps the order typed", () => {
    expect(parsePortList("9000, 8000 1")).toEqual({ ports: [9000, 8000, 1] });
    expect(toPortsSetting("9000,8000")).toEqual([9000, 8000]);
    expect(checkPortList("8000 9000")).toBeNull();
  });
  it("refuses an entry that is not a port, naming it", () => {
    expect(checkPortList("8000, 0")).toBe("“0” is not a port: give whole numbers from 1 to 65,535.");
    expect(checkPortList("70000")).toBe("“70000” is not a port: give whole numbers from 1 to 65,535.");
    expect(checkPortList("8000; 9000")).toBe("“8000;” is not a port: give whole numbers from 1 to 65,535.");
    expect(checkPortList("http")).toMatch(/^“http” is not a port/);
    expect(toPortsSetting("8000 x")).toBeUndefined();
  });
  it("refuses a port listed twice", () => {
    expect(checkPortList("8000, 9000, 8000")).toBe("Port 8000 is listed twice: give each port once.");
    expect(checkPortList("8000 08000")).toBe("Port 8000 is listed twice: give each port once.");
  });
  it("takes 16 ports, not 17", () => {
    expect(MAX_DECLARED_PORTS).toBe(16);
    expect(parsePortList(range(16).join(" "))).toEqual({ ports: range(16) });
    expect(checkPortList(range(17).join(", "))).toBe("At most 16 ports: 17 are listed.");
  });
});

describe("the server's problem about the list", () => {
  it("names the entry at fault", () => {
    expect(portIndexOfProblem("ports[2]")).toBe(2);
    expect(portIndexOfProblem("ports")).toBeNull();
    expect(portIndexOfProblem("memory")).toBeNull();
    expect(portIndexOfProblem(null)).toBeNull();
    expect(portListProblem("ports[1]", "Not a port.", "8000,  9000")).toBe("Port 9000: Not a port.");
    expect(portListProblem("ports[5]", "Not a port.", "8000")).toBe("Not a port.");
    // The server's own detail names the port already: not twice.
    expect(portListProblem("ports[1]", "8000: this port is listed already", "9000 8000")).toBe(
      "8000: this port is listed already",
    );
    expect(portListProblem("ports", "Only containers have ports.", "8000")).toBe("Only containers have ports.");
  });
});

describe("declaring a port from the panel", () => {
  it("sends the port", () => {
    expect(toDeclareRequest(" 9000 ", [8000])).toEqual({ body: { port: 9000 } });
    expect(toDeclareRequest("8000", [8000])).toEqual({ body: { port: 8000 } });
  });
  it("asks for one, in range", () => {
    expect(toDeclareRequest(" ", [])).toEqual({ errors: { port: "Enter the port to declare." } });
    for (const t of ["0", "65536", "8.5", "abc"])
      expect(toDeclareRequest(t, [])).toEqual({ errors: { port: "Give a port from 1 to 65,535." } });
  });
  it("refuses a 17th, not one declared already", () => {
    const full = range(16);
    expect(toDeclareRequest("9999", full)).toEqual({
      errors: { port: "At most 16 ports can be declared, and this sandbox has 16." },
    });
    expect(toDeclareRequest("8000", full)).toEqual({ body: { port: 8000 } });
    expect(toDeclareRequest("9999", range(15))).toEqual({ body: { port: 9999 } });
  });
  it("maps the API's field to the form's", () => {
    expect(fieldOfDeclareProblem("port")).toBe("port");
    expect(fieldOfDeclareProblem("ports")).toBeNull();
    expect(fieldOfDeclareProblem(null)).toBeNull();
  });
});

describe("a sandbox's ports as shown", () => {
  it("lists the declared ones ascending, or None", () => {
    expect(declaredPorts({ ports: [9000, 8000] })).toEqual([8000, 9000]);
    expect(declaredPorts({})).toEqual([]);
    expect(declaredPorts({ ports: null })).toEqual([]);
    expect(formatPorts([8000, 9000])).toBe("8000, 9000");
    expect(formatPorts([])).toBe("None");
  });
  it("sorts the list of `GET …/ports` and says whether each listens", () => {
    const list = [
      { port: 9000, declared: false, listening: true },
      { port: 80, declared: true, listening: false },
    ];
    expect(sortPorts(list).map((p) => p.port)).toEqual([80, 9000]);
    expect(list[0]!.port).toBe(9000);
    expect(listeningLabel({ listening: true })).toBe("listening");
    expect(listeningLabel({ listening: false })).toBe("not listening");
  });
  it("is read again every few seconds while the sandbox runs, not otherwise", () => {
    expect(portsRefetchInterval({ state: "running" })).toBe(PORTS_POLL_MS);
    expect(PORTS_POLL_MS).toBeLessThanOrEqual(5_000);
    for (const state of ["pending", "paused", "terminated", "failed"]) expect(portsRefetchInterval({ state })).toBe(false);
  });
});
