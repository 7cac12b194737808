// A container sandbox's preview URLs: signing one for a port (`POST …/previews`). Nothing is
// listed or cached: the server keeps no record of them, and each answer is shown as it came.
import { useMutation } from "@tanstack/react-query";

import { api } from "@/api/client";
import { unwrap } from "@/api/problem";

import type { PreviewRequest } from "../lib/previews";

export function useCreatePreview(sandboxId: string) {
  return useMutation({
    mutationFn: async (body: PreviewRequest) =>
      unwrap(await api.POST("/v1/sandboxes/{id}/previews", { params: { path: { id: sandboxId } }, body })),
  });
}
