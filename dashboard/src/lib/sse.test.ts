import { describe, expect, it } from "vitest";

import { appendLog, readLogEvent, SseParser } from "./sse";

describe("SseParser", () => {
  it("reads events as the API writes them", () => {
    const p = new SseParser();
    expect(p.push('id: 1\nevent: stdout\ndata: "line 1\\n"\n\n')).toEqual([
      { id: "1", event: "stdout", data: '"line 1\\n"' },
    ]);
  });

  it("keeps what is split across chunks until the event is complete", () => {
    const p = new SseParser();
    const text = 'id: 2\nevent: stderr\ndata: "oops"\n\nid: end\nevent: end\ndata: {"state":"terminated"}\n\n';
    const events = [];
    for (const ch of text) events.push(...p.push(ch));
    expect(events).toEqual([
      { id: "2", event: "stderr", data: '"oops"' },
      { id: "end", event: "end", data: '{"state":"terminated"}' },
    ]);
  });

  it("follows the EventSource rules: CRLF, comments, multi-line data, no space after the colon", () => {
    const p = new SseParser();
    expect(p.push(": keep-alive\r\n\r\ndata:a\r\ndata: b\r")).toEqual([]);
    expect(p.push("\n\r\n")).toEqual([{ id: null, event: "message", data: "a\nb" }]);
    // An event without data is not dispatched; the id is remembered for the next.
    expect(p.push("id: 7\nevent: x\n\ndata: 1\n\n")).toEqual([{ id: "7", event: "message", data: "1" }]);
  });
});

describe("appendLog", () => {
  it("merges consecutive chunks of one stream and keeps the order of streams", () => {
    let log = appendLog([], "stdout", "a").log;
    log = appendLog(log, "stdout", "b").log;
    log = appendLog(log, "stderr", "c").log;
    log = appendLog(log, "stdout", "d").log;
    expect(log).toEqual([
      { stream: "stdout", text: "ab" },
      { stream: "stderr", text: "c" },
      { stream: "stdout", text: "d" },
    ]);
  });

  it("drops the oldest output past the cap", () => {
    let log = appendLog([], "stdout", "12345", 8).log;
    log = appendLog(log, "stderr", "678", 8).log;
    const r = appendLog(log, "stdout", "9ab", 8);
    expect(r.dropped).toBe(3);
    expect(r.log).toEqual([
      { stream: "stdout", text: "45" },
      { stream: "stderr", text: "678" },
      { stream: "stdout", text: "9ab" },
    ]);
    expect(appendLog(r.log, "stdout", "cdefgh", 8).log).toEqual([{ stream: "stdout", text: "9abcdefgh".slice(1) }]);
  });
});

describe("readLogEvent", () => {
  it("parses chunks as JSON strings and recognises the end", () => {
    expect(readLogEvent({ id: "1", event: "stdout", data: '"hi\\n"' })).toEqual({
      kind: "chunk",
      stream: "stdout",
      text: "hi\n",
    });
    expect(readLogEvent({ id: "end", event: "status", data: '{"status":"succeeded"}' })).toEqual({
      kind: "end",
      data: { status: "succeeded" },
    });
    expect(readLogEvent({ id: null, event: "message", data: "x" })).toEqual({ kind: "other" });
  });

  it("reads a process's `dropped` event", () => {
    expect(readLogEvent({ id: "2", event: "dropped", data: '{"first":3}' })).toEqual({ kind: "dropped", first: 3 });
    expect(readLogEvent({ id: "2", event: "dropped", data: "garbage" })).toEqual({ kind: "dropped", first: null });
  });
});
