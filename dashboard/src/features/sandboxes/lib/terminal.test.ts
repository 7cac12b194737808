import { describe, expect, it } from "vitest";

import type { ProcessInfo } from "./processes";
import {
  clampSize,
  exitSentence,
  inputFrames,
  isTerminal,
  MAX_INPUT_FRAME,
  parseServerMessage,
  ptyUrl,
  resizeMessage,
  runningTerminals,
} from "./terminal";

const proc = (pid: number, patch: Partial<ProcessInfo> = {}): ProcessInfo =>
  ({
    pid,
    tag: null,
    command: ["bash"],
    cwd: "/workspace",
    stdin: true,
    state: "running",
    exit_code: null,
    timed_out: false,
    started_at: "2026-01-01T00:00:00Z",
    ended_at: null,
    ...patch,
  }) as ProcessInfo;

describe("ptyUrl", () => {
  it("is on the page's origin, ws or wss as the page is", () => {
    expect(ptyUrl({ protocol: "http:", host: "127.0.0.1:8080" }, "sbx_1", { cols: 120, rows: 30 })).toBe(
      "ws://127.0.0.1:8080/v1/sandboxes/sbx_1/pty?cols=120&rows=30",
    );
    expect(ptyUrl({ protocol: "https:", host: "sbx.example" }, "sbx_1", { cols: 80, rows: 24 })).toBe(
      "wss://sbx.example/v1/sandboxes/sbx_1/pty?cols=80&rows=24",
    );
  });

  it("reattaches with pid, and keeps the size within what the server takes", () => {
    expect(ptyUrl({ protocol: "http:", host: "h" }, "a/b", { cols: 0, rows: 5000 }, { pid: 7 })).toBe(
      "ws://h/v1/sandboxes/a%2Fb/pty?cols=1&rows=1000&pid=7",
    );
  });

  it("names the project, which a WebSocket cannot send as a header", () => {
    expect(ptyUrl({ protocol: "http:", host: "h" }, "s", { cols: 80, rows: 24 }, { project: "prj_1" })).toBe(
      "ws://h/v1/sandboxes/s/pty?cols=80&rows=24&project=prj_1",
    );
    expect(ptyUrl({ protocol: "http:", host: "h" }, "s", { cols: 80, rows: 24 }, { pid: 2, project: "prj_1" })).toBe(
      "ws://h/v1/sandboxes/s/pty?cols=80&rows=24&pid=2&project=prj_1",
    );
  });
});

describe("clampSize", () => {
  it("rounds, clamps to 1..1000, and falls back to 80×24 for what is not a number", () => {
    expect(clampSize({ cols: 99.6, rows: -3 })).toEqual({ cols: 100, rows: 1 });
    expect(clampSize({ cols: Number.NaN, rows: Number.POSITIVE_INFINITY })).toEqual({ cols: 80, rows: 24 });
  });
});

describe("parseServerMessage", () => {
  it("reads ready, exit (with a code or none) and error", () => {
    expect(parseServerMessage('{"type":"ready","pid":3}')).toEqual({ type: "ready", pid: 3 });
    expect(parseServerMessage('{"type":"exit","exit_code":0}')).toEqual({ type: "exit", exitCode: 0 });
    expect(parseServerMessage('{"type":"exit","exit_code":null}')).toEqual({ type: "exit", exitCode: null });
    expect(parseServerMessage('{"type":"exit"}')).toEqual({ type: "exit", exitCode: null });
    expect(parseServerMessage('{"type":"error","detail":"bad resize"}')).toEqual({ type: "error", detail: "bad resize" });
    expect(parseServerMessage('{"type":"error"}')).toEqual({ type: "error", detail: "The terminal reported an error." });
  });

  it("ignores what it does not know", () => {
    for (const text of ["", "nope", "[]", "null", '{"type":"ready"}', '{"type":"ready","pid":"3"}', '{"type":"hello"}'])
      expect(parseServerMessage(text)).toBeNull();
  });
});

describe("resizeMessage", () => {
  it("is the resize control message, clamped", () => {
    expect(JSON.parse(resizeMessage({ cols: 132, rows: 43 }))).toEqual({ type: "resize", cols: 132, rows: 43 });
    expect(JSON.parse(resizeMessage({ cols: 2000, rows: 0 }))).toEqual({ type: "resize", cols: 1000, rows: 1 });
  });
});

describe("inputFrames", () => {
  it("keeps small input whole and sends nothing for none", () => {
    const bytes = new TextEncoder().encode("ls\r");
    expect(inputFrames(bytes)).toEqual([bytes]);
    expect(inputFrames(new Uint8Array())).toEqual([]);
  });

  it("cuts a long paste into frames of at most 64 KiB, in order", () => {
    const bytes = new Uint8Array(MAX_INPUT_FRAME * 2 + 5).map((_, i) => i % 251);
    const frames = inputFrames(bytes);
    expect(frames.map((f) => f.length)).toEqual([MAX_INPUT_FRAME, MAX_INPUT_FRAME, 5]);
    const joined = new Uint8Array(bytes.length);
    let at = 0;
    for (const f of frames) {
      joined.set(f, at);
      at += f.length;
    }
    // Compared byte by byte: a deep equality of 128 KiB is slow.
    expect(joined.every((b, i) => b === bytes[i])).toBe(true);
  });
});

describe("runningTerminals", () => {
  it("lists the running terminals, newest first, less the one shown", () => {
    const list = [
      proc(1, { tty: true }),
      proc(2, { tty: true, state: "exited", exit_code: 0 }),
      proc(3),
      proc(4, { tty: false }),
      proc(5, { tty: true }),
      proc(6, { tty: true }),
    ];
    expect(runningTerminals(list).map((p) => p.pid)).toEqual([6, 5, 1]);
    expect(runningTerminals(list, 5).map((p) => p.pid)).toEqual([6, 1]);
    expect(isTerminal(proc(3))).toBe(false);
  });
});

describe("exitSentence", () => {
  it("names the terminal and its code", () => {
    expect(exitSentence(3, 0)).toBe("Terminal 3 exited with code 0.");
    expect(exitSentence(3, 130)).toBe("Terminal 3 exited with code 130.");
    expect(exitSentence(3, null)).toBe("Terminal 3 ended.");
    expect(exitSentence(null, 1)).toBe("The terminal exited with code 1.");
  });
});
