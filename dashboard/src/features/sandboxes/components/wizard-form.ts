// The Create Sandbox wizard's form: its fields, the step each belongs to, the checks the
// browser makes before asking the server, and the request the form becomes. Pure: no React.
import type { RefObject } from "react";

import type { CreateSandbox } from "../api/sandboxes";
import { fractionAllowed, MAX_GPU_COUNT } from "../lib/gpu-types";
import {
  allowListProblem,
  checkAllowList,
  hasNetworkChoice,
  toNetworkSetting,
  type NetworkChoice,
} from "../lib/network";
import { checkPortList, portListProblem, toPortsSetting } from "../lib/ports";

export const STEPS = ["GPU", "Image", "Configuration"] as const;
export const CUSTOM = "__custom__";
export const DEFAULT_IMAGE = "code-interpreter";

export type FieldName =
  | "gpuType"
  | "gpuCount"
  | "gpuFraction"
  | "image"
  | "customImage"
  | "registryUsername"
  | "registryPassword"
  | "cpu"
  | "memory"
  | "timeout"
  | "env"
  | "network"
  | "allowList"
  | "ports"
  | "project";

export const STEP_OF: Record<FieldName, number> = {
  gpuType: 0,
  gpuCount: 0,
  gpuFraction: 0,
  image: 1,
  customImage: 1,
  registryUsername: 1,
  registryPassword: 1,
  cpu: 2,
  memory: 2,
  timeout: 2,
  env: 2,
  network: 2,
  allowList: 2,
  ports: 2,
  project: 2,
};

export interface EnvRow {
  key: number;
  name: string;
  value: string;
}

export interface Form {
  gpuType: string;
  gpuCount: string;
  gpuFraction: string;
  image: string;
  customImage: string;
  registryUsername: string;
  registryPassword: string;
  cpu: string;
  memory: string;
  timeout: string;
  env: EnvRow[];
  /** A container's network; not sent for a code-interpreter. */
  network: NetworkChoice;
  /** The allow list as typed: one host name, address or CIDR range a line. */
  allowList: string;
  /** A container's declared ports as typed: numbers separated by commas or spaces. */
  ports: string;
  projectId: string;
}

/** A message per field at fault. */
export type FieldErrors = Partial<Record<FieldName, string>>;

/** What every step gets from the wizard: the form, its errors, and the means to change them. */
export interface StepProps {
  form: Form;
  errors: FieldErrors;
  /** Sets one field and clears its error. */
  set: <K extends keyof Form>(key: K, value: Form[K]) => void;
  /** A callback ref recording a field's element, so the focus can be moved to it. */
  fieldRef: (name: FieldName) => (el: HTMLElement | null) => void;
  /** The step's heading, focused when the step is shown. */
  headingRef: RefObject<HTMLHeadingElement | null>;
}

export function initialForm(projectId: string): Form {
  return {
    gpuType: "",
    gpuCount: "1",
    gpuFraction: "1",
    image: DEFAULT_IMAGE,
    customImage: "",
    registryUsername: "",
    registryPassword: "",
    cpu: "1",
    memory: "512Mi",
    timeout: "3600",
    env: [],
    network: "none",
    allowList: "",
    ports: "",
    projectId,
  };
}

