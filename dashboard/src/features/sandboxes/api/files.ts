// A sandbox's files: a folder's listing (`GET …/files?path=`), making a folder (`POST
// …/directories/{path}`), deleting (`DELETE …/files/{path}`), uploading (`PUT`, through
// XMLHttpRequest for its progress) and downloading (`GET`). Paths go into URLs name by name
// (`lib/files.ts`), so the calls with a path are made with `sessionFetch`, not openapi-fetch
// (which would encode the path's slashes). Every change invalidates the sandbox's listings.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, sessionFetch, sessionHeadersFor } from "@/api/client";
import { ApiError, toApiError, unwrap } from "@/api/problem";
import { useCurrentProject } from "@/features/auth/components/current-project";
import { downloadAs } from "@/lib/download";

import { directoryUrl, fileUrl, type FileInfo } from "../lib/files";
import { sandboxKey } from "./sandbox";

export const filesKeys = {
  all: (projectId: string | null, id: string) => [...sandboxKey(projectId, id), "files"] as const,
  dir: (projectId: string | null, id: string, dir: string) => [...filesKeys.all(projectId, id), dir] as const,
};

/** The entries of folder `dir` (not below it). Not polled: Refresh reads it again. */
export function useFileList(sandboxId: string, dir: string, enabled: boolean) {
  const { project } = useCurrentProject();
  return useQuery({
    queryKey: filesKeys.dir(project?.id ?? null, sandboxId, dir),
    queryFn: async ({ signal }) =>
      unwrap(
        await api.GET("/v1/sandboxes/{id}/files", {
          params: { path: { id: sandboxId }, query: { path: dir, recursive: false } },
          signal,
        }),
      ),
    enabled,
    // A folder read a moment ago is shown at once, and read again.
    staleTime: 0,
  });
}

async function failed(response: Response): Promise<ApiError> {
  return toApiError(await response.json().catch(() => undefined), response);
}

/** Reads the sandbox's listings again (after a change, or uploads, which are not mutations). */
export function useInvalidateFiles(sandboxId: string) {
  const queryClient = useQueryClient();
  const { project } = useCurrentProject();
  return () => queryClient.invalidateQueries({ queryKey: filesKeys.all(project?.id ?? null, sandboxId) });
}

/** Makes folder `path` and the parents it lacks. */
export function useMakeDirectory(sandboxId: string) {
  const invalidate = useInvalidateFiles(sandboxId);
  return useMutation({
    mutationFn: async (path: string): Promise<FileInfo> => {
      const r = await sessionFetch(directoryUrl(sandboxId, path), { method: "POST" });
      if (!r.ok) throw await failed(r);
      return (await r.json()) as FileInfo;
    },
    onSettled: invalidate,
  });
}

/** Deletes a file, or a folder with everything in it. */
export function useDeleteEntry(sandboxId: string) {
  const invalidate = useInvalidateFiles(sandboxId);
  return useMutation({
    mutationFn: async (entry: Pick<FileInfo, "path" | "type">): Promise<void> => {
      const recursive = entry.type === "directory";
      const r = await sessionFetch(`${fileUrl(sandboxId, entry.path)}?recursive=${recursive}`, { method: "DELETE" });
      if (!r.ok) throw await failed(r);
    },
    onSettled: invalidate,
  });
}

export interface Upload {
  /** Resolves to the new file's info; rejects with an ApiError (or an AbortError). */
  done: Promise<FileInfo>;
  abort: () => void;
}

/**
 * Uploads `file` to `path` (created with its parents, or replaced): `PUT` of its bytes through
 * XMLHttpRequest, the one browser API that reports an upload's progress.
 */
export function uploadFile(
  sandboxId: string,
  path: string,
  file: Blob,
  onProgress: (sent: number, total: number) => void,
): Upload {
  const xhr = new XMLHttpRequest();
  const done = new Promise<FileInfo>((resolve, reject) => {
    xhr.open("PUT", fileUrl(sandboxId, path));
    xhr.withCredentials = true;
    sessionHeadersFor("PUT").forEach((value, name) => xhr.setRequestHeader(name, value));
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.responseType = "text";
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      const headers = new Headers();
      const type = xhr.getResponseHeader("Content-Type");
      if (type) headers.set("Content-Type", type);
      const retry = xhr.getResponseHeader("Retry-After");
      if (retry) headers.set("Retry-After", retry);
      const response = new Response(null, { status: xhr.status, statusText: xhr.statusText, headers });
      let body: unknown;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = undefined;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as FileInfo);
      else reject(toApiError(body, response));
    };
    // As `fetch` fails: a TypeError for the network, an AbortError when stopped.
    xhr.onerror = () => reject(new TypeError("Failed to upload"));
    xhr.onabort = () => reject(new DOMException("The upload was stopped", "AbortError"));
    xhr.send(file);
  });
  return { done, abort: () => xhr.abort() };
}

/** Saves the file at `path` through `fetch` with the session's headers (`X-Sbx-Project`). */
export async function downloadFile(sandboxId: string, path: string, name: string): Promise<void> {
  await downloadAs(fileUrl(sandboxId, path), name);
}
