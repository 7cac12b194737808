// A sandbox's cost so far (`GET /v1/usage?sandbox_id=…` from its creation), by resource
// underneath; refreshed while it is live.
import { describeError } from "@/api/problem";
import { formatUsd } from "@/lib/money";

import { useSandboxCost } from "../api/cost";
import type { Sandbox } from "../api/sandboxes";

const LABELS: Record<string, string> = { cpu: "CPU", memory: "memory", gpu: "GPU", storage: "storage" };

export function CostSoFar({ sandbox }: { sandbox: Sandbox }) {
  const cost = useSandboxCost(sandbox);
  if (cost.isPending) return <span className="muted">Loading…</span>;
  if (cost.isError) return <span className="field-error">{describeError(cost.error)}</span>;
  const parts = cost.data.rows
    .filter((r) => r.cost > 0)
    .map((r) => `${LABELS[r.key] ?? r.key} ${formatUsd(r.cost)}`);
  return (
    <span className="cost-so-far">
      <span data-testid="cost-so-far">{formatUsd(cost.data.total_cost)}</span>
      {parts.length > 0 && <span className="reason"> ({parts.join(", ")})</span>}
    </span>
  );
}
