// "Cost so far" of the listed sandboxes and of one sandbox, from `GET /v1/usage`. Under the
// project's sandboxes' key: every change that refreshes the list refreshes these.
//
// The list's is two reports joined by id (`group_by=sandbox`): the ended sandboxes' (from the
// oldest one's creation; asked again only when one more has ended, since an ended sandbox's
// cost no longer changes) and the live ones' (from the oldest live one's creation, polled every
// third list refresh while any is live). So the poll asks only for what can still change.
import { useQuery } from "@tanstack/react-query";

import { api } from "@/api/client";
import { unwrap } from "@/api/problem";
import { useCurrentProject } from "@/features/auth/components/current-project";

import { costById, costFrom, joinCosts } from "../lib/cost";
import { isLive, POLL_INTERVAL_MS } from "../lib/polling";
import { sandboxKey } from "./sandbox";
import { sandboxesKeys, type Sandbox } from "./sandboxes";

/** One `group_by=sandbox` report from `from` (none for `null`), by sandbox id. */
function useCostReport(projectId: string | null, part: "ended" | "live", from: string | null, extraKey: number, poll: boolean) {
  return useQuery({
    queryKey: [...sandboxesKeys.all(projectId), "cost", part, from, extraKey] as const,
    queryFn: async ({ signal }) =>
      unwrap(await api.GET("/v1/usage", { params: { query: { group_by: "sandbox", from: from! } }, signal })),
    enabled: from !== null,
    select: costById,
    // A new oldest row changes the key: keep showing the project's previous figures until it
    // answers (not another project's).
    placeholderData: (previous, previousQuery) => (previousQuery?.queryKey[1] === projectId ? previous : undefined),
    refetchInterval: poll ? COST_POLL_INTERVAL_MS : false,
  });
}

/**
 * How often the live sandboxes' costs are asked for: every third list refresh. Cost moves by
 * fractions of a cent, and asking with every refresh took the poll at 200 live sandboxes from
 * 1.1 ms to 2.1 ms of server CPU (dashboard/bench/poll.sh): over the 2 ms budget.
 */
export const COST_POLL_INTERVAL_MS = 3 * POLL_INTERVAL_MS;

export interface SandboxCosts {
  /** Cost so far by sandbox id; `undefined` until the reports it needs answered. */
  data: Map<string, number> | undefined;
  isError: boolean;
  error: Error | null;
}

/** Cost so far by sandbox id, for `sandboxes` (the list's rows). */
export function useSandboxCosts(sandboxes: Sandbox[] | undefined): SandboxCosts {
  const { project } = useCurrentProject();
  const projectId = project?.id ?? null;
  const now = Date.now();
  const live = sandboxes?.filter(isLive) ?? [];
  const ended = sandboxes?.filter((s) => !isLive(s)) ?? [];
  // Keyed by how many have ended too: one more ended is asked for once, with its final cost.
  const endedCosts = useCostReport(projectId, "ended", costFrom(ended, now), ended.length, false);
  const liveCosts = useCostReport(projectId, "live", costFrom(live, now), 0, live.length > 0);

  const error = endedCosts.error ?? liveCosts.error;
  const data = joinCosts(sandboxes, isLive, endedCosts.data, liveCosts.data);
  return { data, isError: error !== null, error };
}

/** One sandbox's cost so far, by resource (`group_by=resource`). */
export function useSandboxCost(sandbox: Pick<Sandbox, "id" | "created_at" | "state">) {
  const { project } = useCurrentProject();
  const live = isLive(sandbox);
  return useQuery({
    queryKey: [...sandboxKey(project?.id ?? null, sandbox.id), "cost"] as const,
    queryFn: async ({ signal }) =>
      unwrap(
        await api.GET("/v1/usage", {
          params: { query: { group_by: "resource", sandbox_id: sandbox.id, from: sandbox.created_at } },
          signal,
        }),
      ),
    refetchInterval: live ? POLL_INTERVAL_MS : false,
  });
}
