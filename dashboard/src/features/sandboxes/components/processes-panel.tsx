// A running container's background processes: the list (pid, tag, command, state, exit code,
// started; read every 2 s while any runs, and on Refresh), the output of the one chosen
// (followed live, resuming after a dropped connection) with Stop (TERM) and Kill (KILL) while
// it runs and a box for its input when it was started with one, and Start a process (a shell
// line run with `sh -c`; the server's 422 shown next to the field it names).
import { useEffect, useId, useRef, useState, type FormEvent } from "react";

import { ApiError, describeError } from "@/api/problem";
import { Field } from "@/components/field";
import { LogPanel, type LogWords } from "@/components/log-panel";
import { Time } from "@/components/time";
import { useLogStream } from "@/lib/use-log-stream";

import { useInvalidateProcesses, useProcesses, useSignalProcess, useStartProcess, useWriteStdin } from "../api/processes";
import type { Sandbox } from "../api/sandboxes";
import {
  DEFAULT_CWD,
  describeExit,
  fieldOfProblem,
  formatCommand,
  initialStartForm,
  MAX_PROCESS_TIMEOUT_S,
  processUrl,
  sortProcesses,
  toStartRequest,
  type ProcessInfo,
  type ProcessSignal,
  type StartErrors,
  type StartField,
  type StartForm,
} from "../lib/processes";

const OUTPUT_WORDS: LogWords = {
  following: "Following the output…",
  ended: "The process ended.",
  stopped: "The output stopped.",
};

/** The badge of a process's state: green while it runs, grey after exit 0, red otherwise. */
function StateBadge({ process: p }: { process: ProcessInfo }) {
  const tone = p.state === "running" ? "running" : p.exit_code === 0 ? "terminated" : "failed";
  return <span className={`badge state-${tone}`}>{p.state}</span>;
}

function exitSentence(p: ProcessInfo): string {
  if (p.exit_code === null || p.exit_code === undefined) return `Process ${p.pid} ended.`;
  return `Process ${p.pid} exited with code ${describeExit(p)}.`;
}

const FIELD_ORDER: StartField[] = ["command", "tag", "cwd", "timeout", "env"];

