// How jobs read: what their `request` and `result` hold (the API types them as open objects),
// when a job can still change, and where its artifacts are. Pure, unit-tested beside.
import type { Schemas } from "@/api/client";

export type Job = Schemas["JobView"];

/** A job's status filter values, as `GET /v1/jobs?status=` takes them. */
export const JOB_STATUSES = [
  "queued",
  "running",
  "succeeded",
  "failed",
  "timeout",
  "memory_limit",
  "output_limit",
  "disk_limit",
  "cancelled",
  "error",
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** Refreshed this often while a job is queued or running. */
export const JOB_POLL_MS = 5_000;

/** A file a container job kept from `/outputs`. */
export interface Artifact {
  path: string;
  size: number;
}

/** The fields of a finished job's `result` the pages show (exec and container jobs). */
export interface JobResult {
  status?: string;
  exit_code?: number | null;
  message?: string | null;
  stdout?: string;
  stderr?: string;
  duration_ms?: number;
  oom_killed?: boolean;
  artifacts?: Artifact[];
  artifacts_omitted?: number;
  metrics?: unknown;
  sandbox_id?: string;
}

export function jobResult(job: Pick<Job, "result">): JobResult | null {
  return (job.result as JobResult | null | undefined) ?? null;
}

export function isContainerJob(job: Pick<Job, "kind">): boolean {
  return job.kind === "container";
}

export function isActive(job: Pick<Job, "status">): boolean {
  return job.status === "queued" || job.status === "running";
}

/** TanStack Query's `refetchInterval` for one job. */
export function jobRefetchInterval(job: Pick<Job, "status"> | undefined): number | false {
  return job && isActive(job) ? JOB_POLL_MS : false;
}

/** … and for pages of the list: while any listed job can still change. */
export function jobsRefetchInterval(pages: { data: Pick<Job, "status">[] }[] | undefined): number | false {
  return pages?.some((p) => p.data.some(isActive)) ? JOB_POLL_MS : false;
}

/** What ran: the image and command of a container job, the language and first line of code of an exec job. */
export function describeJob(job: { kind: string; language: string; request: object }): string {
  const r = job.request as { image?: unknown; command?: unknown };
  if (isContainerJob(job) && typeof r.image === "string") {
    // Arguments with spaces quoted, so `sh -c "a; b"` reads as the argv it is.
    const quote = (a: unknown) => (typeof a === "string" && !/[\s"']/.test(a) ? a : JSON.stringify(a));
    const command = Array.isArray(r.command) ? ` ${r.command.map(quote).join(" ")}` : "";
    return `${r.image}${command}`;
  }
  const code = (job.request as { code?: unknown }).code;
  const first = typeof code === "string" ? code.split("\n").find((l) => l.trim()) : undefined;
  if (!first) return job.language;
  return `${job.language}: ${first.length > 60 ? `${first.slice(0, 59)}…` : first}`;
}

/** `GET /v1/jobs/{id}/artifacts/{path}`, each segment of the path encoded, its slashes kept. */
export function artifactUrl(jobId: string, path: string): string {
  const encoded = path.split("/").map(encodeURIComponent).join("/");
  return `/v1/jobs/${encodeURIComponent(jobId)}/artifacts/${encoded}`;
}

/** The file name a download is saved as: the path's last segment. */
export function artifactFileName(path: string): string {
  return path.split("/").filter(Boolean).pop() ?? "artifact";
}
