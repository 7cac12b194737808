// One terminal of a running container (xterm.js, loaded with this chunk: it is large): a shell
// the server starts on `GET /v1/sandboxes/{id}/pty` (a WebSocket on the page's origin, the
// session cookie, `?project=` for the header it cannot send), or one reattached to with `?pid=N`, whose kept output the server replays
// first (so the screen is reset before). Output comes as binary frames, keystrokes go as binary
// frames, the size (fitted to the box, followed with a ResizeObserver) as `resize` text
// frames. Its exit offers a new terminal; a dropped connection, a reconnect to the same shell.
// A refusal before the upgrade is not readable from a browser WebSocket: only "could not connect".
import "@xterm/xterm/css/xterm.css";

import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import { useEffect, useId, useRef, useState } from "react";

import { useCurrentProject } from "@/features/auth/components/current-project";

import { useInvalidateProcesses } from "../api/processes";
import {
  clampSize,
  exitSentence,
  inputFrames,
  parseServerMessage,
  ptyUrl,
  resizeMessage,
  type TerminalSize,
} from "../lib/terminal";

/** Where the connection is. */
type Phase =
  | { kind: "connecting"; pid: number | null }
  | { kind: "open"; pid: number | null }
  | { kind: "exited"; pid: number | null; exitCode: number | null }
  | { kind: "disconnected"; pid: number | null }
  | { kind: "failed"; pid: number | null };

/** One connection: a new shell (`pid` null) or a reattach; `n` tells two apart. */
interface Attempt {
  n: number;
  pid: number | null;
}

const MONOSPACE = 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace';

function statusOf(phase: Phase): string {
  switch (phase.kind) {
    case "connecting":
      return phase.pid === null ? "Starting a terminal…" : `Reattaching to terminal ${phase.pid}…`;
    case "open":
      return phase.pid === null ? "Connected." : `Connected to terminal ${phase.pid}.`;
    case "exited":
      return exitSentence(phase.pid, phase.exitCode);
    case "disconnected":
      return phase.pid === null
        ? "Disconnected."
        : `Disconnected from terminal ${phase.pid}. Its shell keeps running: reconnect to it.`;
    case "failed":
      return "Could not connect.";
  }
}

