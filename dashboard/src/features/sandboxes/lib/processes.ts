// A container sandbox's background processes as the Processes panel reads them: the Start
// process form and the request it becomes (a shell line run with `sh -c`, env as NAME=VALUE
// lines, a timeout in seconds), the form field of a problem's `field`, how a command and an
// exit read in the table, and when the list polls. Pure, unit-tested beside.
import type { Schemas } from "@/api/client";

export type ProcessInfo = Schemas["ProcessInfo"];
export type ProcessSpec = Schemas["ProcessSpec"];
export type ProcessSignal = Schemas["SignalRequest"]["signal"];

/** How often the list is read again while any process runs. */
export const PROCESS_POLL_MS = 2_000;

/** The longest `timeout_ms` the API takes: 7 days, here in seconds. */
export const MAX_PROCESS_TIMEOUT_S = 7 * 24 * 3600;

/** The API's default working directory. */
export const DEFAULT_CWD = "/workspace";

export interface StartForm {
  /** A shell line, run as `sh -c <line>`. */
  command: string;
  tag: string;
  cwd: string;
  /** Seconds; empty for none. */
  timeout: string;
  stdin: boolean;
  /** NAME=VALUE, one a line. */
  env: string;
}

export type StartField = "command" | "tag" | "cwd" | "timeout" | "env";
export type StartErrors = Partial<Record<StartField, string>>;

export function initialStartForm(): StartForm {
  return { command: "", tag: "", cwd: "", timeout: "", stdin: false, env: "" };
}

/**
 * `NAME=VALUE` lines as an object: blank lines are skipped, the name is trimmed, the value is
 * everything after the first `=` (kept as written, `=` and spaces and all).
 */
export function parseEnvLines(text: string): { env: Record<string, string> } | { error: string } {
  const env: Record<string, string> = {};
  const lines = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === "") continue;
    const eq = line.indexOf("=");
    if (eq < 0) return { error: `Line ${i + 1}: write NAME=VALUE (no “=” in “${line.trim()}”).` };
    const name = line.slice(0, eq).trim();
    if (name === "") return { error: `Line ${i + 1}: the variable needs a name before “=”.` };
    if (Object.hasOwn(env, name)) return { error: `Line ${i + 1}: ${name} is set twice.` };
    env[name] = line.slice(eq + 1);
  }
  return { env };
}

/**
 * The request the form becomes, or a message per field the browser can tell is wrong. The
 * server checks the rest (a tag's characters, an absolute cwd) and names the field it refuses.
 */
export function toStartRequest(form: StartForm): { body: ProcessSpec } | { errors: StartErrors } {
  const errors: StartErrors = {};
  if (form.command.trim() === "") errors.command = "Enter a shell line to run.";
  let timeoutMs: number | undefined;
  if (form.timeout.trim() !== "") {
    const s = Number(form.timeout.trim());
    if (!Number.isFinite(s) || s <= 0 || s > MAX_PROCESS_TIMEOUT_S)
      errors.timeout = `Give a number of seconds above 0, at most ${MAX_PROCESS_TIMEOUT_S.toLocaleString("en")} (7 days).`;
    else timeoutMs = Math.max(1, Math.round(s * 1000));
  }
  const env = parseEnvLines(form.env);
  if ("error" in env) errors.env = env.error;
  if (Object.keys(errors).length > 0 || "error" in env) return { errors };

  const body: ProcessSpec = { command: ["sh", "-c", form.command] };
  if (Object.keys(env.env).length > 0) body.env = env.env;
  if (form.cwd.trim() !== "") body.cwd = form.cwd.trim();
  if (form.tag !== "") body.tag = form.tag;
  if (timeoutMs !== undefined) body.timeout_ms = timeoutMs;
  if (form.stdin) body.stdin = true;
  return { body };
}

/** The form's field for a problem's `field` (the API's request field names), or `null`. */
export function fieldOfProblem(field: string | null): StartField | null {
  if (!field) return null;
  const f = field.replace(/[[.].*$/, "");
  if (f === "command") return "command";
  if (f === "tag") return "tag";
  if (f === "cwd") return "cwd";
  if (f === "timeout_ms") return "timeout";
  if (f === "env") return "env";
  return null;
}

/** One argument as a POSIX shell reads it back: as is when plain, else in single quotes. */
export function shellQuote(arg: string): string {
  if (arg !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** An argv as a shell line: `["sh", "-c", "echo hi"]` → `sh -c 'echo hi'`. */
export function formatCommand(argv: readonly string[]): string {
  return argv.map(shellQuote).join(" ");
}

/** Signal names by number, for the exits a signal caused (128 + n). */
const SIGNALS: Record<number, string> = { 1: "HUP", 2: "INT", 3: "QUIT", 6: "ABRT", 9: "KILL", 15: "TERM" };

/** `0`, `143 (TERM)`, `137 (KILL, timed out)`; `—` while it runs or without a code. */
export function describeExit(p: Pick<ProcessInfo, "state" | "exit_code" | "timed_out">): string {
  if (p.state === "running") return "—";
  if (p.exit_code === null || p.exit_code === undefined) return p.timed_out ? "— (timed out)" : "—";
  const notes: string[] = [];
  const signal = p.exit_code > 128 ? SIGNALS[p.exit_code - 128] : undefined;
  if (signal) notes.push(signal);
  if (p.timed_out) notes.push("timed out");
  return notes.length > 0 ? `${p.exit_code} (${notes.join(", ")})` : String(p.exit_code);
}

/** Newest first (the API lists them oldest first). */
export function sortProcesses(processes: readonly ProcessInfo[]): ProcessInfo[] {
  return [...processes].sort((a, b) => b.pid - a.pid);
}

/** TanStack Query's `refetchInterval` for the list: while any process runs, and not after. */
export function processesRefetchInterval(list: { processes: readonly Pick<ProcessInfo, "state">[] } | undefined): number | false {
  return list?.processes.some((p) => p.state === "running") ? PROCESS_POLL_MS : false;
}

/** `…/processes` of a sandbox, and `…/processes/{pid}` with `rest` after it. */
export function processUrl(sandboxId: string, pid?: number, rest = ""): string {
  const base = `/v1/sandboxes/${encodeURIComponent(sandboxId)}/processes`;
  return pid === undefined ? base : `${base}/${pid}${rest}`;
}
