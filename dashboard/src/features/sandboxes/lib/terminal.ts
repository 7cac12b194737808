// A container sandbox's terminal as the Terminal panel speaks to it: the WebSocket's URL
// (`GET /v1/sandboxes/{id}/pty`, same origin, the session cookie, the project in the query), the server's text messages
// (`ready`, `exit`, `error`), the client's (`resize`), input cut into frames the server takes,
// the running terminals a page can reattach to, and what an end reads as. Pure, unit-tested beside.
import type { ProcessInfo } from "./processes";

/** The sizes the server takes for `cols` and `rows`. */
export const MIN_SIZE = 1;
export const MAX_SIZE = 1000;

/** The most input bytes the server takes in one frame. */
export const MAX_INPUT_FRAME = 64 * 1024;

export interface TerminalSize {
  cols: number;
  rows: number;
}

/** A size as the server takes it: whole, from 1 to 1000 (80×24 for what is not a number). */
export function clampSize({ cols, rows }: TerminalSize): TerminalSize {
  const clamp = (n: number, fallback: number) =>
    Number.isFinite(n) ? Math.min(MAX_SIZE, Math.max(MIN_SIZE, Math.round(n))) : fallback;
  return { cols: clamp(cols, 80), rows: clamp(rows, 24) };
}

/**
 * The terminal's WebSocket URL on the page's own origin (`ws:`, or `wss:` under https), for a
 * new shell, or with `pid` to reattach to a running one. `project` names the current project
 * as `X-Sbx-Project` does for the other calls: a browser's WebSocket cannot send headers.
 */
export function ptyUrl(
  location: Pick<Location, "protocol" | "host">,
  sandboxId: string,
  size: TerminalSize,
  { pid = null, project = null }: { pid?: number | null; project?: string | null } = {},
): string {
  const { cols, rows } = clampSize(size);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = new URLSearchParams({ cols: String(cols), rows: String(rows) });
  if (pid !== null) query.set("pid", String(pid));
  if (project) query.set("project", project);
  return `${scheme}://${location.host}/v1/sandboxes/${encodeURIComponent(sandboxId)}/pty?${query}`;
}

/** A text frame the server sends. */
export type ServerMessage =
  | { type: "ready"; pid: number }
  | { type: "exit"; exitCode: number | null }
  | { type: "error"; detail: string };

/** A text frame as a message, or `null` for one this page does not know. */
export function parseServerMessage(text: string): ServerMessage | null {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof m !== "object" || m === null || !("type" in m)) return null;
  const o = m as Record<string, unknown>;
  if (o.type === "ready" && typeof o.pid === "number" && Number.isInteger(o.pid)) return { type: "ready", pid: o.pid };
  if (o.type === "exit") {
    return { type: "exit", exitCode: typeof o.exit_code === "number" ? o.exit_code : null };
  }
  if (o.type === "error") {
    return { type: "error", detail: typeof o.detail === "string" && o.detail ? o.detail : "The terminal reported an error." };
  }
  return null;
}

/** The text frame that tells the server the terminal's size. */
export function resizeMessage(size: TerminalSize): string {
  const { cols, rows } = clampSize(size);
  return JSON.stringify({ type: "resize", cols, rows });
}

/** `bytes` in frames of at most `max` bytes (a long paste is several frames). */
export function inputFrames(bytes: Uint8Array, max = MAX_INPUT_FRAME): Uint8Array[] {
  if (bytes.length <= max) return bytes.length > 0 ? [bytes] : [];
  const frames: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += max) frames.push(bytes.subarray(at, at + max));
  return frames;
}

/** Whether a listed process is a terminal (started by `/pty`). */
export function isTerminal(p: ProcessInfo): boolean {
  return p.tty === true;
}

/** The terminals still running, newest first, other than `except` (the one shown). */
export function runningTerminals(processes: readonly ProcessInfo[], except: number | null = null): ProcessInfo[] {
  return processes
    .filter((p) => isTerminal(p) && p.state === "running" && p.pid !== except)
    .sort((a, b) => b.pid - a.pid);
}

/** `Terminal 3 exited with code 0.`; `Terminal 3 ended.` without a code. */
export function exitSentence(pid: number | null, exitCode: number | null): string {
  const name = pid === null ? "The terminal" : `Terminal ${pid}`;
  return exitCode === null ? `${name} ended.` : `${name} exited with code ${exitCode}.`;
}
