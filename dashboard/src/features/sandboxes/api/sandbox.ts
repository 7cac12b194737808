// One sandbox: its details and state history (polling while it is live, as the list does),
// its timeout, and calls into it. Every change invalidates the project's sandboxes, the list
// and this page alike.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, type Schemas } from "@/api/client";
import { unwrap } from "@/api/problem";
import { useCurrentProject } from "@/features/auth/components/current-project";
import { isLive, POLL_INTERVAL_MS } from "../lib/polling";
import { sandboxesKeys } from "./sandboxes";

export type CellOutcome = Schemas["CellOutcome"];
export type CommandOutcome = Schemas["CommandOutcome"];

export const sandboxKey = (projectId: string | null, id: string) =>
  [...sandboxesKeys.all(projectId), "detail", id] as const;

export function useSandbox(id: string) {
  const { project } = useCurrentProject();
  return useQuery({
    queryKey: sandboxKey(project?.id ?? null, id),
    queryFn: async ({ signal }) =>
      unwrap(await api.GET("/v1/sandboxes/{id}", { params: { path: { id } }, signal })),
    refetchInterval: (query) => (query.state.data && isLive(query.state.data) ? POLL_INTERVAL_MS : false),
  });
}

/** Sets the sandbox to end `timeout_s` seconds from now. */
export function useSetTimeout(id: string) {
  const queryClient = useQueryClient();
  const { project } = useCurrentProject();
  return useMutation({
    mutationFn: async (timeout_s: number) =>
      unwrap(await api.POST("/v1/sandboxes/{id}/timeout", { params: { path: { id } }, body: { timeout_s } })),
    onSuccess: (sandbox) => {
      // The answer has no events: keep the history the page has until the refetch.
      queryClient.setQueryData<Schemas["SandboxView"]>(sandboxKey(project?.id ?? null, id), (old) =>
        old ? { ...sandbox, events: sandbox.events ?? old.events } : sandbox,
      );
      return queryClient.invalidateQueries({ queryKey: sandboxesKeys.all(project?.id ?? null) });
    },
  });
}

/** A cell (`code`, code-interpreter) or a command (`command`, container) run in the sandbox. */
export function useSandboxExec(id: string) {
  const queryClient = useQueryClient();
  const { project } = useCurrentProject();
  return useMutation({
    mutationFn: async (body: { code: string } | { command: string[] }) =>
      unwrap(await api.POST("/v1/sandboxes/{id}/exec", { params: { path: { id } }, body })),
    // Its call count and last activity changed.
    onSettled: () => queryClient.invalidateQueries({ queryKey: sandboxKey(project?.id ?? null, id) }),
  });
}
