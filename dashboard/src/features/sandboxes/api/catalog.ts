// What a sandbox can be made of: the curated images and the GPUs free now.
import { useQuery } from "@tanstack/react-query";

import { api, type Schemas } from "@/api/client";
import { unwrap } from "@/api/problem";

/** One curated image. */
export type CatalogImage = Schemas["CatalogImage"];

export function useImages() {
  return useQuery({
    queryKey: ["images"],
    queryFn: async () => unwrap(await api.GET("/v1/images")),
    staleTime: 5 * 60_000,
  });
}

/** Free GPUs change as sandboxes come and go: refreshed while the wizard shows them. */
export function useGpus(enabled: boolean) {
  return useQuery({
    queryKey: ["gpus"],
    queryFn: async () => unwrap(await api.GET("/v1/gpus")),
    enabled,
    refetchInterval: enabled ? 10_000 : false,
  });
}
