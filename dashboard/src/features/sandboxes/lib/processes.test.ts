import { describe, expect, it } from "vitest";

import {
  describeExit,
  fieldOfProblem,
  formatCommand,
  initialStartForm,
  parseEnvLines,
  PROCESS_POLL_MS,
  processesRefetchInterval,
  processUrl,
  shellQuote,
  sortProcesses,
  toStartRequest,
  type ProcessInfo,
  type StartForm,
} from "./processes";

const form = (patch: Partial<StartForm>): StartForm => ({ ...initialStartForm(), ...patch });

const proc = (pid: number, patch: Partial<ProcessInfo> = {}): ProcessInfo => ({
  pid,
  tag: null,
  command: ["sh", "-c", "true"],
  cwd: "/workspace",
  stdin: false,
  state: "running",
  exit_code: null,
  timed_out: false,
  started_at: "2026-01-01T00:00:00Z",
  ended_at: null,
  ...patch,
});

describe("environment lines", () => {
  it("reads NAME=VALUE lines, skipping blank ones, the value kept as written", () => {
    expect(parseEnvLines("A=1\n\n  B = two words \r\nURL=http://x/?a=b\nEMPTY=")).toEqual({
      env: { A: "1", B: " two words ", URL: "http://x/?a=b", EMPTY: "" },
    });
    expect(parseEnvLines("")).toEqual({ env: {} });
  });
  it("names the line at fault", () => {
    expect(parseEnvLines("A=1\nnot a pair")).toEqual({ error: "Line 2: write NAME=VALUE (no “=” in “not a pair”)." });
    expect(parseEnvLines("=1")).toEqual({ error: "Line 1: the variable needs a name before “=”." });
    expect(parseEnvLines("A=1\nB=2\nA=3")).toEqual({ error: "Line 3: A is set twice." });
  });
  it("takes names an object has by inheritance", () => {
    expect(parseEnvLines("constructor=1\ntoString=2")).toEqual({ env: { constructor: "1", toString: "2" } });
  });
});

describe("the start request", () => {
  it("runs the line with sh -c and sends only what was given", () => {
    expect(toStartRequest(form({ command: "echo hi && sleep 1" }))).toEqual({
      body: { command: ["sh", "-c", "echo hi && sleep 1"] },
    });
  });
  it("carries tag, cwd, timeout (seconds to ms), stdin and env", () => {
    expect(
      toStartRequest(
        form({ command: "cat", tag: "web", cwd: " /outputs ", timeout: "1.5", stdin: true, env: "A=1\nB=2" }),
      ),
    ).toEqual({
      body: {
        command: ["sh", "-c", "cat"],
        tag: "web",
        cwd: "/outputs",
        timeout_ms: 1500,
        stdin: true,
        env: { A: "1", B: "2" },
      },
    });
  });
  it("leaves a tag as typed, for the server to judge", () => {
    expect(toStartRequest(form({ command: "true", tag: "a b" }))).toEqual({
      body: { command: ["sh", "-c", "true"], tag: "a b" },
    });
  });
  it("refuses what the browser can tell is wrong, per field", () => {
    expect(toStartRequest(form({ command: "  ", timeout: "abc", env: "oops" }))).toEqual({
      errors: {
        command: "Enter a shell line to run.",
        timeout: "Give a number of seconds above 0, at most 604,800 (7 days).",
        env: "Line 1: write NAME=VALUE (no “=” in “oops”).",
      },
    });
    for (const timeout of ["0", "-1", "604801", "Infinity"]) {
      expect(toStartRequest(form({ command: "x", timeout }))).toHaveProperty("errors.timeout");
    }
    expect(toStartRequest(form({ command: "x", timeout: "604800" }))).toEqual({
      body: { command: ["sh", "-c", "x"], timeout_ms: 604_800_000 },
    });
    // A tiny timeout is still at least 1 ms.
    expect(toStartRequest(form({ command: "x", timeout: "0.0001" }))).toHaveProperty("body.timeout_ms", 1);
  });
});

describe("problems' fields", () => {
  it.each([
    ["command", "command"],
    ["command[0]", "command"],
    ["tag", "tag"],
    ["cwd", "cwd"],
    ["timeout_ms", "timeout"],
    ["env", "env"],
    ["env.A", "env"],
  ])("%s is the form's %s", (field, expected) => expect(fieldOfProblem(field)).toBe(expected));
  it("has no field for others", () => {
    expect(fieldOfProblem(null)).toBeNull();
    expect(fieldOfProblem("body")).toBeNull();
    expect(fieldOfProblem("stdin")).toBeNull();
  });
});

describe("commands as shell lines", () => {
  it("quotes what a shell would split or expand", () => {
    expect(shellQuote("python3")).toBe("python3");
    expect(shellQuote("/a/b.py")).toBe("/a/b.py");
    expect(shellQuote("")).toBe("''");
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote("$HOME")).toBe("'$HOME'");
  });
  it("joins an argv", () =>
    expect(formatCommand(["sh", "-c", "for i in 1 2; do echo $i; done"])).toBe("sh -c 'for i in 1 2; do echo $i; done'"));
});

describe("exits", () => {
  it("reads the code, the signal that caused it and a timeout", () => {
    expect(describeExit(proc(1))).toBe("—");
    expect(describeExit(proc(1, { state: "exited", exit_code: 0 }))).toBe("0");
    expect(describeExit(proc(1, { state: "exited", exit_code: 3 }))).toBe("3");
    expect(describeExit(proc(1, { state: "exited", exit_code: 143 }))).toBe("143 (TERM)");
    expect(describeExit(proc(1, { state: "exited", exit_code: 137, timed_out: true }))).toBe("137 (KILL, timed out)");
    expect(describeExit(proc(1, { state: "exited", exit_code: 200 }))).toBe("200");
    expect(describeExit(proc(1, { state: "exited", exit_code: null }))).toBe("—");
  });
});

describe("the list", () => {
  it("is newest first", () => expect(sortProcesses([proc(1), proc(3), proc(2)]).map((p) => p.pid)).toEqual([3, 2, 1]));
  it("polls while any process runs, and stops when none does", () => {
    expect(processesRefetchInterval(undefined)).toBe(false);
    expect(processesRefetchInterval({ processes: [] })).toBe(false);
    expect(processesRefetchInterval({ processes: [{ state: "exited" }, { state: "running" }] })).toBe(PROCESS_POLL_MS);
    expect(processesRefetchInterval({ processes: [{ state: "exited" }] })).toBe(false);
  });
  it("has its URLs", () => {
    expect(processUrl("sbx 1")).toBe("/v1/sandboxes/sbx%201/processes");
    expect(processUrl("s", 4, "/logs")).toBe("/v1/sandboxes/s/processes/4/logs");
  });
});
