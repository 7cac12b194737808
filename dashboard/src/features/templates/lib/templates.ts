// How templates read: when one can still change (and the pages poll), the form's checks and
// the request it becomes, which form field a problem names, and the log's address. Pure, no
// React: unit-tested beside.
import type { Schemas } from "@/api/client";
import { tar } from "@/lib/tar";

export type Template = Schemas["TemplateView"];
export type TemplateState = Schemas["TemplateState"];

/** The Dockerfile the New template form starts with. */
export const EXAMPLE_DOCKERFILE = "FROM python\nRUN echo ready\n";

/** Longest build the API allows, and its default, in seconds. */
export const MAX_BUILD_TIMEOUT_S = 3600;
export const DEFAULT_BUILD_TIMEOUT_S = 600;

/** Refreshed this often while a template is queued or building. */
export const TEMPLATE_POLL_MS = 3_000;

/** Whether a version can still change by itself (its build has not ended). */
export function isBuilding(t: Pick<Template, "state">): boolean {
  return t.state === "queued" || t.state === "building";
}

/** TanStack Query's `refetchInterval` for a list of templates (or a template's versions). */
export function templatesRefetchInterval(list: { data: Pick<Template, "state">[] } | undefined): number | false {
  return list?.data.some(isBuilding) ? TEMPLATE_POLL_MS : false;
}

/** The detail page of a template, at one version or its newest. */
export function templatePath(name: string, version?: number): string {
  const base = `/templates/${encodeURIComponent(name)}`;
  return version === undefined ? base : `${base}?version=${version}`;
}

/** `GET /v1/templates/{name}/logs` of one version. */
export function templateLogUrl(name: string, version: number): string {
  return `/v1/templates/${encodeURIComponent(name)}/logs?version=${version}`;
}

/** The `?version=` of a detail page: a whole number from 1, else none (the newest). */
export function parseVersion(raw: string | null): number | undefined {
  if (raw === null || !/^\d+$/.test(raw)) return undefined;
  const v = Number(raw);
  return v >= 1 && Number.isSafeInteger(v) ? v : undefined;
}

/** The New template form. */
export interface TemplateForm {
  name: string;
  dockerfile: string;
  network: boolean;
  /** Seconds, as typed; empty for the API's default. */
  timeout: string;
}

export type TemplateField = "name" | "dockerfile" | "timeout";
export type TemplateErrors = Partial<Record<TemplateField, string>>;

export function initialTemplateForm(name = ""): TemplateForm {
  return { name, dockerfile: EXAMPLE_DOCKERFILE, network: false, timeout: "" };
}

/** Checks the browser makes before asking the server; the server checks the name's rules. */
export function checkTemplateForm(form: TemplateForm): TemplateErrors {
  const errors: TemplateErrors = {};
  if (!form.name.trim()) errors.name = "Give the template a name, e.g. my-env.";
  if (!form.dockerfile.trim()) errors.dockerfile = "Write the Dockerfile: at least a FROM line.";
  const t = form.timeout.trim();
  if (t !== "") {
    const n = Number(t);
    if (!Number.isInteger(n) || n < 1 || n > MAX_BUILD_TIMEOUT_S)
      errors.timeout = `Timeout must be a whole number of seconds from 1 to ${MAX_BUILD_TIMEOUT_S}.`;
  }
  return errors;
}

/** What `POST /v1/templates` is sent: its query, and the build context (a tar holding `Dockerfile`). */
export interface BuildRequest {
  query: { name: string; network?: boolean; timeout_s?: number };
  context: Uint8Array<ArrayBuffer>;
}

export function toBuildRequest(form: TemplateForm, mtime?: number): BuildRequest {
  const query: BuildRequest["query"] = { name: form.name.trim() };
  if (form.network) query.network = true;
  if (form.timeout.trim() !== "") query.timeout_s = Number(form.timeout.trim());
  // A Dockerfile ends with a newline, as an editor saves it.
  const text = form.dockerfile.endsWith("\n") ? form.dockerfile : `${form.dockerfile}\n`;
  return { query, context: tar([{ name: "Dockerfile", data: text, mtime }]) };
}

/**
 * The form field a problem is about: the `field` a 422 names (`name`, `timeout_s`,
 * `dockerfile`), or the Dockerfile for a base that is not ready (`template_not_ready`).
 * `null`: not a field's (an alert says it).
 */
export function fieldOfTemplateProblem(problem: { field?: string | null; code?: string }): TemplateField | null {
  if (problem.field === "name") return "name";
  if (problem.field === "timeout_s") return "timeout";
  if (problem.field === "dockerfile") return "dockerfile";
  if (problem.code === "template_not_ready") return "dockerfile";
  return null;
}

/** The templates a sandbox can run now: those whose newest version is ready, by name. */
export function readyTemplates(list: readonly Template[]): Template[] {
  return list.filter((t) => t.state === "ready").sort((a, b) => a.name.localeCompare(b.name));
}
