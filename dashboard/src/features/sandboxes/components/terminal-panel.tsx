// A running container's terminal: Open terminal starts a shell in it, and the terminals still
// running (from the processes list, `tty: true`: left by a reload, another tab, a dropped
// connection) can be reattached to. The terminal itself (xterm.js) loads as a chunk of its own
// the first time one is opened.
import { lazy, Suspense, useEffect, useId, useRef, useState } from "react";

import { Time } from "@/components/time";

import { useProcesses } from "../api/processes";
import type { Sandbox } from "../api/sandboxes";
import { runningTerminals } from "../lib/terminal";

const TerminalView = lazy(() => import("./terminal-view").then((m) => ({ default: m.TerminalView })));

interface Shown {
  /** Tells two openings apart: each is a terminal of its own. */
  key: number;
  /** Reattached to; `null` for a new shell. */
  pid: number | null;
}

export function TerminalPanel({ sandbox }: { sandbox: Sandbox }) {
  const list = useProcesses(sandbox.id);
  const [shown, setShown] = useState<Shown | null>(null);
  const openRef = useRef<HTMLButtonElement>(null);
  const returnFocus = useRef(false);
  const hintId = useId();
  const listHeadingId = useId();

  const running = list.data ? runningTerminals(list.data.processes) : [];

  // Back from a terminal: the focus goes to Open terminal, not nowhere.
  useEffect(() => {
    if (!shown && returnFocus.current) openRef.current?.focus();
    returnFocus.current = false;
  }, [shown]);

  const open = (pid: number | null) => setShown((s) => ({ key: (s?.key ?? 0) + 1, pid }));

  if (shown) {
    return (
      <Suspense
        fallback={
          <p role="status" className="muted">
            Loading the terminal…
          </p>
        }
      >
        <TerminalView
          key={shown.key}
          sandboxId={sandbox.id}
          pid={shown.pid}
          onClose={() => {
            returnFocus.current = true;
            setShown(null);
          }}
        />
      </Suspense>
    );
  }

  return (
    <div className="terminal-start">
      <div className="files-toolbar">
        <button
          ref={openRef}
          type="button"
          className="button primary"
          onClick={() => open(null)}
          aria-describedby={hintId}
        >
          Open terminal
        </button>
      </div>
      <p id={hintId} className="hint files-hint">
        A shell (bash if the image has it, else sh) in /workspace. Leaving the page keeps it running: reattach to it
        here.
      </p>
      {running.length > 0 && (
        <section aria-labelledby={listHeadingId}>
          <h3 id={listHeadingId}>Running terminals</h3>
          <ul className="terminal-list">
            {running.map((p) => (
              <li key={p.pid} data-pid={p.pid}>
                <span>
                  Terminal {p.pid}
                  <span className="muted">
                    {" "}
                    · started <Time at={p.started_at} />
                  </span>
                </span>
                <button type="button" className="button small" onClick={() => open(p.pid)}>
                  Reattach to terminal {p.pid}
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}
