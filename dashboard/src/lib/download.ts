// Downloads through `fetch` with the session's headers, saved as a Blob: for what a plain link
// cannot fetch (a header the API needs, or an error to show instead of a broken file).
import { sessionFetch } from "@/api/client";
import { toApiError } from "@/api/problem";

/** Saves a Blob as a file named `name`, as a download link would. */
export function saveBlob(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  // After the click has handed the URL to the download.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The file name a `Content-Disposition` header gives (`filename="a.png"` or `filename=a.png`). */
export function fileNameOfDisposition(header: string | null): string | null {
  const m = header?.match(/filename\*?=(?:UTF-8'')?(?:"([^"]*)"|([^;\s]+))/i);
  const name = m?.[1] ?? m?.[2];
  if (!name) return null;
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}

/**
 * Fetches `path` with the session and saves it as `name`, or without one as the server names it
 * (`Content-Disposition`; the server's name, not one a person chose, for what people upload).
 * A failure throws its ApiError.
 */
export async function downloadAs(path: string, name?: string): Promise<void> {
  const response = await sessionFetch(path);
  if (!response.ok) throw toApiError(await response.json().catch(() => undefined), response);
  const fileName = name ?? fileNameOfDisposition(response.headers.get("Content-Disposition")) ?? "download";
  saveBlob(await response.blob(), fileName);
}
