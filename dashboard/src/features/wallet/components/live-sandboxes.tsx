// The running and paused sandboxes with what each has cost so far (the Sandboxes list's
// queries: refreshed as it is).
import { Link } from "react-router";

import { describeError } from "@/api/problem";
import { useSandboxCosts } from "@/features/sandboxes/api/cost";
import { useSandboxes } from "@/features/sandboxes/api/sandboxes";
import { StateCell } from "@/features/sandboxes/components/sandboxes-table";
import { formatDuration, secondsBetween, shortId } from "@/lib/format";
import { formatUsd } from "@/lib/money";
import { useNow } from "@/lib/use-now";

export function LiveSandboxes() {
  const running = useSandboxes("running");
  const paused = useSandboxes("paused");
  const now = useNow(1000);
  const live = running.data && paused.data ? [...running.data.data, ...paused.data.data] : undefined;
  const costs = useSandboxCosts(live);
  const error = running.error ?? paused.error ?? costs.error;

  if (error) {
    return (
      <div role="alert" className="alert">
        {describeError(error)}
      </div>
    );
  }
  if (!live) return <p role="status">Loading sandboxes…</p>;
  if (live.length === 0) return <p className="muted">No sandbox is running or paused.</p>;
  const total = live.reduce((sum, s) => sum + (costs.data?.get(s.id) ?? 0), 0);
  return (
    <div className="table-wrap">
      <table className="table">
        <caption className="visually-hidden">Running and paused sandboxes, with their cost so far</caption>
        <thead>
          <tr>
            <th scope="col">Sandbox</th>
            <th scope="col">Image</th>
            <th scope="col">State</th>
            <th scope="col">Age</th>
            <th scope="col" className="number">
              Cost so far
            </th>
          </tr>
        </thead>
        <tbody>
          {live.map((s) => (
            <tr key={s.id} data-sandbox-id={s.id} data-state={s.state}>
              <th scope="row">
                <Link to={`/sandboxes/${s.id}`}>
                  <code title={s.id}>{shortId(s.id)}</code>
                </Link>
              </th>
              <td className="image">{s.image}</td>
              <td>
                <StateCell sandbox={s} />
              </td>
              <td>{formatDuration(secondsBetween(s.created_at, now))}</td>
              <td className="number" data-testid="cost">
                {costs.data ? formatUsd(costs.data.get(s.id) ?? 0) : "…"}
              </td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <th scope="row" colSpan={4}>
              Total
            </th>
            <td className="number">{costs.data ? formatUsd(total) : "…"}</td>
          </tr>
        </tfoot>
      </table>
    </div>
  );
}
