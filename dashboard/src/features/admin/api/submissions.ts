// Identity checks for operators: the list by status, each one's document, and deciding one
// (verify, or reject with a reason). Not scoped to a project: operators review every person.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, csrfHeader, type Schemas } from "@/api/client";
import { unwrap } from "@/api/problem";
import { downloadAs } from "@/lib/download";

export type Submission = Schemas["SubmissionView"];

/** The list's filter, as `GET /admin/kyc?status=` takes it. */
export const SUBMISSION_STATUSES = ["pending", "verified", "rejected", "all"] as const;
export type SubmissionStatus = (typeof SUBMISSION_STATUSES)[number];

export type Decision = "verify" | "reject";

export const submissionsKeys = {
  all: ["admin", "kyc"] as const,
  list: (status: SubmissionStatus) => ["admin", "kyc", status] as const,
};

export function useSubmissions(status: SubmissionStatus) {
  return useQuery({
    queryKey: submissionsKeys.list(status),
    queryFn: async ({ signal }) =>
      unwrap(await api.GET("/admin/kyc", { params: { query: { status } }, signal })).data,
  });
}

export function useDecide() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async ({ id, decision, reason }: { id: string; decision: Decision; reason?: string }) =>
      unwrap(
        await api.POST("/admin/kyc/{id}/{decision}", {
          params: { path: { id, decision }, header: csrfHeader() },
          body: { reason: reason || null },
        }),
      ),
    onSettled: () => queryClient.invalidateQueries({ queryKey: submissionsKeys.all }),
  });
}

/**
 * Saves a submission's ID document (the cookie is all the API needs; a Blob shows failures),
 * under the name the server gives it (`submission-<id>.png`), not the one uploaded.
 */
export function downloadDocument(submission: Pick<Submission, "id">): Promise<void> {
  return downloadAs(`/admin/kyc/${encodeURIComponent(submission.id)}/document`);
}
