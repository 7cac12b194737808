// The project's sandboxes: the list (polling while any can change), creation and the row
// actions, each invalidating the list when done.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, type Schemas } from "@/api/client";
import type { operations } from "@/api/schema";
import { unwrap } from "@/api/problem";
import { useCurrentProject } from "@/features/auth/components/current-project";
import type { SandboxAction } from "../lib/actions";
import { sandboxesRefetchInterval } from "../lib/polling";

export type Sandbox = Schemas["SandboxView"];
export type SandboxState = NonNullable<
  NonNullable<operations["list_sandboxes"]["parameters"]["query"]>["state"]
>;
export type CreateSandbox = Schemas["CreateSandbox"];

/** Newest first; the API's largest page. */
const PAGE_SIZE = 200;

export const sandboxesKeys = {
  all: (projectId: string | null) => ["sandboxes", projectId] as const,
  list: (projectId: string | null, state: SandboxState | undefined) =>
    ["sandboxes", projectId, "list", state ?? "all"] as const,
};

export function useSandboxes(state: SandboxState | undefined) {
  const { project } = useCurrentProject();
  return useQuery({
    queryKey: sandboxesKeys.list(project?.id ?? null, state),
    queryFn: async ({ signal }) =>
      unwrap(await api.GET("/v1/sandboxes", { params: { query: { state, limit: PAGE_SIZE } }, signal })),
    refetchInterval: (query) => sandboxesRefetchInterval(query.state.data),
  });
}

/** A UUID for `Idempotency-Key`; crypto.randomUUID needs a secure context, this does not. */
export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function useCreateSandbox() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async ({ body, projectId }: { body: CreateSandbox; projectId: string | null }) => {
      const headers: Record<string, string> = { "Idempotency-Key": newIdempotencyKey() };
      if (projectId) headers["X-Sbx-Project"] = projectId;
      return unwrap(await api.POST("/v1/sandboxes", { body, headers: headers as never }));
    },
    onSuccess: (created, { projectId }) => {
      // Show the new row at once, then let the list catch up with the server.
      queryClient.setQueryData<Schemas["SandboxPage"]>(
        sandboxesKeys.list(projectId, undefined),
        (page) => page && { ...page, data: [created, ...page.data.filter((s) => s.id !== created.id)] },
      );
      return queryClient.invalidateQueries({ queryKey: sandboxesKeys.all(projectId) });
    },
  });
}

export type { SandboxAction };

export function useSandboxAction() {
  const queryClient = useQueryClient();
  const { project } = useCurrentProject();
  return useMutation({
    mutationFn: async ({ id, action }: { id: string; action: SandboxAction }) => {
      const path = { params: { path: { id } } };
      if (action === "pause") return unwrap(await api.POST("/v1/sandboxes/{id}/pause", path));
      if (action === "resume") return unwrap(await api.POST("/v1/sandboxes/{id}/resume", path));
      return unwrap(await api.DELETE("/v1/sandboxes/{id}", path));
    },
    onSettled: () => queryClient.invalidateQueries({ queryKey: sandboxesKeys.all(project?.id ?? null) }),
  });
}
