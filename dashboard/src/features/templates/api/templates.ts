// The project's templates: the list (the newest version of each name, polled while any is
// queued or building), one template's versions (likewise), building one (its context a tar
// made in the browser, sent raw) and deleting one; each change invalidates the project's
// template queries.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, type Schemas } from "@/api/client";
import { unwrap } from "@/api/problem";
import { useCurrentProject } from "@/features/auth/components/current-project";

import { templatesRefetchInterval, toBuildRequest, type TemplateForm } from "../lib/templates";

export const templatesKeys = {
  all: (projectId: string | null) => ["templates", projectId] as const,
  list: (projectId: string | null) => ["templates", projectId, "list"] as const,
  versions: (projectId: string | null, name: string) => ["templates", projectId, "versions", name] as const,
};

/** The newest version of each template; `enabled` false to not ask (the wizard, closed). */
export function useTemplates({ enabled = true }: { enabled?: boolean } = {}) {
  const { project } = useCurrentProject();
  return useQuery({
    queryKey: templatesKeys.list(project?.id ?? null),
    queryFn: async ({ signal }) => unwrap(await api.GET("/v1/templates", { signal })),
    refetchInterval: (query) => templatesRefetchInterval(query.state.data),
    enabled,
  });
}

/** Every version of template `name`, newest first. */
export function useTemplateVersions(name: string) {
  const { project } = useCurrentProject();
  return useQuery({
    queryKey: templatesKeys.versions(project?.id ?? null, name),
    queryFn: async ({ signal }) =>
      unwrap(await api.GET("/v1/templates/{name}/versions", { params: { path: { name } }, signal })),
    refetchInterval: (query) => templatesRefetchInterval(query.state.data),
  });
}

/** Reads the project's templates again (a build ended: its state and size changed). */
export function useInvalidateTemplates() {
  const queryClient = useQueryClient();
  const { project } = useCurrentProject();
  return () => queryClient.invalidateQueries({ queryKey: templatesKeys.all(project?.id ?? null) });
}

/**
 * Builds a template (a new version of it when the name exists): the form's Dockerfile as the
 * one file of a tar, sent as the body with `Content-Type: application/x-tar`; the client's
 * middleware adds the CSRF token and project as to any call.
 */
export function useCreateTemplate() {
  const queryClient = useQueryClient();
  const { project } = useCurrentProject();
  return useMutation({
    mutationFn: async (form: TemplateForm) => {
      const { query, context } = toBuildRequest(form);
      return unwrap(
        await api.POST("/v1/templates", {
          params: { query },
          // The schema types the tar as a string; it goes as the bytes, not serialised as JSON.
          body: context as unknown as string,
          bodySerializer: (body: unknown) => body,
          headers: { "Content-Type": "application/x-tar" },
        }),
      );
    },
    onSuccess: (created) => {
      const projectId = project?.id ?? null;
      // Its page shows the new version at once, then reads the rest again.
      queryClient.setQueryData<Schemas["TemplateList"]>(
        templatesKeys.versions(projectId, created.name),
        (list) => list && { data: [created, ...list.data.filter((v) => v.version !== created.version)] },
      );
      return queryClient.invalidateQueries({ queryKey: templatesKeys.all(projectId) });
    },
  });
}

/**
 * Deletes a template: every version, with their logs. Only the list is read again: the
 * deleted template's own page is left (its versions would be a 404 now).
 */
export function useDeleteTemplate() {
  const queryClient = useQueryClient();
  const { project } = useCurrentProject();
  return useMutation({
    mutationFn: async (name: string) =>
      unwrap(await api.DELETE("/v1/templates/{name}", { params: { path: { name } } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: templatesKeys.list(project?.id ?? null) }),
  });
}
