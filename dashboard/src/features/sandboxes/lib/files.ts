// A sandbox's files as the Files panel reads them: guest paths (`/workspace/data/a.csv`), their
// URLs (`…/files/workspace/data/a.csv`, each name percent-encoded), the breadcrumb, the order
// of a folder's entries and what a new folder may be called. Pure, unit-tested beside.
import type { Schemas } from "@/api/client";

export type FileInfo = Schemas["FileInfo"];
export type EntryType = FileInfo["type"];

/** The trees a sandbox's files live in: `/workspace` for both kinds, `/outputs` for containers. */
export const WORKSPACE = "/workspace";
export const OUTPUTS = "/outputs";

export function treesOf(kind: string): string[] {
  return kind === "container" ? [WORKSPACE, OUTPUTS] : [WORKSPACE];
}

/** The names of a guest path: `/workspace/a b` → `["workspace", "a b"]`. */
function namesOf(path: string): string[] {
  return path.split("/").filter((n) => n !== "");
}

/** `dir` and `name` joined: `/workspace` + `a.txt` → `/workspace/a.txt`. */
export function joinPath(dir: string, name: string): string {
  return `/${[...namesOf(dir), name].join("/")}`;
}

/** The last name of a path: `/workspace/data/a.csv` → `a.csv`. */
export function baseName(path: string): string {
  return namesOf(path).at(-1) ?? "";
}

/** The tree a path is in: `/outputs/x` → `/outputs`; `/workspace` for anything else. */
export function treeOf(path: string): string {
  const first = namesOf(path)[0];
  return first === "outputs" ? OUTPUTS : WORKSPACE;
}

/** The URL path of a guest path below `…/{id}/{route}/`: its names, each percent-encoded. */
function routeUrl(sandboxId: string, route: "files" | "directories", path: string): string {
  return `/v1/sandboxes/${encodeURIComponent(sandboxId)}/${route}/${namesOf(path).map(encodeURIComponent).join("/")}`;
}

/** `GET`, `PUT`, `DELETE` of one file: `/workspace/a b.txt` → `…/files/workspace/a%20b.txt`. */
export function fileUrl(sandboxId: string, path: string): string {
  return routeUrl(sandboxId, "files", path);
}

/** `POST` makes the folder (and its parents). */
export function directoryUrl(sandboxId: string, path: string): string {
  return routeUrl(sandboxId, "directories", path);
}

export interface Crumb {
  name: string;
  path: string;
}

/** The breadcrumb of a folder: `/workspace/a/b` → `/workspace`, `a`, `b`, each with its path. */
export function crumbsOf(dir: string): Crumb[] {
  const names = namesOf(dir);
  return names.map((name, i) => ({
    name: i === 0 ? `/${name}` : name,
    path: `/${names.slice(0, i + 1).join("/")}`,
  }));
}

/** Folders first, then the rest, each by name as the server sorted them (a stable sort). */
export function sortEntries(entries: readonly FileInfo[]): FileInfo[] {
  return [...entries].sort((a, b) => Number(b.type === "directory") - Number(a.type === "directory"));
}

export const TYPE_LABELS: Record<EntryType, string> = {
  file: "File",
  directory: "Folder",
  symlink: "Link",
  other: "Other",
};

/** Why `name` cannot be a new folder's name, or `null` when it can. */
export function folderNameProblem(name: string): string | null {
  if (name.trim() === "") return "Give the folder a name.";
  if (name.includes("/")) return "A name cannot hold “/”: make one folder at a time.";
  if (name === "." || name === "..") return "“.” and “..” are not names a folder can have.";
  if (name.includes("\0")) return "A name cannot hold a NUL character.";
  if (new TextEncoder().encode(name).length > 255) return "A name is at most 255 bytes long.";
  return null;
}

/** `42 %` of an upload, from bytes sent of `total`; `null` while the total is unknown. */
export function percentOf(sent: number, total: number): number | null {
  if (!(total > 0)) return null;
  return Math.min(100, Math.floor((sent / total) * 100));
}
