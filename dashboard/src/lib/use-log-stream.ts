import { useEffect, useRef, useState } from "react";

import { sessionFetch } from "@/api/client";
import { describeError, toApiError } from "@/api/problem";

import { appendLog, readLogEvent, SseParser, type LogChunk } from "./sse";

export interface LogStream {
  log: LogChunk[];
  /** Characters dropped from the start past the panel's cap. */
  dropped: number;
  /** Whether the server dropped output before it was read (a `dropped` event). */
  lost: boolean;
  /** Whether the stream is open (more may come). */
  following: boolean;
  /** The last event's object (`end` or `status`), once the stream ended. */
  end: unknown;
  error: string | null;
}

const START: LogStream = { log: [], dropped: 0, lost: false, following: true, end: undefined, error: null };
/** A dropped connection is retried (resuming after the last event) this many times. */
const RETRIES = 5;
const RETRY_MS = 2_000;

/**
 * Follows one of the API's log streams (`path`, null for none) with the session's headers:
 * EventSource cannot send `X-Sbx-Project`, so this reads a fetch body. A dropped connection
 * resumes with `Last-Event-ID`; the stream stops at its last event, or when `path` changes.
 */
export function useLogStream(path: string | null, onEnd?: (data: unknown) => void): LogStream {
  const [state, setState] = useState<LogStream>(START);
  const onEndRef = useRef(onEnd);
  useEffect(() => {
    onEndRef.current = onEnd;
  });

  useEffect(() => {
    if (!path) return;
    const abort = new AbortController();
    let lastId: string | null = null;
    setState(START);

    const read = async (): Promise<"ended" | "dropped"> => {
      const headers: Record<string, string> = { Accept: "text/event-stream" };
      if (lastId) headers["Last-Event-ID"] = lastId;
      const response = await sessionFetch(path, { headers, signal: abort.signal });
      if (response.status === 204) return "ended";
      if (!response.ok || !response.body) {
        const body: unknown = await response.json().catch(() => undefined);
        throw toApiError(body, response);
      }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new SseParser();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return "dropped";
        let end: { data: unknown } | null = null;
        let lost = false;
        const chunks: { stream: LogChunk["stream"]; text: string }[] = [];
        for (const e of parser.push(value)) {
          if (e.id) lastId = e.id;
          const event = readLogEvent(e);
          if (event.kind === "chunk") chunks.push(event);
          else if (event.kind === "end") end = { data: event.data };
          else if (event.kind === "dropped") lost = true;
        }
        // One state update per read: a flood of chunks renders once per network read.
        if (chunks.length > 0 || end || lost) {
          setState((s) => {
            let { log, dropped } = s;
            for (const c of chunks) {
              const next = appendLog(log, c.stream, c.text);
              log = next.log;
              dropped += next.dropped;
            }
            const updated = { ...s, log, dropped, lost: s.lost || lost };
            return end ? { ...updated, following: false, end: end.data } : updated;
          });
        }
        if (end) {
          await reader.cancel().catch(() => undefined);
          onEndRef.current?.(end.data);
          return "ended";
        }
      }
    };

    (async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          const how = await read();
          if (how === "ended") {
            setState((s) => ({ ...s, following: false }));
            return;
          }
        } catch (e) {
          if (abort.signal.aborted) return;
          // A problem the server answered will be answered again: say so and stop.
          if (!(e instanceof TypeError) || attempt >= RETRIES) {
            setState((s) => ({ ...s, following: false, error: describeError(e) }));
            return;
          }
        }
        if (abort.signal.aborted || attempt >= RETRIES) {
          setState((s) => ({ ...s, following: false }));
          return;
        }
        await new Promise((r) => setTimeout(r, RETRY_MS));
        if (abort.signal.aborted) return;
      }
    })();
    return () => abort.abort();
  }, [path]);

  return path ? state : { ...START, following: false };
}
