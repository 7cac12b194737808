// A container sandbox's ports: the list (`GET …/ports`: the declared ones and any other a
// server listens on, each with whether it listens now), read every few seconds while the
// sandbox runs, and declaring one more (`POST …/ports`), whose answer is the sandbox: it
// replaces the page's copy (its details list the declared ports) and the list is read again.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, type Schemas } from "@/api/client";
import { unwrap } from "@/api/problem";
import { useCurrentProject } from "@/features/auth/components/current-project";

import { portsRefetchInterval, type ExposePort } from "../lib/ports";
import { sandboxKey } from "./sandbox";
import type { Sandbox } from "./sandboxes";

export const portsKey = (projectId: string | null, id: string) => [...sandboxKey(projectId, id), "ports"] as const;

/** The sandbox's ports, read every few seconds while it runs (a server may come up or go). */
export function usePorts(sandbox: Pick<Sandbox, "id" | "state">) {
  const { project } = useCurrentProject();
  return useQuery({
    queryKey: portsKey(project?.id ?? null, sandbox.id),
    queryFn: async ({ signal }) =>
      unwrap(await api.GET("/v1/sandboxes/{id}/ports", { params: { path: { id: sandbox.id } }, signal })),
    refetchInterval: portsRefetchInterval(sandbox),
    staleTime: 0,
  });
}

export function useDeclarePort(sandboxId: string) {
  const queryClient = useQueryClient();
  const { project } = useCurrentProject();
  const projectId = project?.id ?? null;
  return useMutation({
    mutationFn: async (body: ExposePort) =>
      unwrap(await api.POST("/v1/sandboxes/{id}/ports", { params: { path: { id: sandboxId } }, body })),
    onSuccess: (sandbox) => {
      // The answer may have no events: keep the history the page has until the refetch.
      queryClient.setQueryData<Schemas["SandboxView"]>(sandboxKey(projectId, sandboxId), (old) =>
        old ? { ...sandbox, events: sandbox.events ?? old.events } : sandbox,
      );
      return queryClient.invalidateQueries({ queryKey: portsKey(projectId, sandboxId) });
    },
  });
}
