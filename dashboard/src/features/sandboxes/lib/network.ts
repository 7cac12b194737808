// A container sandbox's network, as the wizard asks for it and the Sandbox page shows it: none
// (loopback only), full, or an allow list of host names, addresses and CIDR ranges reached
// through the server's egress proxy. Pure, unit-tested beside.

/**
 * `network` of `POST /v1/sandboxes` and of the sandbox the API answers: `false` (loopback
 * only, the default), `true` (full), or `{ allow: [...] }`. Typed here until `schema.d.ts` is
 * regenerated from the server that has it (there `CreateSandbox.network` is still a plain
 * boolean and `SandboxView` has none).
 */
export type NetworkSetting = boolean | { allow: string[] };

/** The wizard's choice. */
export type NetworkChoice = "none" | "full" | "allow";

/** The one image that is not a container: the API refuses `network` for it. */
export const INTERPRETER_IMAGE = "code-interpreter";

/** How many entries an allow list may have (the server checks it). */
export const MAX_ALLOW_ENTRIES = 64;

export const NETWORK_CHOICES: readonly { value: NetworkChoice; label: string; hint: string }[] = [
  { value: "none", label: "None", hint: "Loopback only: nothing outside the sandbox is reachable." },
  { value: "full", label: "Full", hint: "A network interface: whatever the server itself can reach." },
  {
    value: "allow",
    label: "Allow list",
    hint: "Only the hosts listed, through an egress proxy (HTTP_PROXY and HTTPS_PROXY are set; DNS answers only those names).",
  },
];

/** Whether a sandbox of `image` (the request's image) can be given a network: containers only. */
export function hasNetworkChoice(image: string): boolean {
  return image.trim() !== INTERPRETER_IMAGE;
}

/** The allow list's entries as typed: one a line, trimmed, blank lines skipped. */
export function parseAllowList(text: string): string[] {
  return text
    .split(/\r\n|\r|\n/)
    .map((l) => l.trim())
    .filter(Boolean);
}

/**
 * The line (from 1) of the text that holds entry `index` of `parseAllowList(text)`, so that
 * the server's `network.allow[index]` can be pointed at; `null` when there is no such entry.
 */
export function lineOfEntry(text: string, index: number): number | null {
  if (!Number.isInteger(index) || index < 0) return null;
  let seen = 0;
  const lines = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.trim()) continue;
    if (seen === index) return i + 1;
    seen++;
  }
  return null;
}

/** The browser's one check: an allow list needs an entry. A message, or `null`. */
export function checkAllowList(choice: NetworkChoice, text: string): string | null {
  if (choice === "allow" && parseAllowList(text).length === 0)
    return "Enter at least one host name, address or CIDR range, one a line.";
  return null;
}

/**
 * The request's `network` for a choice; `undefined` for none (the API's default, so that the
 * request is the same as before there was a choice).
 */
export function toNetworkSetting(choice: NetworkChoice, text: string): NetworkSetting | undefined {
  if (choice === "full") return true;
  if (choice === "allow") return { allow: parseAllowList(text) };
  return undefined;
}

/** The entry a problem's `field` names (`network.allow[2]` → 2), or `null`. */
export function allowIndexOfProblem(field: string | null): number | null {
  const m = /^network\.allow\[(\d+)\]/.exec(field ?? "");
  return m ? Number(m[1]) : null;
}

/**
 * What to show under the allow list for a problem the server gave: its detail, preceded by
 * the line at fault when the field names an entry (`Line 3: …`).
 */
export function allowListProblem(field: string | null, detail: string, text: string): string {
  const index = allowIndexOfProblem(field);
  const line = index === null ? null : lineOfEntry(text, index);
  return line === null ? detail : `Line ${line}: ${detail}`;
}

/** A sandbox's `network` as the API gives it; `null` when absent or not understood. */
export function parseNetworkSetting(value: unknown): NetworkSetting | null {
  if (typeof value === "boolean") return value;
  if (typeof value === "object" && value !== null && "allow" in value && Array.isArray(value.allow)) {
    return { allow: value.allow.filter((e): e is string => typeof e === "string") };
  }
  return null;
}

/**
 * The network of a sandbox as the API answers it. Read with `in`, without a cast: the
 * generated `SandboxView` has no `network` until `schema.d.ts` is regenerated.
 */
export function networkOf(sandbox: object): NetworkSetting | null {
  return "network" in sandbox ? parseNetworkSetting(sandbox.network) : null;
}

/** `None`, `Full`, `Allowed: pypi.org, *.example.com`; `—` when not known. */
export function formatNetwork(network: NetworkSetting | null): string {
  if (network === null) return "—";
  if (network === false) return "None";
  if (network === true) return "Full";
  return `Allowed: ${network.allow.join(", ")}`;
}
