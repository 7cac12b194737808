// One sandbox: details, state history, timeout, actions (as on the list), its console, its files
// (while it runs), for a running container its background processes and a terminal, for a
// running or paused container its ports (declared and listening, preview URLs, Declare a port),
// and for a container its live log.
// Refreshed every 10 s while it is live.
import { useState } from "react";
import { Link, useParams } from "react-router";

import { describeError } from "@/api/problem";
import { LogPanel } from "@/components/log-panel";
import { useLogStream } from "@/lib/use-log-stream";

import { useSandbox } from "../api/sandbox";
import { useSandboxAction, type Sandbox, type SandboxAction } from "../api/sandboxes";
import { CopyId } from "../components/copy-id";
import { DeleteSandboxDialog } from "../components/delete-sandbox-dialog";
import { FilesPanel } from "../components/files-panel";
import { PortsPanel } from "../components/ports-panel";
import { ProcessesPanel } from "../components/processes-panel";
import { SandboxConsole } from "../components/sandbox-console";
import { SandboxDetails, StateHistory } from "../components/sandbox-details";
import { TerminalPanel } from "../components/terminal-panel";
import { TimeoutForm } from "../components/timeout-form";
import { ACTION_LABELS, canDo } from "../lib/actions";
import { isLive } from "../lib/polling";
import { canPreview } from "../lib/previews";
import { shortId } from "../lib/format";

function ContainerLog({ sandbox }: { sandbox: Sandbox }) {
  const stream = useLogStream(`/v1/sandboxes/${encodeURIComponent(sandbox.id)}/logs`);
  return <LogPanel label="Sandbox log" stream={stream} empty="Nothing written yet." />;
}

function Actions({ sandbox, onAnnounce }: { sandbox: Sandbox; onAnnounce: (text: string) => void }) {
  const action = useSandboxAction();
  const [confirmDelete, setConfirmDelete] = useState(false);
  const run = (what: SandboxAction) => {
    if (what === "delete") {
      setConfirmDelete(true);
      return;
    }
    action.mutate(
      { id: sandbox.id, action: what },
      { onSuccess: () => onAnnounce(`Sandbox ${what === "pause" ? "paused" : "resumed"}.`) },
    );
  };
  return (
    <>
      <div className="row-actions" role="group" aria-label="Sandbox actions">
        {(["pause", "resume", "delete"] as const).map((what) => (
          <button
            key={what}
            type="button"
            className={`button${what === "delete" ? " danger-outline" : ""}`}
            disabled={!canDo(what, sandbox) || action.isPending}
            onClick={() => run(what)}
          >
            {ACTION_LABELS[what]}
          </button>
        ))}
      </div>
      {action.isError && (
        <div role="alert" className="alert">
          {describeError(action.error)}
        </div>
      )}
      <DeleteSandboxDialog
        sandboxId={confirmDelete ? sandbox.id : null}
        onClose={() => setConfirmDelete(false)}
        onConfirm={(id) => action.mutate({ id, action: "delete" }, { onSuccess: () => onAnnounce("Sandbox deleted.") })}
      />
    </>
  );
}

export function SandboxPage() {
  const { id = "" } = useParams();
  const sandbox = useSandbox(id);
  const [announcement, setAnnouncement] = useState("");
  const s = sandbox.data;

  return (
    <section className="page" aria-labelledby="sandbox-heading">
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/sandboxes">Sandboxes</Link> <span aria-hidden="true">›</span> <span>{shortId(id)}</span>
      </nav>
      <div className="page-header">
        <h1 id="sandbox-heading">Sandbox {shortId(id)}</h1>
        {s && <Actions sandbox={s} onAnnounce={setAnnouncement} />}
      </div>
      <div role="status" className="visually-hidden">
        {announcement}
      </div>
      {sandbox.isError && (
        <div role="alert" className="alert">
          {describeError(sandbox.error)}
        </div>
      )}
      {sandbox.isPending && <p role="status">Loading the sandbox…</p>}
      {s && (
        <>
          <p className="muted">
            <CopyId id={s.id}>
              <code>{s.id}</code>
            </CopyId>
          </p>
          <div className="panels">
            <section className="panel" aria-labelledby="details-heading">
              <h2 id="details-heading">Details</h2>
              <SandboxDetails sandbox={s} />
              <TimeoutForm sandboxId={s.id} disabled={!isLive(s)} />
            </section>
            <section className="panel" aria-labelledby="history-heading">
              <h2 id="history-heading">State history</h2>
              <StateHistory sandbox={s} />
            </section>
          </div>
          <section className="panel" aria-labelledby="console-heading">
            <h2 id="console-heading">Console</h2>
            <SandboxConsole sandbox={s} />
          </section>
          {s.state === "running" && (
            <section className="panel" aria-labelledby="files-heading">
              <h2 id="files-heading">Files</h2>
              <FilesPanel sandbox={s} />
            </section>
          )}
          {s.kind === "container" && s.state === "running" && (
            <section className="panel" aria-labelledby="processes-heading">
              <h2 id="processes-heading">Processes</h2>
              <ProcessesPanel key={s.id} sandbox={s} />
            </section>
          )}
          {s.kind === "container" && s.state === "running" && (
            <section className="panel" aria-labelledby="terminal-heading">
              <h2 id="terminal-heading">Terminal</h2>
              <TerminalPanel key={s.id} sandbox={s} />
            </section>
          )}
          {canPreview(s) && (
            <section className="panel" aria-labelledby="ports-heading">
              <h2 id="ports-heading">Ports</h2>
              <PortsPanel key={s.id} sandbox={s} />
            </section>
          )}
          {s.kind === "container" && (
            <section className="panel" aria-labelledby="log-heading">
              <h2 id="log-heading">Live log</h2>
              <ContainerLog sandbox={s} />
            </section>
          )}
        </>
      )}
    </section>
  );
}
