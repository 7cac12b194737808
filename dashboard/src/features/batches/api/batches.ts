// The project's batches: the list (newest first, a page at a time, polling while any listed
// batch runs), one batch (polling likewise), cancelling one, and its items' results.
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, type Schemas } from "@/api/client";
import { unwrap } from "@/api/problem";
import { useCurrentProject } from "@/features/auth/components/current-project";

import { BATCH_POLL_MS, batchesRefetchInterval, batchRefetchInterval } from "../lib/batches";

const PAGE_SIZE = 20;
const RESULTS_PAGE_SIZE = 100;

export const batchesKeys = {
  all: (projectId: string | null) => ["batches", projectId] as const,
  list: (projectId: string | null) => ["batches", projectId, "list"] as const,
  detail: (projectId: string | null, id: string) => ["batches", projectId, "detail", id] as const,
  results: (projectId: string | null, id: string) => ["batches", projectId, "results", id] as const,
};

export function useBatches() {
  const { project } = useCurrentProject();
  return useInfiniteQuery({
    queryKey: batchesKeys.list(project?.id ?? null),
    queryFn: async ({ pageParam, signal }) =>
      unwrap(await api.GET("/v1/batches", { params: { query: { limit: PAGE_SIZE, cursor: pageParam } }, signal })),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last: Schemas["BatchPage"]) => last.next_cursor ?? undefined,
    refetchInterval: (query) => batchesRefetchInterval(query.state.data?.pages),
  });
}

export function useBatch(id: string) {
  const { project } = useCurrentProject();
  return useQuery({
    queryKey: batchesKeys.detail(project?.id ?? null, id),
    queryFn: async ({ signal }) => unwrap(await api.GET("/v1/batches/{id}", { params: { path: { id } }, signal })),
    refetchInterval: (query) => batchRefetchInterval(query.state.data),
  });
}

/** The results, a page at a time; refreshed with the batch while it runs (`live`). */
export function useBatchResults(id: string, live: boolean) {
  const { project } = useCurrentProject();
  return useInfiniteQuery({
    queryKey: batchesKeys.results(project?.id ?? null, id),
    queryFn: async ({ pageParam, signal }) =>
      unwrap(
        await api.GET("/v1/batches/{id}/results", {
          params: { path: { id }, query: { limit: RESULTS_PAGE_SIZE, cursor: pageParam } },
          signal,
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last: Schemas["ResultPage"]) => last.next_cursor ?? undefined,
    refetchInterval: live ? BATCH_POLL_MS : false,
  });
}

export function useCancelBatch() {
  const queryClient = useQueryClient();
  const { project } = useCurrentProject();
  return useMutation({
    mutationFn: async (id: string) =>
      unwrap(await api.POST("/v1/batches/{id}/cancel", { params: { path: { id } } })),
    onSuccess: (batch) => queryClient.setQueryData(batchesKeys.detail(project?.id ?? null, batch.id), batch),
    onSettled: () => queryClient.invalidateQueries({ queryKey: batchesKeys.all(project?.id ?? null) }),
  });
}
