// The identity document a person uploads: which files the API takes (`document` of
// `POST /auth/kyc`: PNG, JPEG or PDF, at most 10 MiB) and how a file becomes its base64.
// The checks are pure and unit-tested; reading the file is the one browser-only part.
import { formatBytes } from "@/lib/format";

/** The media types the API accepts, with what the file input shows. */
export const DOCUMENT_TYPES = {
  "image/png": [".png"],
  "image/jpeg": [".jpg", ".jpeg"],
  "application/pdf": [".pdf"],
} as const;
export type DocumentType = keyof typeof DOCUMENT_TYPES;

/** The file input's `accept`. */
export const DOCUMENT_ACCEPT = Object.entries(DOCUMENT_TYPES)
  .flatMap(([type, extensions]) => [type, ...extensions])
  .join(",");

/** The API's cap on the decoded document. */
export const MAX_DOCUMENT_BYTES = 10 * 1024 * 1024;

/**
 * The document's media type: the browser's, or from the extension when it gave none (some
 * systems do not know `.jpeg`); `null` when it is none of the accepted ones.
 */
export function documentType(file: { name: string; type: string }): DocumentType | null {
  if (file.type) return file.type in DOCUMENT_TYPES ? (file.type as DocumentType) : null;
  const extension = file.name.toLowerCase().match(/\.[a-z0-9]+$/)?.[0];
  const found = Object.entries(DOCUMENT_TYPES).find(([, exts]) => (exts as readonly string[]).includes(extension ?? ""));
  return found ? (found[0] as DocumentType) : null;
}

/** What is wrong with a chosen file, for the person; `null` when the API will take it. */
export function documentProblem(file: { name: string; type: string; size: number }): string | null {
  if (documentType(file) === null) return "Choose a PNG, JPEG or PDF file.";
  if (file.size === 0) return "The file is empty.";
  if (file.size > MAX_DOCUMENT_BYTES) {
    return `The file is over the ${formatBytes(MAX_DOCUMENT_BYTES)} limit (${formatBytes(file.size)}).`;
  }
  return null;
}

/** The base64 of a `data:` URL as FileReader's `readAsDataURL` gives it. */
export function base64OfDataUrl(dataUrl: string): string {
  const comma = dataUrl.indexOf(",");
  if (!dataUrl.startsWith("data:") || comma < 0 || !dataUrl.slice(0, comma).endsWith(";base64")) {
    throw new Error("not a base64 data URL");
  }
  return dataUrl.slice(comma + 1);
}

/** Reads a file into base64 (FileReader: no size limit of `btoa` over a string). */
export function readAsBase64(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      try {
        resolve(base64OfDataUrl(String(reader.result)));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    };
    reader.onerror = () => reject(reader.error ?? new Error("the file could not be read"));
    reader.readAsDataURL(file);
  });
}

/** Which of the form's fields a problem's `field` is about (`document.content_type` → `document`). */
export type KycField = "legal_name" | "country" | "date_of_birth" | "document";

export function kycFieldOfProblem(field: string | null): KycField | null {
  if (!field) return null;
  const head = field.split(".")[0];
  return head === "legal_name" || head === "country" || head === "date_of_birth" || head === "document" ? head : null;
}
