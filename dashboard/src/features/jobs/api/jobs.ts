// The project's jobs: the list (newest first, a page at a time, polling while any listed job
// is queued or running), one job (polling likewise), cancelling one, and its artifacts.
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, type Schemas } from "@/api/client";
import { unwrap } from "@/api/problem";
import { useCurrentProject } from "@/features/auth/components/current-project";
import { downloadAs } from "@/lib/download";

import { artifactFileName, artifactUrl, jobRefetchInterval, jobsRefetchInterval, type JobStatus } from "../lib/jobs";

const PAGE_SIZE = 50;

export const jobsKeys = {
  all: (projectId: string | null) => ["jobs", projectId] as const,
  list: (projectId: string | null, status: JobStatus | undefined) =>
    ["jobs", projectId, "list", status ?? "all"] as const,
  detail: (projectId: string | null, id: string) => ["jobs", projectId, "detail", id] as const,
};

export function useJobs(status: JobStatus | undefined) {
  const { project } = useCurrentProject();
  return useInfiniteQuery({
    queryKey: jobsKeys.list(project?.id ?? null, status),
    queryFn: async ({ pageParam, signal }) =>
      unwrap(
        await api.GET("/v1/jobs", {
          params: { query: { status, limit: PAGE_SIZE, cursor: pageParam } },
          signal,
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last: Schemas["JobPage"]) => last.next_cursor ?? undefined,
    refetchInterval: (query) => jobsRefetchInterval(query.state.data?.pages),
  });
}

export function useJob(id: string) {
  const { project } = useCurrentProject();
  return useQuery({
    queryKey: jobsKeys.detail(project?.id ?? null, id),
    queryFn: async ({ signal }) => unwrap(await api.GET("/v1/jobs/{id}", { params: { path: { id } }, signal })),
    refetchInterval: (query) => jobRefetchInterval(query.state.data),
  });
}

export function useCancelJob() {
  const queryClient = useQueryClient();
  const { project } = useCurrentProject();
  return useMutation({
    mutationFn: async (id: string) =>
      unwrap(await api.POST("/v1/jobs/{id}/cancel", { params: { path: { id } } })),
    onSuccess: (job) => queryClient.setQueryData(jobsKeys.detail(project?.id ?? null, job.id), job),
    onSettled: () => queryClient.invalidateQueries({ queryKey: jobsKeys.all(project?.id ?? null) }),
  });
}

/**
 * Saves an artifact through `fetch` with the session's headers (a plain link cannot send
 * `X-Sbx-Project`, which the API needs from a person in several projects).
 */
export async function downloadArtifact(jobId: string, path: string): Promise<void> {
  await downloadAs(artifactUrl(jobId, path), artifactFileName(path));
}