function StartProcessForm({
  sandboxId,
  onStarted,
}: {
  sandboxId: string;
  onStarted: (p: ProcessInfo) => void;
}) {
  const [form, setForm] = useState<StartForm>(initialStartForm);
  const [errors, setErrors] = useState<StartErrors>({});
  const start = useStartProcess(sandboxId);
  const refs = useRef<Partial<Record<StartField, HTMLInputElement | HTMLTextAreaElement | null>>>({});
  const headingId = useId();
  const stdinHintId = useId();

  const set = <K extends keyof StartForm>(key: K, value: StartForm[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
    if (key in errors) setErrors((e) => ({ ...e, [key]: undefined }));
  };
  const focusFirst = (e: StartErrors) => {
    const first = FIELD_ORDER.find((f) => e[f]);
    if (first) refs.current[first]?.focus();
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (start.isPending) return;
    const request = toStartRequest(form);
    if ("errors" in request) {
      setErrors(request.errors);
      focusFirst(request.errors);
      return;
    }
    setErrors({});
    start.mutate(request.body, {
      onSuccess: (p) => {
        setForm((f) => ({ ...f, command: "" }));
        onStarted(p);
      },
      onError: (err) => {
        const field = err instanceof ApiError && err.status === 422 ? fieldOfProblem(err.field) : null;
        if (field) {
          const next = { [field]: describeError(err) };
          setErrors(next);
          focusFirst(next);
        }
      },
    });
  };

  const otherError =
    start.isError && !(start.error instanceof ApiError && start.error.status === 422 && fieldOfProblem(start.error.field));

  /** The render function of a one-line field's control. */
  const input =
    (name: "command" | "tag" | "cwd" | "timeout", extra: { placeholder?: string; inputMode?: "decimal" } = {}) =>
    ({ id, describedBy, invalid }: { id: string; describedBy: string | undefined; invalid: boolean }) => (
      <input
        ref={(el) => {
          refs.current[name] = el;
        }}
        id={id}
        value={form[name]}
        autoComplete="off"
        spellCheck={false}
        onChange={(e) => set(name, e.target.value)}
        aria-describedby={describedBy}
        aria-invalid={invalid || undefined}
        {...extra}
      />
    );

  return (
    <form className="process-form" onSubmit={submit} noValidate aria-labelledby={headingId}>
      <h3 id={headingId}>Start a process</h3>
      <Field
        label="Shell line"
        error={errors.command}
        hint={
          <>
            Run in the background with <code>sh -c</code>, e.g. <code>python3 -m http.server 8000</code>.
          </>
        }
      >
        {input("command")}
      </Field>
      <div className="field-row">
        <Field label="Tag (optional)" error={errors.tag} hint="To find it in the list: letters, digits, . _ -">
          {input("tag")}
        </Field>
        <Field label="Working directory (optional)" error={errors.cwd} hint={<>Default {DEFAULT_CWD}.</>}>
          {input("cwd", { placeholder: DEFAULT_CWD })}
        </Field>
        <Field
          label="Timeout in seconds (optional)"
          error={errors.timeout}
          hint={`Killed after this long; at most ${MAX_PROCESS_TIMEOUT_S.toLocaleString("en")} (7 days).`}
        >
          {input("timeout", { inputMode: "decimal" })}
        </Field>
      </div>
      <Field label="Environment (optional)" error={errors.env} hint="NAME=VALUE, one a line, added to the sandbox's.">
        {({ id, describedBy, invalid }) => (
          <textarea
            ref={(el) => {
              refs.current.env = el;
            }}
            id={id}
            rows={3}
            value={form.env}
            spellCheck={false}
            onChange={(e) => set("env", e.target.value)}
            aria-describedby={describedBy}
            aria-invalid={invalid || undefined}
          />
        )}
      </Field>
      <div className="process-form-actions">
        <label className="checkbox">
          <input
            type="checkbox"
            checked={form.stdin}
            onChange={(e) => set("stdin", e.target.checked)}
            aria-describedby={stdinHintId}
          />
          Keep stdin open
        </label>
        <span id={stdinHintId} className="hint">
          To send it input from here; otherwise it reads end-of-file.
        </span>
        <button type="submit" className="button primary" disabled={start.isPending}>
          {start.isPending ? "Starting…" : "Start process"}
        </button>
      </div>
      {otherError && (
        <div role="alert" className="alert">
          {describeError(start.error)}
        </div>
      )}
    </form>
  );
}

function StdinForm({
  sandboxId,
  pid,
  onAnnounce,
}: {
  sandboxId: string;
  pid: number;
  onAnnounce: (text: string) => void;
}) {
  const [text, setText] = useState("");
  const [close, setClose] = useState(false);
  const write = useWriteStdin(sandboxId);
  const hintId = useId();
  const inputId = useId();

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (write.isPending || (text === "" && !close)) return;
    // A line typed is sent as one: with its new line.
    const data = text === "" || text.endsWith("\n") ? text : `${text}\n`;
    write.mutate(
      { pid, text: data, close },
      {
        onSuccess: () => {
          setText("");
          onAnnounce(close ? `Sent the input to process ${pid} and closed it.` : `Sent the input to process ${pid}.`);
        },
      },
    );
  };

  return (
    <form className="stdin-form" onSubmit={submit} aria-label={`Input of process ${pid}`}>
      <div className="field">
        <label htmlFor={inputId}>Input</label>
        <textarea
          id={inputId}
          rows={2}
          value={text}
          spellCheck={false}
          onChange={(e) => setText(e.target.value)}
          aria-describedby={hintId}
        />
        <span id={hintId} className="hint">
          Written to its standard input, with a new line at the end.
        </span>
      </div>
      <div className="process-form-actions">
        <label className="checkbox">
          <input type="checkbox" checked={close} onChange={(e) => setClose(e.target.checked)} />
          Close stdin after sending
        </label>
        <button type="submit" className="button" disabled={write.isPending || (text === "" && !close)}>
          {write.isPending ? "Sending…" : close && text === "" ? "Close stdin" : "Send"}
        </button>
      </div>
      {write.isError && (
        <div role="alert" className="alert">
          {describeError(write.error)}
        </div>
      )}
    </form>
  );
}

function ProcessOutput({
  sandboxId,
  process: listed,
  onAnnounce,
}: {
  sandboxId: string;
  process: ProcessInfo;
  onAnnounce: (text: string) => void;
}) {
  const invalidate = useInvalidateProcesses(sandboxId);
  const signal = useSignalProcess(sandboxId);
  const headingId = useId();
  const hintId = useId();
  // Its exit is announced when it happens while shown, not when an old one is chosen.
  const wasRunning = useRef(listed.state === "running");
  const stream = useLogStream(processUrl(sandboxId, listed.pid, "/logs"), (data) => {
    void invalidate();
    const ended = data as ProcessInfo | undefined;
    if (wasRunning.current && ended && typeof ended === "object" && "pid" in ended) onAnnounce(exitSentence(ended));
  });
  // The stream's `end` knows it exited before the list is read again.
  const ended = stream.end as ProcessInfo | undefined;
  const p = listed.state === "running" && ended && typeof ended === "object" && "state" in ended ? ended : listed;
  const running = p.state === "running";

  const send = (what: ProcessSignal) =>
    signal.mutate(
      { pid: p.pid, signal: what },
      {
        onSuccess: () => onAnnounce(`Sent ${what} to process ${p.pid}.`),
        onError: (err) => {
          if (err instanceof ApiError && err.code === "process_exited") onAnnounce(`Process ${p.pid} had exited already.`);
        },
      },
    );
  const signalError = signal.isError && !(signal.error instanceof ApiError && signal.error.code === "process_exited");

  return (
    <section className="process-output" aria-labelledby={headingId} data-pid={p.pid}>
      <div className="panel-header">
        <h3 id={headingId}>
          Process {p.pid}
          {p.tag && <span className="muted"> ({p.tag})</span>}
        </h3>
        {running && (
          <div className="row-actions" role="group" aria-label={`Process ${p.pid} actions`} aria-describedby={hintId}>
            <button type="button" className="button" disabled={signal.isPending} onClick={() => send("TERM")}>
              Stop
            </button>
            <button
              type="button"
              className="button danger-outline"
              disabled={signal.isPending}
              onClick={() => send("KILL")}
            >
              Kill
            </button>
          </div>
        )}
      </div>
      <p className="process-summary">
        <StateBadge process={p} />
        {!running && <span> exit code {describeExit(p)}</span>}
        <span className="muted">
          {" "}
          · in <code>{p.cwd}</code>: <code className="process-command">{formatCommand(p.command)}</code>
        </span>
      </p>
      {running && (
        <p id={hintId} className="hint">
          Stop sends TERM, Kill sends KILL, to it and every process it started.
        </p>
      )}
      {signalError && (
        <div role="alert" className="alert">
          {describeError(signal.error)}
        </div>
      )}
      <LogPanel label={`Output of process ${p.pid}`} stream={stream} empty="Nothing written yet." words={OUTPUT_WORDS} />
      {running && p.stdin && <StdinForm sandboxId={sandboxId} pid={p.pid} onAnnounce={onAnnounce} />}
    </section>
  );
}

