// A container sandbox's background processes: the list (polled while any runs), starting one
// (`POST …/processes`), a signal (`POST …/{pid}/signal`) and input (`POST …/{pid}/stdin`, raw
// bytes, so through `sessionFetch`). Every change reads the list again. Their output is an
// event stream, followed with `useLogStream` (`lib/processes.ts` has its URL).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, sessionFetch } from "@/api/client";
import { toApiError, unwrap } from "@/api/problem";
import { useCurrentProject } from "@/features/auth/components/current-project";

import { processesRefetchInterval, processUrl, type ProcessSignal, type ProcessSpec } from "../lib/processes";
import { sandboxKey } from "./sandbox";

export const processesKey = (projectId: string | null, id: string) => [...sandboxKey(projectId, id), "processes"] as const;

/** The sandbox's processes (the last 32, running and ended), read every 2 s while any runs. */
export function useProcesses(sandboxId: string) {
  const { project } = useCurrentProject();
  return useQuery({
    queryKey: processesKey(project?.id ?? null, sandboxId),
    queryFn: async ({ signal }) =>
      unwrap(await api.GET("/v1/sandboxes/{id}/processes", { params: { path: { id: sandboxId } }, signal })),
    refetchInterval: (query) => processesRefetchInterval(query.state.data),
  });
}

/** Reads the list again (after a change, or when a followed process ends). */
export function useInvalidateProcesses(sandboxId: string) {
  const queryClient = useQueryClient();
  const { project } = useCurrentProject();
  return () => queryClient.invalidateQueries({ queryKey: processesKey(project?.id ?? null, sandboxId) });
}

export function useStartProcess(sandboxId: string) {
  const invalidate = useInvalidateProcesses(sandboxId);
  return useMutation({
    mutationFn: async (body: ProcessSpec) =>
      unwrap(await api.POST("/v1/sandboxes/{id}/processes", { params: { path: { id: sandboxId } }, body })),
    onSettled: invalidate,
  });
}

export function useSignalProcess(sandboxId: string) {
  const invalidate = useInvalidateProcesses(sandboxId);
  return useMutation({
    mutationFn: async ({ pid, signal }: { pid: number; signal: ProcessSignal }) => {
      unwrap(
        await api.POST("/v1/sandboxes/{id}/processes/{pid}/signal", {
          params: { path: { id: sandboxId, pid } },
          body: { signal },
        }),
      );
    },
    onSettled: invalidate,
  });
}

/** Writes `text` (UTF-8) to the process's standard input; with `close`, closes it after. */
export function useWriteStdin(sandboxId: string) {
  const invalidate = useInvalidateProcesses(sandboxId);
  return useMutation({
    mutationFn: async ({ pid, text, close }: { pid: number; text: string; close: boolean }) => {
      const url = processUrl(sandboxId, pid, `/stdin${close ? "?close=true" : ""}`);
      const r = await sessionFetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/octet-stream" },
        body: text,
      });
      if (!r.ok) throw toApiError(await r.json().catch(() => undefined), r);
    },
    // Closing changes `stdin`; a write to one that exited meanwhile, its state.
    onSettled: invalidate,
  });
}
