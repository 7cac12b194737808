// The Wallet's server state: usage reports (`GET /v1/usage`, by resource, sandbox or day over
// a range of whole UTC days ending today), the rates (`GET /v1/prices`) and the monthly budget
// (`GET`/`PUT /v1/budget`; setting it is for the project's owners: others get 403
// `not_an_owner`). The budget is read again every 10 s: its watcher checks every 5 s.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, type Schemas } from "@/api/client";
import { unwrap } from "@/api/problem";
import { useCurrentProject } from "@/features/auth/components/current-project";
import { sandboxesKeys } from "@/features/sandboxes/api/sandboxes";

import { rangeStart, type GroupBy } from "../lib/usage";

export type BudgetRequest = Schemas["BudgetRequest"];

export const BUDGET_POLL_MS = 10_000;

export const walletKeys = {
  usage: (projectId: string | null, groupBy: GroupBy, from: string) => ["usage", projectId, groupBy, from] as const,
  prices: ["prices"] as const,
  budget: (projectId: string | null) => ["budget", projectId] as const,
};

/** The report grouped by `groupBy` over the last `days` UTC days, today's included. */
export function useUsage(groupBy: GroupBy, days: number) {
  const { project } = useCurrentProject();
  const from = rangeStart(days, Date.now());
  return useQuery({
    queryKey: walletKeys.usage(project?.id ?? null, groupBy, from),
    queryFn: async ({ signal }) =>
      unwrap(await api.GET("/v1/usage", { params: { query: { group_by: groupBy, from } }, signal })),
  });
}

export function usePrices() {
  return useQuery({
    queryKey: walletKeys.prices,
    queryFn: async ({ signal }) => unwrap(await api.GET("/v1/prices", { signal })),
    staleTime: 5 * 60_000,
  });
}

export function useBudget() {
  const { project } = useCurrentProject();
  return useQuery({
    queryKey: walletKeys.budget(project?.id ?? null),
    queryFn: async ({ signal }) => unwrap(await api.GET("/v1/budget", { signal })),
    refetchInterval: BUDGET_POLL_MS,
  });
}

/** Sets (or, with nulls, removes) the limit and the webhook; the answer is checked at once. */
export function useSetBudget() {
  const queryClient = useQueryClient();
  const { project } = useCurrentProject();
  return useMutation({
    mutationFn: async (body: BudgetRequest) => unwrap(await api.PUT("/v1/budget", { body })),
    onSuccess: (budget) => {
      queryClient.setQueryData(walletKeys.budget(project?.id ?? null), budget);
      // Exceeded: its running sandboxes were just paused.
      return queryClient.invalidateQueries({ queryKey: sandboxesKeys.all(project?.id ?? null) });
    },
  });
}