/** The wizard's field for a problem's `field` (the API's request field names). */
export function fieldOfProblem(field: string, custom: boolean): FieldName | null {
  const f = field.replace(/\[.*$/, "");
  if (f === "gpu.count") return "gpuCount";
  if (f === "gpu.fraction") return "gpuFraction";
  if (f.startsWith("gpu")) return "gpuType";
  if (f === "image") return custom ? "customImage" : "image";
  if (f.startsWith("registry.password")) return "registryPassword";
  if (f.startsWith("registry")) return "registryUsername";
  if (f === "cpu") return "cpu";
  if (f === "memory") return "memory";
  if (f === "timeout_s") return "timeout";
  if (f.startsWith("env")) return "env";
  if (f.startsWith("network.allow")) return "allowList";
  if (f.startsWith("network")) return "network";
  if (f === "ports") return "ports";
  return null;
}

/**
 * What to show next to the field of a problem: the allow list's names the line at fault, the
 * ports' the port at fault.
 */
export function messageOfProblem(field: string, detail: string, form: Form): string {
  const at = fieldOfProblem(field, form.image === CUSTOM);
  if (at === "allowList") return allowListProblem(field, detail, form.allowList);
  if (at === "ports") return portListProblem(field, detail, form.ports);
  return detail;
}

/** The image the request names. */
function requestImage(form: Form): string {
  return form.image === CUSTOM ? form.customImage.trim() : form.image;
}

/** Whether the form offers a network choice: for containers, not a code-interpreter. */
export function offersNetwork(form: Form): boolean {
  return hasNetworkChoice(requestImage(form));
}

/** Whether the form offers declared ports: for containers too (a code-interpreter has none). */
export function offersPorts(form: Form): boolean {
  return hasNetworkChoice(requestImage(form));
}

/** Checks the browser can make before asking the server; the server checks the rest. */
export function checkStep(step: number, form: Form): FieldErrors {
  const errors: FieldErrors = {};
  if (step === 0 && form.gpuType) {
    const n = Number(form.gpuCount);
    if (!Number.isInteger(n) || n < 1 || n > MAX_GPU_COUNT)
      errors.gpuCount = `Count must be a whole number from 1 to ${MAX_GPU_COUNT}.`;
    else if (!fractionAllowed(Number(form.gpuFraction), n))
      errors.gpuFraction = "A fraction below 100 % is a share of one card: set Count to 1.";
  }
  if (step === 1 && form.image === CUSTOM) {
    if (!form.customImage.trim()) errors.customImage = "Enter an image reference, e.g. ghcr.io/org/image:tag.";
    if (form.registryPassword && !form.registryUsername.trim())
      errors.registryUsername = "A registry password needs a username.";
    if (form.registryUsername.trim() && !form.registryPassword)
      errors.registryPassword = "A registry username needs a password.";
  }
  if (step === 2) {
    const cpu = Number(form.cpu);
    if (form.cpu.trim() === "" || !Number.isFinite(cpu) || cpu <= 0)
      errors.cpu = "CPU must be a number of cores above 0, e.g. 1 or 0.5.";
    if (!form.memory.trim()) errors.memory = "Memory is a quantity such as 512Mi or 2Gi.";
    const t = Number(form.timeout);
    if (!Number.isInteger(t) || t < 1) errors.timeout = "Timeout must be a whole number of seconds, at least 1.";
    const names = form.env.map((r) => r.name.trim()).filter(Boolean);
    if (form.env.some((r) => !r.name.trim() && r.value)) errors.env = "Every variable with a value needs a name.";
    else if (new Set(names).size !== names.length) errors.env = "Each variable name may be used once.";
    const allowList = offersNetwork(form) ? checkAllowList(form.network, form.allowList) : null;
    if (allowList) errors.allowList = allowList;
    const ports = offersPorts(form) ? checkPortList(form.ports) : null;
    if (ports) errors.ports = ports;
  }
  return errors;
}

export function toRequest(form: Form): CreateSandbox {
  const custom = form.image === CUSTOM;
  const body: CreateSandbox = {
    image: requestImage(form),
    cpu: Number(form.cpu),
    memory: form.memory.trim(),
    timeout_s: Number(form.timeout),
  };
  const env = Object.fromEntries(form.env.filter((r) => r.name.trim()).map((r) => [r.name.trim(), r.value]));
  if (Object.keys(env).length > 0) body.env = env;
  if (form.gpuType) {
    body.gpu = { type: form.gpuType, count: Number(form.gpuCount), fraction: Number(form.gpuFraction) };
  }
  if (custom && form.registryUsername.trim()) {
    body.registry = { username: form.registryUsername.trim(), password: form.registryPassword };
  }
  const network = offersNetwork(form) ? toNetworkSetting(form.network, form.allowList) : undefined;
  // The cast goes once `schema.d.ts` is regenerated: until then `network` is typed a boolean.
  if (network !== undefined) body.network = network as CreateSandbox["network"];
  const ports = offersPorts(form) ? toPortsSetting(form.ports) : undefined;
  if (ports !== undefined) body.ports = ports;
  return body;
}
