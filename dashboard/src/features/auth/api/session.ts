// The session: server state like everything else, read with TanStack Query. `null` when
// nobody is signed in.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import type { Session } from "@/api/client";
import { api } from "@/api/client";
import { toApiError, unwrap } from "@/api/problem";

export const sessionQueryKey = ["session"] as const;

async function fetchSession(): Promise<Session | null> {
  const r = await api.GET("/auth/session");
  if (r.response.status === 401) return null;
  return unwrap(r);
}

export function useSession() {
  return useQuery({
    queryKey: sessionQueryKey,
    queryFn: fetchSession,
    staleTime: Infinity,
    retry: false,
  });
}

export function useSignIn() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (body: { email: string; password: string }) => {
      return unwrap(await api.POST("/auth/login", { body }));
    },
    onSuccess: (session) => {
      queryClient.removeQueries({ predicate: (q) => q.queryKey[0] !== sessionQueryKey[0] });
      queryClient.setQueryData(sessionQueryKey, session);
    },
  });
}

/** Sign out of this session, or (`everywhere`) of every session of the person. */
export function useSignOut() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (everywhere: boolean) => {
      const csrf = queryClient.getQueryData<Session | null>(sessionQueryKey)?.csrf_token ?? "";
      const options = { params: { header: { "X-CSRF-Token": csrf } } };
      const r = everywhere
        ? await api.POST("/auth/logout-all", options)
        : await api.POST("/auth/logout", options);
      // 401: the session was already gone; signed out either way.
      if (!r.response.ok && r.response.status !== 401) throw toApiError(r.error, r.response);
    },
    onSuccess: () => {
      queryClient.clear();
      queryClient.setQueryData(sessionQueryKey, null);
    },
  });
}
