// Server-Sent Events read from a fetch body, and the log the API's streams add up to: pure
// functions, unit-tested beside. The API's log streams (`GET /v1/sandboxes/{id}/logs`,
// `GET /v1/jobs/{id}/logs`, `GET /v1/sandboxes/{id}/processes/{pid}/logs`) send `stdout`/`stderr`
// events whose `data` is a chunk as a JSON string, then one last event (`end` or `status`) whose
// `data` is a JSON object; a process's may also say that the server dropped output before it
// was read (`dropped`, `{"first": n}`).

/** One event as the stream sent it (`data` not yet parsed). */
export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

/**
 * An incremental parser after the WHATWG EventSource rules: feed it text as it arrives (any
 * split, `\n`, `\r\n` or `\r` line ends), get back the events completed so far.
 */
export class SseParser {
  private buffer = "";
  private id: string | null = null;
  private event = "";
  private data: string[] = [];
  private sawData = false;

  push(text: string): SseEvent[] {
    this.buffer += text;
    const out: SseEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      if (!m) break;
      // A lone `\r` at the end may be the first half of `\r\n`: wait for the next chunk.
      if (m[0] === "\r" && m.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      const event = this.line(line);
      if (event) out.push(event);
    }
    return out;
  }

  private line(line: string): SseEvent | null {
    if (line === "") {
      if (!this.sawData) {
        this.event = "";
        return null;
      }
      const event = { id: this.id, event: this.event || "message", data: this.data.join("\n") };
      this.event = "";
      this.data = [];
      this.sawData = false;
      return event;
    }
    if (line.startsWith(":")) return null; // a comment (keep-alive)
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") {
      this.data.push(value);
      this.sawData = true;
    } else if (field === "event") {
      this.event = value;
    } else if (field === "id" && !value.includes("\0")) {
      this.id = value;
    }
    return null;
  }
}

/** Output a log holds: consecutive chunks of one stream merged. */
export interface LogChunk {
  stream: "stdout" | "stderr";
  text: string;
}

/** Most characters a log panel keeps; older output is dropped first. */
export const LOG_CAP_CHARS = 1_000_000;

/**
 * `log` with `text` of `stream` appended: merged into the last chunk when it is the same
 * stream (a flood of small chunks stays a few DOM nodes), the oldest output dropped past
 * `cap`. Returns the new log and how many characters were dropped.
 */
export function appendLog(
  log: readonly LogChunk[],
  stream: LogChunk["stream"],
  text: string,
  cap = LOG_CAP_CHARS,
): { log: LogChunk[]; dropped: number } {
  if (!text) return { log: [...log], dropped: 0 };
  const next = [...log];
  const last = next[next.length - 1];
  if (last && last.stream === stream) next[next.length - 1] = { stream, text: last.text + text };
  else next.push({ stream, text });
  let total = next.reduce((n, c) => n + c.text.length, 0);
  let dropped = 0;
  while (total > cap && next.length > 0) {
    const first = next[0]!;
    const over = total - cap;
    if (first.text.length <= over) {
      next.shift();
      dropped += first.text.length;
      total -= first.text.length;
    } else {
      next[0] = { stream: first.stream, text: first.text.slice(over) };
      dropped += over;
      total -= over;
    }
  }
  return { log: next, dropped };
}

/** What an event means to a log: a chunk, the end (with its object), or nothing we know. */
export type LogEvent =
  | { kind: "chunk"; stream: LogChunk["stream"]; text: string }
  | { kind: "end"; data: unknown }
  | { kind: "dropped"; first: number | null }
  | { kind: "other" };

/**
 * The API's log events: `stdout`/`stderr` carry a JSON string; `end`/`status` close it;
 * `dropped` says output before chunk `first` was lost on the server.
 */
export function readLogEvent(e: SseEvent): LogEvent {
  let data: unknown;
  try {
    data = JSON.parse(e.data);
  } catch {
    data = e.data;
  }
  if (e.event === "stdout" || e.event === "stderr") {
    return { kind: "chunk", stream: e.event, text: typeof data === "string" ? data : String(data) };
  }
  if (e.event === "end" || e.event === "status") return { kind: "end", data };
  if (e.event === "dropped") {
    const first = typeof data === "object" && data !== null ? (data as { first?: unknown }).first : undefined;
    return { kind: "dropped", first: typeof first === "number" ? first : null };
  }
  return { kind: "other" };
}
