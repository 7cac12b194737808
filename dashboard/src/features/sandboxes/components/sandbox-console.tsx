// The sandbox's console: cells for a code-interpreter (code, result, output, figures), command
// lines for a container (`sh -c`, exit code, output). The history lives on this page only.
import { useRef, useState, type FormEvent, type KeyboardEvent } from "react";

import { describeError } from "@/api/problem";
import { OutputBlock } from "@/components/output-block";

import { useSandboxExec, type CellOutcome, type CommandOutcome } from "../api/sandbox";
import type { Sandbox } from "../api/sandboxes";

interface Entry {
  n: number;
  input: string;
  outcome?: CellOutcome | CommandOutcome;
  error?: string;
}

function CellView({ entry }: { entry: Entry }) {
  const o = entry.outcome as CellOutcome | undefined;
  return (
    <li className="cell" aria-label={`Cell ${entry.n}`}>
      <OutputBlock label={`In [${entry.n}]`} text={entry.input} />
      {entry.error && (
        <div role="alert" className="alert">
          {entry.error}
        </div>
      )}
      {o && (
        <>
          <p className="cell-status">
            <span className={`badge status-${o.status}`}>{o.status}</span>
            {o.message && <span className="reason"> {o.message}</span>}
            <span className="muted"> · {Math.round(o.duration_ms)} ms</span>
          </p>
          {o.stdout && <OutputBlock label="stdout" text={o.stdout} />}
          {o.stderr && <OutputBlock label="stderr" text={o.stderr} tone="error" />}
          {o.result != null && <OutputBlock label={`Out [${entry.n}]`} text={o.result} />}
          {o.figures.map((f, i) =>
            f.content_b64 ? (
              <img
                key={f.path}
                className="figure"
                src={`data:image/png;base64,${f.content_b64}`}
                alt={`Figure ${i + 1} of cell ${entry.n} (${f.path})`}
              />
            ) : null,
          )}
        </>
      )}
    </li>
  );
}

function CommandView({ entry }: { entry: Entry }) {
  const o = entry.outcome as CommandOutcome | undefined;
  return (
    <li className="cell" aria-label={`Run ${entry.n}`}>
      <OutputBlock label={`$ (${entry.n})`} text={entry.input} />
      {entry.error && (
        <div role="alert" className="alert">
          {entry.error}
        </div>
      )}
      {o && (
        <>
          <p className="cell-status">
            <span className={`badge status-${o.status}`}>{o.status}</span>
            <span> exit code {o.exit_code ?? "—"}</span>
            <span className="muted"> · {Math.round(o.duration_ms)} ms</span>
          </p>
          {o.stdout && <OutputBlock label="stdout" text={o.stdout} />}
          {o.stderr && <OutputBlock label="stderr" text={o.stderr} tone="error" />}
        </>
      )}
    </li>
  );
}

export function SandboxConsole({ sandbox }: { sandbox: Sandbox }) {
  const interpreter = sandbox.kind === "interpreter";
  const [input, setInput] = useState("");
  const [history, setHistory] = useState<Entry[]>([]);
  const [announcement, setAnnouncement] = useState("");
  const form = useRef<HTMLFormElement>(null);
  const exec = useSandboxExec(sandbox.id);
  // A code-interpreter paused for idleness resumes by itself on a call; paused by its owner, not.
  const usable =
    sandbox.state === "running" || (interpreter && sandbox.state === "paused" && sandbox.state_reason === "idle");

  const run = (e?: FormEvent) => {
    e?.preventDefault();
    if (!input.trim() || exec.isPending) return;
    const n = history.length + 1;
    const text = input;
    const body = interpreter ? { code: text } : { command: ["sh", "-c", text] };
    setHistory((h) => [...h, { n, input: text }]);
    setAnnouncement(`Running ${interpreter ? "cell" : "command"} ${n}…`);
    const settle = (patch: Partial<Entry>, said: string) => {
      setHistory((h) => h.map((x) => (x.n === n ? { ...x, ...patch } : x)));
      setAnnouncement(said);
    };
    exec.mutate(body, {
      onSuccess: (outcome) => {
        setInput("");
        settle({ outcome }, `${interpreter ? "Cell" : "Command"} ${n}: ${outcome.status}.`);
      },
      onError: (err) => settle({ error: describeError(err) }, `${interpreter ? "Cell" : "Command"} ${n} failed.`),
    });
  };

  // Ctrl+Enter (Cmd+Enter on a Mac) runs the cell; Enter alone is a new line.
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.current?.requestSubmit();
    }
  };

  const Entry = interpreter ? CellView : CommandView;
  return (
    <div className="console">
      {history.length > 0 && (
        <ol className="cells" aria-label="History">
          {history.map((entry) => (
            <Entry key={entry.n} entry={entry} />
          ))}
        </ol>
      )}
      <div role="status" className="visually-hidden">
        {announcement}
      </div>
      <form ref={form} className="console-form" onSubmit={run}>
        {interpreter ? (
          <label className="field">
            <span>Code</span>
            <textarea
              value={input}
              onChange={(e) => setInput(e.target.value)}
              onKeyDown={onKeyDown}
              rows={5}
              spellCheck={false}
              aria-describedby="console-hint"
              disabled={!usable}
            />
          </label>
        ) : (
          <label className="field">
            <span>Command</span>
            <input
              value={input}
              onChange={(e) => setInput(e.target.value)}
              spellCheck={false}
              autoComplete="off"
              aria-describedby="console-hint"
              disabled={!usable}
            />
          </label>
        )}
        <div className="console-actions">
          <button type="submit" className="button primary" disabled={!usable || exec.isPending || !input.trim()}>
            {exec.isPending ? "Running…" : "Run"}
          </button>
          <span id="console-hint" className="hint">
            {!usable
              ? `The sandbox is ${sandbox.state}: nothing can run in it${sandbox.state === "paused" ? " until it is resumed" : ""}.`
              : interpreter
                ? "Ctrl+Enter (⌘+Enter) runs the cell. Variables and imports persist between cells."
                : "Runs with sh -c in /workspace; Enter runs it."}
          </span>
        </div>
      </form>
    </div>
  );
}
