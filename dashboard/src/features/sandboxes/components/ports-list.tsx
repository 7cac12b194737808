// The Ports panel's list and its Declare a port form. The list is `GET …/ports`: the ports
// declared (`ports` at create, or the form) and any other a server listens on, ascending, each
// with whether a server listens there now and Open preview for it; read every few seconds while
// the sandbox runs, and on Refresh. The form declares one more (`POST …/ports`); the server's
// 422 about `port` sits next to the field, anything else (an ended sandbox's 409) is an alert.
import { useId, useRef, useState, type FormEvent } from "react";

import { ApiError, describeError } from "@/api/problem";
import { Field } from "@/components/field";

import { useDeclarePort, usePorts } from "../api/ports";
import type { Sandbox } from "../api/sandboxes";
import {
  declaredPorts,
  fieldOfDeclareProblem,
  listeningLabel,
  MAX_DECLARED_PORTS,
  MAX_PORT,
  MIN_PORT,
  PORTS_POLL_MS,
  sortPorts,
  toDeclareRequest,
  type DeclareErrors,
  type PortView,
} from "../lib/ports";

function ListeningBadge({ port }: { port: PortView }) {
  return (
    <span className={`badge ${port.listening ? "state-running" : "state-terminated"}`}>{listeningLabel(port)}</span>
  );
}

export function PortsTable({
  sandbox,
  onPreview,
  previewPending,
  previewHintId,
  onAnnounce,
}: {
  sandbox: Sandbox;
  /** Open preview on a row: signs a URL for its port. */
  onPreview: (port: number) => void;
  previewPending: boolean;
  /** The hint that describes every Open preview button. */
  previewHintId: string;
  onAnnounce: (text: string) => void;
}) {
  const list = usePorts(sandbox);
  const headingId = useId();
  const fetchingId = useId();
  const ports = list.data ? sortPorts(list.data.ports) : [];
  const running = sandbox.state === "running";

  const refresh = () => {
    void list.refetch().then((r) => {
      if (!r.isError) onAnnounce("Read the ports again.");
    });
  };

  return (
    <section className="ports-list" aria-labelledby={headingId}>
      <div className="panel-header">
        <h3 id={headingId}>Declared and listening</h3>
        <div className="files-toolbar" role="group" aria-label="Ports actions">
          <button type="button" className="button small" onClick={refresh} aria-describedby={fetchingId}>
            Refresh
          </button>
          <span id={fetchingId} className="muted">
            {list.isFetching && !list.isPending ? "Reading…" : ""}
          </span>
        </div>
      </div>
      {running && (
        <p className="hint ports-hint">Refreshed every {PORTS_POLL_MS / 1000} seconds while the sandbox runs.</p>
      )}
      {list.isPending && !list.isError && <p role="status">Loading the ports…</p>}
      {list.isError && (
        <div role="alert" className="alert">
          {describeError(list.error)}
        </div>
      )}
      {list.data && ports.length === 0 && (
        <p className="files-empty muted" data-testid="ports-empty">
          {running ? (
            <>
              No ports yet. Start a server with a process (under Processes, e.g.{" "}
              <code>python3 -m http.server 8000</code>) and its port shows up here, or declare the port it will listen
              on below.
            </>
          ) : (
            "No ports declared. Declare the port a server will listen on below."
          )}
        </p>
      )}
      {ports.length > 0 && (
        <div className="table-wrap">
          <table className="table ports-table">
            <caption className="visually-hidden">The sandbox's ports, ascending</caption>
            <thead>
              <tr>
                <th scope="col" className="number">
                  Port
                </th>
                <th scope="col">Declared</th>
                <th scope="col">Server</th>
                <th scope="col">
                  <span className="visually-hidden">Preview</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {ports.map((p) => (
                <tr key={p.port} data-port={p.port} data-declared={p.declared} data-listening={p.listening}>
                  <th scope="row" className="number">
                    {p.port}
                  </th>
                  <td>{p.declared ? "Yes" : "No"}</td>
                  <td>
                    <ListeningBadge port={p} />
                  </td>
                  <td>
                    <button
                      type="button"
                      className="button small"
                      aria-disabled={previewPending || undefined}
                      aria-label={`Open preview of port ${p.port}`}
                      aria-describedby={previewHintId}
                      onClick={() => onPreview(p.port)}
                    >
                      Open preview
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function DeclarePortForm({ sandbox, onAnnounce }: { sandbox: Sandbox; onAnnounce: (text: string) => void }) {
  const [text, setText] = useState("");
  const [errors, setErrors] = useState<DeclareErrors>({});
  const declare = useDeclarePort(sandbox.id);
  const inputRef = useRef<HTMLInputElement | null>(null);
  const headingId = useId();

  const fail = (next: DeclareErrors) => {
    setErrors(next);
    inputRef.current?.focus();
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (declare.isPending) return;
    const request = toDeclareRequest(text, declaredPorts(sandbox));
    if ("errors" in request) return fail(request.errors);
    setErrors({});
    const already = declaredPorts(sandbox).includes(request.body.port);
    declare.mutate(request.body, {
      onSuccess: () => {
        setText("");
        onAnnounce(
          already ? `Port ${request.body.port} was declared already.` : `Port ${request.body.port} declared.`,
        );
      },
      onError: (err) => {
        const field = err instanceof ApiError && err.status === 422 ? fieldOfDeclareProblem(err.field) : null;
        if (field) fail({ [field]: describeError(err) });
      },
    });
  };

  const otherError =
    declare.isError &&
    !(declare.error instanceof ApiError && declare.error.status === 422 && fieldOfDeclareProblem(declare.error.field));

  return (
    <form className="ports-declare" onSubmit={submit} noValidate aria-labelledby={headingId}>
      <h3 id={headingId}>Declare a port</h3>
      <div className="inline-form ports-form">
        <Field
          label="Port to declare"
          error={errors.port}
          hint={`Where a server listens or will, ${MIN_PORT} to ${MAX_PORT.toLocaleString("en")}; at most ${MAX_DECLARED_PORTS} per sandbox.`}
        >
          {({ id, describedBy, invalid }) => (
            <input
              ref={inputRef}
              id={id}
              type="text"
              inputMode="numeric"
              placeholder="9000"
              autoComplete="off"
              value={text}
              onChange={(e) => {
                setText(e.target.value);
                if (errors.port) setErrors({});
              }}
              aria-describedby={describedBy}
              aria-invalid={invalid || undefined}
            />
          )}
        </Field>
        <button type="submit" className="button" disabled={declare.isPending}>
          {declare.isPending ? "Declaring…" : "Declare port"}
        </button>
      </div>
      {otherError && (
        <div role="alert" className="alert">
          {describeError(declare.error)}
        </div>
      )}
    </form>
  );
}
