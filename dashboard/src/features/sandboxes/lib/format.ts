// How sandboxes' figures read in the table: pure functions, unit-tested beside. The ones any
// page uses (bytes, durations, ids) are in `@/lib/format`, re-exported here.

export { formatBytes, formatDuration, secondsBetween, shortId } from "@/lib/format";

/** A GPU share as the API returns it in `SandboxView.gpu`. */
export interface GpuShare {
  type?: string;
  count?: number | null;
  fraction?: number | null;
}

function asGpuShare(gpu: unknown): GpuShare | null {
  if (typeof gpu !== "object" || gpu === null) return null;
  return gpu as GpuShare;
}

/** `H100 80GB × 1 @ 50 %`; `—` without a GPU. */
export function formatGpu(gpu: unknown): string {
  const g = asGpuShare(gpu);
  if (!g || !g.type) return "—";
  const count = g.count ?? 1;
  const fraction = g.fraction ?? 1;
  return `${g.type} × ${count} @ ${Math.round(fraction * 100)} %`;
}

/** `1 CPU`, `0.5 CPU`, `4 CPUs`. */
export function formatCpu(cpu: number): string {
  return `${cpu} CPU${cpu === 1 || cpu < 1 ? "" : "s"}`;
}
