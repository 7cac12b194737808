// A live log: stdout and stderr chunks in the order they came, monospace, kept scrolled to the
// end while the reader is at the end. Not announced as it grows (a flood would drown a screen
// reader); its state ("Following", "Ended") is.
import { useLayoutEffect, useRef } from "react";

import type { LogStream } from "@/lib/use-log-stream";

/** What the status line says in each state: a log's by default. */
export interface LogWords {
  following: string;
  ended: string;
  stopped: string;
}

const LOG_WORDS: LogWords = {
  following: "Following the log…",
  ended: "The log ended.",
  stopped: "The log stopped.",
};

export function LogPanel({
  label,
  stream,
  empty,
  words = LOG_WORDS,
}: {
  label: string;
  stream: LogStream;
  empty: string;
  words?: LogWords;
}) {
  const ref = useRef<HTMLPreElement>(null);
  const atEnd = useRef(true);

  useLayoutEffect(() => {
    const el = ref.current;
    if (el && atEnd.current) el.scrollTop = el.scrollHeight;
  }, [stream.log]);

  const hasOutput = stream.log.length > 0;
  return (
    <div className="log-panel">
      <p className="muted log-status" role="status">
        {stream.error
          ? ""
          : stream.following
            ? words.following
            : stream.end !== undefined
              ? words.ended
              : words.stopped}
        {stream.lost && " Some earlier output was dropped by the server before it was read."}
        {stream.dropped > 0 && ` The oldest ${stream.dropped.toLocaleString()} characters are not shown.`}
      </p>
      {stream.error && (
        <div role="alert" className="alert">
          {stream.error}
        </div>
      )}
      <pre
        ref={ref}
        className="log"
        role="log"
        aria-live="off"
        aria-label={label}
        tabIndex={0}
        onScroll={(e) => {
          const el = e.currentTarget;
          atEnd.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
      >
        {hasOutput
          ? stream.log.map((c, i) => (
              <span key={i} className={c.stream === "stderr" ? "stderr" : undefined} data-stream={c.stream}>
                {c.text}
              </span>
            ))
          : <span className="muted">{empty}</span>}
      </pre>
    </div>
  );
}
