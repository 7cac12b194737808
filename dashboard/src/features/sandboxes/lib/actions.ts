// Which row and page actions a sandbox's state allows: the API refuses the others.
import type { Schemas } from "@/api/client";
import { isLive } from "./polling";

export type SandboxAction = "pause" | "resume" | "delete";

export const ACTION_LABELS: Record<SandboxAction, string> = { pause: "Pause", resume: "Resume", delete: "Delete" };

export function canDo(action: SandboxAction, sandbox: Pick<Schemas["SandboxView"], "state">): boolean {
  if (action === "pause") return sandbox.state === "running";
  if (action === "resume") return sandbox.state === "paused";
  return isLive(sandbox);
}
