// The project's API keys (list, create: the secret in that answer only, revoke) and its
// webhook signing secret. Owners only: a plain member gets 403 `not_an_owner`.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, type Schemas } from "@/api/client";
import { unwrap } from "@/api/problem";
import { useCurrentProject } from "@/features/auth/components/current-project";

export type ApiKey = Schemas["KeyView"];
export type CreatedKey = Schemas["CreatedKey"];

export const keysKeys = {
  list: (projectId: string | null) => ["keys", projectId] as const,
  webhookSecret: (projectId: string | null) => ["webhook-secret", projectId] as const,
};

export function useKeys() {
  const { project } = useCurrentProject();
  return useQuery({
    queryKey: keysKeys.list(project?.id ?? null),
    queryFn: async ({ signal }) => unwrap(await api.GET("/v1/keys", { signal })).data,
  });
}

export function useCreateKey() {
  const queryClient = useQueryClient();
  const { project } = useCurrentProject();
  return useMutation({
    mutationFn: async (name: string) => unwrap(await api.POST("/v1/keys", { body: { name } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keysKeys.list(project?.id ?? null) }),
  });
}

export function useRevokeKey() {
  const queryClient = useQueryClient();
  const { project } = useCurrentProject();
  return useMutation({
    mutationFn: async (id: string) => unwrap(await api.DELETE("/v1/keys/{id}", { params: { path: { id } } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keysKeys.list(project?.id ?? null) }),
  });
}

/** Read only once asked for (`enabled`): a secret is not fetched to sit unseen in memory. */
export function useWebhookSecret(enabled: boolean) {
  const { project } = useCurrentProject();
  return useQuery({
    queryKey: keysKeys.webhookSecret(project?.id ?? null),
    queryFn: async ({ signal }) => unwrap(await api.GET("/v1/webhook-secret", { signal })).secret,
    enabled,
    staleTime: Infinity,
    gcTime: 0,
  });
}
