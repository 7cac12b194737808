import { Link } from "react-router";

import type { Sandbox, SandboxAction } from "../api/sandboxes";
import { ACTION_LABELS, canDo } from "../lib/actions";
import { CopyId } from "./copy-id";
import { formatBytes, formatCpu, formatDuration, formatGpu, secondsBetween, shortId } from "../lib/format";
import { isLive } from "../lib/polling";
import { formatUsd } from "@/lib/money";
import { useNow } from "@/lib/use-now";

export function StateCell({ sandbox }: { sandbox: Sandbox }) {
  const reason =
    sandbox.state === "pending" && sandbox.waiting_for ? sandbox.waiting_for : sandbox.state_reason;
  return (
    <span className="state-cell">
      <span className={`badge state-${sandbox.state}`}>{sandbox.state}</span>
      {reason && <span className="reason">{reason}</span>}
      {sandbox.state_detail && <span className="reason detail">{sandbox.state_detail}</span>}
    </span>
  );
}

/** A row's cost so far: `…` until the report answers, `—` when it failed. */
function CostCell({ cost, costs }: { cost: number | undefined; costs: Map<string, number> | null | undefined }) {
  if (costs === null) return <>—</>;
  if (costs === undefined) return <span className="muted">…</span>;
  return <>{formatUsd(cost ?? 0)}</>;
}

export function SandboxesTable({
  sandboxes,
  costs,
  busyId,
  onAction,
}: {
  sandboxes: Sandbox[];
  /** Cost so far by sandbox id; `undefined` while loading, `null` when it could not be read. */
  costs: Map<string, number> | null | undefined;
  busyId: string | null;
  onAction: (sandbox: Sandbox, action: SandboxAction) => void;
}) {
  const now = useNow(1000);
  return (
    <div className="table-wrap">
      <table className="table">
        <caption className="visually-hidden">The project's sandboxes, newest first</caption>
        <thead>
          <tr>
            <th scope="col">ID</th>
            <th scope="col">Image</th>
            <th scope="col">GPU</th>
            <th scope="col">CPU / memory</th>
            <th scope="col">State</th>
            <th scope="col">Age</th>
            <th scope="col">Time left</th>
            <th scope="col">Calls</th>
            <th scope="col" className="number">
              Cost so far
            </th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {sandboxes.map((s) => (
            <tr key={s.id} data-sandbox-id={s.id} data-state={s.state}>
              <td>
                <CopyId id={s.id}>
                  <Link to={`/sandboxes/${s.id}`}>
                    <code title={s.id}>{shortId(s.id)}</code>
                  </Link>
                </CopyId>
              </td>
              <td className="image">{s.image}</td>
              <td>{formatGpu(s.gpu)}</td>
              <td>
                {formatCpu(s.cpu)} · {formatBytes(s.memory_bytes)}
              </td>
              <td>
                <StateCell sandbox={s} />
              </td>
              <td>
                <time dateTime={s.created_at} title={new Date(s.created_at).toLocaleString()}>
                  {formatDuration(secondsBetween(s.created_at, now))}
                </time>
              </td>
              <td>
                {isLive(s) ? (
                  <time dateTime={s.expires_at} title={`Terminated at ${new Date(s.expires_at).toLocaleString()}`}>
                    {formatDuration(secondsBetween(now, s.expires_at))}
                  </time>
                ) : (
                  "—"
                )}
              </td>
              <td className="number">{s.calls}</td>
              <td className="number" data-testid="cost">
                <CostCell cost={costs?.get(s.id)} costs={costs} />
              </td>
              <td>
                <div className="row-actions">
                  {(["pause", "resume", "delete"] as const).map((action) => (
                    <button
                      key={action}
                      type="button"
                      className={`button small${action === "delete" ? " danger-outline" : ""}`}
                      disabled={!canDo(action, s) || busyId === s.id}
                      onClick={() => onAction(s, action)}
                    >
                      {ACTION_LABELS[action]}
                    </button>
                  ))}
                </div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
