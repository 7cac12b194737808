import { useState } from "react";

import { describeError } from "@/api/problem";
import { useSandboxCosts } from "../api/cost";
import { useSandboxAction, useSandboxes, type Sandbox, type SandboxAction, type SandboxState } from "../api/sandboxes";
import { CreateSandboxWizard } from "../components/create-sandbox-wizard";
import { DeleteSandboxDialog } from "../components/delete-sandbox-dialog";
import { SandboxesTable } from "../components/sandboxes-table";
import { shortId } from "../lib/format";

const STATES: SandboxState[] = ["pending", "running", "paused", "terminated", "failed"];

export function SandboxesPage() {
  const [state, setState] = useState<SandboxState | undefined>(undefined);
  const [wizardOpen, setWizardOpen] = useState(false);
  const [toDelete, setToDelete] = useState<string | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const sandboxes = useSandboxes(state);
  const costs = useSandboxCosts(sandboxes.data?.data);
  const action = useSandboxAction();

  const run = (s: Sandbox, what: SandboxAction) => {
    if (what === "delete") {
      setToDelete(s.id);
      return;
    }
    action.mutate(
      { id: s.id, action: what },
      { onSuccess: () => setAnnouncement(`Sandbox ${shortId(s.id)} ${what === "pause" ? "paused" : "resumed"}.`) },
    );
  };

  const rows = sandboxes.data?.data ?? [];
  const createButton = (
    <button type="button" className="button primary" onClick={() => setWizardOpen(true)}>
      Create Sandbox
    </button>
  );

  return (
    <section className="page" aria-labelledby="sandboxes-heading">
      <div className="page-header">
        <h1 id="sandboxes-heading">Sandboxes</h1>
        {(rows.length > 0 || state) && createButton}
      </div>
      <div className="toolbar">
        <label className="field inline">
          <span>State</span>
          <select
            value={state ?? ""}
            onChange={(e) => setState((e.target.value || undefined) as SandboxState | undefined)}
          >
            <option value="">All states</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        {sandboxes.isFetching && !sandboxes.isPending && (
          <span className="muted" aria-hidden="true">
            Refreshing…
          </span>
        )}
      </div>
      <div role="status" className="visually-hidden">
        {announcement}
      </div>
      {action.isError && (
        <div role="alert" className="alert">
          {describeError(action.error)}
        </div>
      )}
      {sandboxes.isError && (
        <div role="alert" className="alert">
          {describeError(sandboxes.error)}
        </div>
      )}
      {sandboxes.isPending ? (
        <p role="status">Loading sandboxes…</p>
      ) : rows.length > 0 ? (
        <SandboxesTable
          sandboxes={rows}
          costs={costs.isError && !costs.data ? null : costs.data}
          busyId={action.isPending ? (action.variables?.id ?? null) : null}
          onAction={run}
        />
      ) : (
        <div className="empty">
          <h2>{state ? `No ${state} sandboxes` : "No sandboxes yet"}</h2>
          <p>
            A sandbox is a Python interpreter that remembers, or a container with its own CPU,
            memory and, if you want, a GPU share.
          </p>
          {!state && createButton}
        </div>
      )}
      {sandboxes.data?.next_cursor && <p className="muted">Showing the newest {rows.length} sandboxes.</p>}

      <CreateSandboxWizard
        open={wizardOpen}
        onOpenChange={setWizardOpen}
        onCreated={(s) => {
          setState(undefined);
          setAnnouncement(
            `Sandbox ${shortId(s.id)} created: ${s.state}.` +
              (s.state === "pending" ? " Provisioning takes seconds to a couple of minutes." : ""),
          );
        }}
      />
      <DeleteSandboxDialog
        sandboxId={toDelete}
        onClose={() => setToDelete(null)}
        onConfirm={(id) =>
          action.mutate(
            { id, action: "delete" },
            { onSuccess: () => setAnnouncement(`Sandbox ${shortId(id)} deleted.`) },
          )
        }
      />
    </section>
  );
}
