// A container sandbox's ports as the Ports panel reads them: which sandboxes can have a preview
// URL, the form (a port, how long the URL works) and the request it becomes, and the form field
// of a problem's `field`. Pure, unit-tested beside.
import type { Schemas } from "@/api/client";

export type PreviewRequest = Schemas["PreviewRequest"];
export type PreviewView = Schemas["PreviewView"];

export const MIN_PORT = 1;
export const MAX_PORT = 65_535;

/** How long a URL may work, as the panel offers it; the API takes 1 to 86 400 seconds. */
export const EXPIRY_CHOICES: readonly { seconds: number; label: string }[] = [
  { seconds: 900, label: "15 minutes" },
  { seconds: 3600, label: "1 hour" },
  { seconds: 86_400, label: "1 day" },
];

/** The API's default, and the panel's. */
export const DEFAULT_EXPIRES_IN_S = 3600;

export interface PreviewForm {
  /** As typed. */
  port: string;
  /** Seconds, one of `EXPIRY_CHOICES`. */
  expiresIn: number;
}

export type PreviewField = "port" | "expiresIn";
export type PreviewErrors = Partial<Record<PreviewField, string>>;

export function initialPreviewForm(): PreviewForm {
  return { port: "", expiresIn: DEFAULT_EXPIRES_IN_S };
}

/**
 * A preview URL opens a port of a container (a code-interpreter has none) that has not ended:
 * running, or paused (the URL works again once it is resumed).
 */
export function canPreview(sandbox: Pick<Schemas["SandboxView"], "kind" | "state">): boolean {
  return sandbox.kind === "container" && (sandbox.state === "running" || sandbox.state === "paused");
}

/** The request the form becomes, or a message per field the browser can tell is wrong. */
export function toPreviewRequest(form: PreviewForm): { body: PreviewRequest } | { errors: PreviewErrors } {
  const text = form.port.trim();
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < MIN_PORT || port > MAX_PORT) {
    return {
      errors: {
        port:
          text === ""
            ? "Enter the port the server listens on in the sandbox."
            : `Give a port from ${MIN_PORT} to ${MAX_PORT.toLocaleString("en")}.`,
      },
    };
  }
  return { body: { port, expires_in: form.expiresIn } };
}

/** The form's field for a problem's `field` (the API's request field names), or `null`. */
export function fieldOfProblem(field: string | null): PreviewField | null {
  if (field === "port") return "port";
  if (field === "expires_in") return "expiresIn";
  return null;
}
