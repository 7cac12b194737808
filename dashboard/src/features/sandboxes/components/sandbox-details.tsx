// A sandbox's details and its state history, as `GET /v1/sandboxes/{id}` gives them (a
// container's declared ports among them: the Ports panel says which listen).
import type { ReactNode } from "react";

import { Time } from "@/components/time";
import { useNow } from "@/lib/use-now";

import type { Sandbox } from "../api/sandboxes";
import { formatBytes, formatCpu, formatDuration, formatGpu, secondsBetween } from "../lib/format";
import { formatNetwork, networkOf } from "../lib/network";
import { isLive } from "../lib/polling";
import { declaredPorts, formatPorts } from "../lib/ports";
import { CostSoFar } from "./cost-so-far";
import { StateCell } from "./sandboxes-table";

function Item({ term, children }: { term: string; children: ReactNode }) {
  return (
    <div className="detail">
      <dt>{term}</dt>
      <dd>{children}</dd>
    </div>
  );
}

export function SandboxDetails({ sandbox: s }: { sandbox: Sandbox }) {
  const now = useNow(1000);
  return (
    <dl className="details">
      <Item term="State">
        <StateCell sandbox={s} />
      </Item>
      <Item term="Image">
        <code>{s.image}</code>
      </Item>
      <Item term="Kind">{s.kind === "interpreter" ? "code-interpreter" : s.kind}</Item>
      {s.command && (
        <Item term="Command">
          <code>{JSON.stringify(s.command)}</code>
        </Item>
      )}
      <Item term="GPU">{formatGpu(s.gpu)}</Item>
      <Item term="CPU">{formatCpu(s.cpu)}</Item>
      <Item term="Memory">{formatBytes(s.memory_bytes)}</Item>
      <Item term="Disk">{formatBytes(s.disk_bytes)}</Item>
      <Item term="Network">
        <span data-testid="network">{formatNetwork(networkOf(s))}</span>
      </Item>
      {s.kind === "container" && (
        <Item term="Ports">
          <span data-testid="ports">{formatPorts(declaredPorts(s))}</span>
        </Item>
      )}
      <Item term="Environment">{s.env.length ? s.env.join(", ") : "—"}</Item>
      <Item term="Created">
        <Time at={s.created_at} />
      </Item>
      <Item term="Started">
        <Time at={s.started_at} />
      </Item>
      <Item term="Ended">
        <Time at={s.ended_at} />
      </Item>
      <Item term="Expires">
        {isLive(s) ? (
          <span data-testid="expires">
            <Time at={s.expires_at} /> (in {formatDuration(secondsBetween(now, s.expires_at))})
          </span>
        ) : (
          "—"
        )}
      </Item>
      <Item term="Calls">{s.calls}</Item>
      <Item term="Cost so far">
        <CostSoFar sandbox={s} />
      </Item>
    </dl>
  );
}

export function StateHistory({ sandbox }: { sandbox: Sandbox }) {
  const events = sandbox.events ?? [];
  return (
    <div className="table-wrap">
      <table className="table">
        <caption className="visually-hidden">State changes, oldest first</caption>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">State</th>
            <th scope="col">Reason</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e, i) => (
            <tr key={i} data-state={e.state}>
              <td>
                <Time at={e.at} />
              </td>
              <td>
                <span className={`badge state-${e.state}`}>{e.state}</span>
              </td>
              <td>
                {e.reason}
                {e.detail && <span className="reason detail"> — {e.detail}</span>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
