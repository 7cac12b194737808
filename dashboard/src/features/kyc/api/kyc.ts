// Submitting an identity check (`POST /auth/kyc`): the person becomes `pending`, which the
// session says, so the session is read again.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";

import { api, csrfHeader, type Schemas } from "@/api/client";
import { unwrap } from "@/api/problem";
import { sessionQueryKey } from "@/features/auth/api/session";

export type KycRequest = Schemas["KycRequest"];

export function useSubmitKyc() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (body: KycRequest) => unwrap(await api.POST("/auth/kyc", { params: { header: csrfHeader() }, body })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: sessionQueryKey }),
  });
}

/** While the person waits for a decision: the session read again now and every 15 s. */
export function useRefreshSessionWhile(waiting: boolean) {
  const queryClient = useQueryClient();
  useEffect(() => {
    if (!waiting) return;
    const refresh = () => queryClient.invalidateQueries({ queryKey: sessionQueryKey });
    refresh();
    const t = setInterval(refresh, 15_000);
    return () => clearInterval(t);
  }, [waiting, queryClient]);
}