export function ProcessesPanel({ sandbox }: { sandbox: Sandbox }) {
  const list = useProcesses(sandbox.id);
  // The one whose output is shown; what its start answered, until the list has it.
  const [selected, setSelected] = useState<ProcessInfo | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const fetchingId = useId();
  const outputRef = useRef<HTMLDivElement>(null);
  const focusOutput = useRef(false);

  const processes = list.data ? sortProcesses(list.data.processes) : [];
  const current = selected ? (processes.find((p) => p.pid === selected.pid) ?? selected) : null;

  // A process chosen (or started) from the form: its output is where the reader goes next.
  useEffect(() => {
    if (focusOutput.current) outputRef.current?.querySelector<HTMLElement>("h3")?.scrollIntoView({ block: "nearest" });
    focusOutput.current = false;
  }, [selected?.pid]);

  const refresh = () => {
    void list.refetch().then((r) => {
      if (!r.isError) setAnnouncement("Read the processes again.");
    });
  };

  const toggle = (p: ProcessInfo) => {
    focusOutput.current = true;
    setSelected((s) => (s?.pid === p.pid ? null : p));
  };

  return (
    <div className="processes">
      <div className="files-toolbar" role="group" aria-label="Processes actions">
        <button type="button" className="button" onClick={refresh} aria-describedby={fetchingId}>
          Refresh
        </button>
        <span id={fetchingId} className="muted">
          {list.isFetching && !list.isPending ? "Reading…" : ""}
        </span>
      </div>
      <div role="status" className="visually-hidden">
        {announcement}
      </div>
      {list.isPending && !list.isError && <p role="status">Loading the processes…</p>}
      {list.isError && (
        <div role="alert" className="alert">
          {describeError(list.error)}
        </div>
      )}
      {list.data && processes.length === 0 && (
        <p className="files-empty muted">No processes yet. Start one below: a server, a watcher, a long run.</p>
      )}
      {processes.length > 0 && (
        <div className="table-wrap">
          <table className="table processes-table" aria-busy={list.isFetching || undefined}>
            <caption className="visually-hidden">Processes, newest first</caption>
            <thead>
              <tr>
                <th scope="col" className="number">
                  PID
                </th>
                <th scope="col">Tag</th>
                <th scope="col">Command</th>
                <th scope="col">State</th>
                <th scope="col">Exit code</th>
                <th scope="col">Started</th>
                <th scope="col">
                  <span className="visually-hidden">Output</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {processes.map((p) => {
                const shown = current?.pid === p.pid;
                return (
                  <tr
                    key={p.pid}
                    data-pid={p.pid}
                    data-state={p.state}
                    className={shown ? "selected" : undefined}
                    aria-current={shown || undefined}
                  >
                    <th scope="row" className="number">
                      {p.pid}
                    </th>
                    <td>{p.tag ?? <span className="muted">—</span>}</td>
                    <td>
                      <code className="process-command">{formatCommand(p.command)}</code>
                    </td>
                    <td>
                      <StateBadge process={p} />
                      {p.timed_out && <span className="reason"> timed out</span>}
                    </td>
                    <td data-column="exit">{describeExit(p)}</td>
                    <td>
                      <Time at={p.started_at} />
                    </td>
                    <td>
                      <button
                        type="button"
                        className="button small"
                        aria-pressed={shown}
                        aria-label={`Output of process ${p.pid}`}
                        onClick={() => toggle(p)}
                      >
                        Output
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <div ref={outputRef}>
        {current && (
          <ProcessOutput key={current.pid} sandboxId={sandbox.id} process={current} onAnnounce={setAnnouncement} />
        )}
      </div>
      <StartProcessForm
        sandboxId={sandbox.id}
        onStarted={(p) => {
          focusOutput.current = true;
          setSelected(p);
          setAnnouncement(`Started process ${p.pid}${p.tag ? ` (${p.tag})` : ""}.`);
        }}
      />
    </div>
  );
}
