// A container sandbox's declared ports, as the wizard asks for them (`ports` of
// `POST /v1/sandboxes`: a list typed as numbers separated by commas or spaces), as the Ports
// panel declares one more (`POST …/ports`) and lists them (`GET …/ports`), and as the Sandbox
// page's details show them. Pure, unit-tested beside.
import type { Schemas } from "@/api/client";

import { MAX_PORT, MIN_PORT } from "./previews";

export type PortView = Schemas["PortView"];
export type PortList = Schemas["PortList"];
export type ExposePort = Schemas["ExposePort"];

export { MAX_PORT, MIN_PORT };

/** How many ports a sandbox may declare (the server checks it too). */
export const MAX_DECLARED_PORTS = 16;

/** How often the Ports panel reads `GET …/ports` while the sandbox runs. */
export const PORTS_POLL_MS = 3_000;

const RANGE = `${MIN_PORT} to ${MAX_PORT.toLocaleString("en")}`;

/** A port as typed, or `null` when it is not a whole number from 1 to 65535. */
export function parsePort(text: string): number | null {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return null;
  const port = Number(t);
  return port >= MIN_PORT && port <= MAX_PORT ? port : null;
}

/** The entries of a list of ports as typed: separated by commas, spaces or new lines. */
export function splitPorts(text: string): string[] {
  return text.split(/[\s,]+/).filter(Boolean);
}

/**
 * The wizard's list of ports, or what is wrong with it: each a whole number from 1 to 65535,
 * each once, at most 16. An empty list is fine (nothing is sent).
 */
export function parsePortList(text: string): { ports: number[] } | { error: string } {
  const entries = splitPorts(text);
  const ports: number[] = [];
  for (const entry of entries) {
    const port = parsePort(entry);
    if (port === null) return { error: `“${entry}” is not a port: give whole numbers from ${RANGE}.` };
    if (ports.includes(port)) return { error: `Port ${port} is listed twice: give each port once.` };
    ports.push(port);
  }
  if (ports.length > MAX_DECLARED_PORTS)
    return { error: `At most ${MAX_DECLARED_PORTS} ports: ${ports.length} are listed.` };
  return { ports };
}

/** The wizard's message for its list of ports, or `null` when it can be sent. */
export function checkPortList(text: string): string | null {
  const parsed = parsePortList(text);
  return "error" in parsed ? parsed.error : null;
}

/** The request's `ports`: the list as typed, in its order; `undefined` when it is empty. */
export function toPortsSetting(text: string): number[] | undefined {
  const parsed = parsePortList(text);
  return "ports" in parsed && parsed.ports.length > 0 ? parsed.ports : undefined;
}

/** The entry a problem's `field` names (`ports[2]` → 2), or `null`. */
export function portIndexOfProblem(field: string | null): number | null {
  const m = /^ports\[(\d+)\]/.exec(field ?? "");
  return m ? Number(m[1]) : null;
}

/**
 * What to show at the wizard's list of ports for a problem the server gave: its detail,
 * preceded by the port at fault when the field names an entry (`Port 8000: …`), unless the
 * detail starts with it already (the server's `8000: this port is listed already`).
 */
export function portListProblem(field: string | null, detail: string, text: string): string {
  const index = portIndexOfProblem(field);
  const entry = index === null ? undefined : splitPorts(text)[index];
  if (entry === undefined) return detail;
  const port = parsePort(entry);
  const named = [entry, port === null ? null : String(port)].some((e) => e !== null && detail.startsWith(`${e}:`));
  return named ? detail : `Port ${entry}: ${detail}`;
}

export type DeclareField = "port";
export type DeclareErrors = Partial<Record<DeclareField, string>>;

/**
 * The Declare a port form's request, or its message: a port from 1 to 65535, and room for it
 * when it is not declared already (declaring one again changes nothing).
 */
export function toDeclareRequest(text: string, declared: readonly number[]): { body: ExposePort } | { errors: DeclareErrors } {
  if (text.trim() === "") return { errors: { port: "Enter the port to declare." } };
  const port = parsePort(text);
  if (port === null) return { errors: { port: `Give a port from ${RANGE}.` } };
  if (!declared.includes(port) && declared.length >= MAX_DECLARED_PORTS)
    return { errors: { port: `At most ${MAX_DECLARED_PORTS} ports can be declared, and this sandbox has ${declared.length}.` } };
  return { body: { port } };
}

/** The Declare a port form's field for a problem's `field`, or `null`. */
export function fieldOfDeclareProblem(field: string | null): DeclareField | null {
  return field === "port" ? "port" : null;
}

/** A sandbox's declared ports as the API gives them (always a list; absent from older views). */
export function declaredPorts(sandbox: { ports?: readonly number[] | null }): number[] {
  return [...(sandbox.ports ?? [])].sort((a, b) => a - b);
}

/** `8000, 9000`; `None` when there are none. */
export function formatPorts(ports: readonly number[]): string {
  return ports.length ? ports.join(", ") : "None";
}

/** The ports of `GET …/ports`, ascending (as the server gives them; sorted again to be sure). */
export function sortPorts(ports: readonly PortView[]): PortView[] {
  return [...ports].sort((a, b) => a.port - b.port);
}

/** `GET …/ports` is read again every few seconds while the sandbox runs: a server may come up. */
export function portsRefetchInterval(sandbox: { state: string }): number | false {
  return sandbox.state === "running" ? PORTS_POLL_MS : false;
}

/** The row's words for whether a server listens on a port now. */
export function listeningLabel(port: Pick<PortView, "listening">): string {
  return port.listening ? "listening" : "not listening";
}