export function TerminalView({
  sandboxId,
  pid: initialPid,
  onClose,
}: {
  sandboxId: string;
  /** A running terminal to reattach to; `null` for a new shell. */
  pid: number | null;
  onClose: () => void;
}) {
  const invalidate = useInvalidateProcesses(sandboxId);
  const invalidateRef = useRef(invalidate);
  // The project the page shows, read when a connection opens (a change does not reconnect).
  const { project } = useCurrentProject();
  const projectRef = useRef(project?.id ?? null);
  useEffect(() => {
    invalidateRef.current = invalidate;
    projectRef.current = project?.id ?? null;
  });

  const screenRef = useRef<HTMLDivElement>(null);
  const termRef = useRef<Terminal | null>(null);
  const socketRef = useRef<WebSocket | null>(null);
  const actionsRef = useRef<HTMLDivElement>(null);
  const hintId = useId();

  const [attempt, setAttempt] = useState<Attempt>({ n: 0, pid: initialPid });
  const [phase, setPhase] = useState<Phase>({ kind: "connecting", pid: initialPid });
  const [serverError, setServerError] = useState<string | null>(null);
  const [screenReader, setScreenReader] = useState(false);

  // The terminal itself, once: its box fitted, input sent to whichever connection is open.
  useEffect(() => {
    const box = screenRef.current;
    if (!box) return;
    const term = new Terminal({
      cursorBlink: false,
      fontFamily: MONOSPACE,
      fontSize: 14,
      scrollback: 5000,
      disableStdin: true,
      theme: { background: "#11151c", foreground: "#e6e9ef", cursor: "#f0a500" },
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(box);
    term.textarea?.setAttribute("aria-label", "Terminal");
    term.textarea?.setAttribute("aria-describedby", hintId);
    const refit = () => {
      try {
        fit.fit();
      } catch {
        // Not laid out (hidden): the next resize fits it.
      }
    };
    refit();

    const encoder = new TextEncoder();
    const send = (bytes: Uint8Array) => {
      const ws = socketRef.current;
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      for (const frame of inputFrames(bytes)) ws.send(frame);
    };
    const data = term.onData((d) => send(encoder.encode(d)));
    // Some mouse reports are bytes, not text.
    const binary = term.onBinary((d) => send(Uint8Array.from(d, (c) => c.charCodeAt(0) & 0xff)));
    const resized = term.onResize((size) => {
      const ws = socketRef.current;
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(resizeMessage(size));
    });

    // Tab belongs to the shell; Escape then Tab (or Shift+Tab) leaves the terminal, as in
    // code editors. Escape itself still goes to the shell.
    let escaped = false;
    term.attachCustomKeyEventHandler((e) => {
      if (e.type !== "keydown" || ["Shift", "Control", "Alt", "Meta"].includes(e.key)) return true;
      if (e.key === "Tab" && escaped && !e.ctrlKey && !e.altKey && !e.metaKey) {
        escaped = false;
        return false;
      }
      escaped = e.key === "Escape";
      return true;
    });

    let frame = 0;
    const observer = new ResizeObserver(() => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(refit);
    });
    observer.observe(box);
    termRef.current = term;
    return () => {
      observer.disconnect();
      cancelAnimationFrame(frame);
      data.dispose();
      binary.dispose();
      resized.dispose();
      termRef.current = null;
      term.dispose();
    };
  }, [hintId]);

  // One connection per attempt. Deferred a tick: a mount undone at once (React's strict mode)
  // must not start a shell that nobody attaches to.
  useEffect(() => {
    const term = termRef.current;
    if (!term) return;
    let ws: WebSocket | null = null;
    let ours = false;
    let opened = false;
    let exited = false;
    let pid = attempt.pid;
    let sent: TerminalSize | null = null;

    const timer = window.setTimeout(() => {
      // A reattach replays what was kept; a new shell starts on a clean screen.
      if (attempt.n > 0 || attempt.pid !== null) term.reset();
      sent = clampSize({ cols: term.cols, rows: term.rows });
      ws = new WebSocket(
        ptyUrl(window.location, sandboxId, sent, { pid: attempt.pid, project: projectRef.current }),
      );
      ws.binaryType = "arraybuffer";
      socketRef.current = ws;
      const socket = ws;

      socket.onopen = () => {
        opened = true;
        term.options.disableStdin = false;
        setPhase({ kind: "open", pid });
        // Fitted again while it connected: tell the server the size it has now.
        const now = clampSize({ cols: term.cols, rows: term.rows });
        if (sent && (now.cols !== sent.cols || now.rows !== sent.rows)) socket.send(resizeMessage(now));
        term.focus();
      };
      socket.onmessage = (e: MessageEvent<ArrayBuffer | string>) => {
        if (typeof e.data !== "string") {
          term.write(new Uint8Array(e.data));
          return;
        }
        const m = parseServerMessage(e.data);
        if (!m) return;
        if (m.type === "ready") {
          pid = m.pid;
          setPhase({ kind: "open", pid });
          void invalidateRef.current();
        } else if (m.type === "exit") {
          exited = true;
          term.options.disableStdin = true;
          setPhase({ kind: "exited", pid, exitCode: m.exitCode });
          void invalidateRef.current();
        } else {
          setServerError(m.detail);
        }
      };
      socket.onclose = () => {
        if (socketRef.current === socket) socketRef.current = null;
        if (ours || exited) return;
        term.options.disableStdin = true;
        // Refused before the upgrade (the browser is not told why), or dropped after it.
        setPhase(opened ? { kind: "disconnected", pid } : { kind: "failed", pid });
        // Whether the shell still runs, for the panel's list.
        void invalidateRef.current();
      };
    }, 0);

    return () => {
      window.clearTimeout(timer);
      ours = true;
      if (ws) {
        if (socketRef.current === ws) socketRef.current = null;
        // Closing leaves the shell running: it can be reattached to.
        ws.close(1000);
      }
    };
  }, [attempt, sandboxId]);

  useEffect(() => {
    const term = termRef.current;
    if (term) term.options.screenReaderMode = screenReader;
  }, [screenReader]);

  // When the terminal stops taking input, the focus it had goes to what can be done next.
  useEffect(() => {
    if (phase.kind === "open" || phase.kind === "connecting") return;
    const active = document.activeElement;
    const lost = !active || active === document.body || (screenRef.current?.contains(active) ?? false);
    if (lost) actionsRef.current?.querySelector<HTMLButtonElement>("button")?.focus();
  }, [phase.kind]);

  const connect = (pid: number | null) => {
    setServerError(null);
    setPhase({ kind: "connecting", pid });
    setAttempt((a) => ({ n: a.n + 1, pid }));
  };

  const running = phase.kind === "open" || phase.kind === "connecting" || phase.kind === "disconnected";
  return (
    <div className="terminal-view" data-state={phase.kind} data-pid={phase.pid ?? undefined}>
      <div className="panel-header">
        <p role="status" className="terminal-status">
          {/* The badges repeat the sentence for the eye: not read out twice. */}
          {phase.kind === "open" && (
            <span className="badge state-running" aria-hidden="true">
              connected
            </span>
          )}
          {phase.kind === "exited" && (
            <span className={`badge state-${phase.exitCode === 0 ? "terminated" : "failed"}`} aria-hidden="true">
              exited
            </span>
          )}
          {phase.kind === "disconnected" && (
            <span className="badge state-paused" aria-hidden="true">
              disconnected
            </span>
          )}{" "}
          {statusOf(phase)}
        </p>
        <div ref={actionsRef} className="row-actions" role="group" aria-label="Terminal actions">
          {phase.kind === "disconnected" && phase.pid !== null && (
            <button type="button" className="button primary" onClick={() => connect(phase.pid)}>
              Reconnect
            </button>
          )}
          {phase.kind === "failed" && (
            <button type="button" className="button primary" onClick={() => connect(phase.pid)}>
              Try again
            </button>
          )}
          {(phase.kind === "exited" ||
            phase.kind === "failed" ||
            (phase.kind === "disconnected" && phase.pid === null)) && (
            <button
              type="button"
              className={`button${phase.kind === "exited" ? " primary" : ""}`}
              onClick={() => connect(null)}
            >
              New terminal
            </button>
          )}
          <button type="button" className="button" onClick={onClose}>
            {running ? "Detach" : "Close"}
          </button>
        </div>
      </div>
      {phase.kind === "failed" && (
        <div role="alert" className="alert">
          Could not connect to the terminal.
          <p className="hint">
            The sandbox must be running
            {phase.pid !== null ? `, and terminal ${phase.pid} must still run` : ""}. The browser is not told why a
            connection is refused: the sandbox's state above may say.
          </p>
        </div>
      )}
      {serverError && (
        <div role="alert" className="alert">
          The terminal reported: {serverError}
        </div>
      )}
      <div ref={screenRef} className="terminal-screen" />
      <div className="terminal-footer">
        <p id={hintId} className="hint">
          Tab goes to the shell: press Escape, then Tab, to move on from the terminal. Detaching, or leaving the page,
          keeps the shell running.
        </p>
        <label className="checkbox">
          <input type="checkbox" checked={screenReader} onChange={(e) => setScreenReader(e.target.checked)} />
          Screen reader mode
        </label>
      </div>
    </div>
  );
}
