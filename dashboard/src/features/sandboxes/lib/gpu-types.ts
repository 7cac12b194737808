// The GPU types the wizard offers, named as runners' inventories name them ("H100 80GB": a
// request's `gpu.type` is compared with the card model ignoring case and spacing).

export interface GpuType {
  /** `gpu.type` in the request. */
  model: string;
  /** What the person reads. */
  label: string;
}

export const GPU_TYPES: readonly GpuType[] = [
  { model: "T4 16GB", label: "T4 16 GB" },
  { model: "A10 24GB", label: "A10 24 GB" },
  { model: "L40 48GB", label: "L40 48 GB" },
  { model: "L40S 48GB", label: "L40S 48 GB" },
  { model: "A100 40GB", label: "A100 40 GB" },
  { model: "A100 80GB", label: "A100 80 GB" },
  { model: "H100 80GB", label: "H100 80 GB" },
];

export const GPU_FRACTIONS = [0.25, 0.5, 0.75, 1] as const;
export const MAX_GPU_COUNT = 8;

/** The same model, as the server compares them. */
export function sameModel(a: string, b: string): boolean {
  const n = (s: string) => s.trim().split(/\s+/).join(" ").toLowerCase();
  return n(a) === n(b);
}

/** Whether a fraction may go with a count: below a whole card only for one card. */
export function fractionAllowed(fraction: number, count: number): boolean {
  return fraction === 1 || count === 1;
}
