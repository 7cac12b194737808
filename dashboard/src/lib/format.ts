// How bytes, durations and ids read anywhere in the dashboard: pure functions, unit-tested in
// `features/sandboxes/lib/format.test.ts`.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;

/** `512 MiB`, `2 GiB`, `1.5 GiB`. */
export function formatBytes(bytes: number): string {
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u += 1;
  }
  const shown = Number.isInteger(v) ? String(v) : v.toFixed(1).replace(/\.0$/, "");
  return `${shown} ${UNITS[u]}`;
}

/** A duration in seconds, its two largest units: `45 s`, `3 min 20 s`, `2 h 5 min`, `1 d 3 h`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (d > 0) return h ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return m ? `${h} h ${m} min` : `${h} h`;
  if (m > 0) return r ? `${m} min ${r} s` : `${m} min`;
  return `${r} s`;
}

/**
 * The last 8 characters of an id, enough to tell rows apart: ids are UUIDv7, whose first
 * characters are a timestamp shared by sandboxes made within a minute of each other.
 */
export function shortId(id: string): string {
  return id.length > 8 ? id.slice(-8) : id;
}

/** Seconds from `from` to `to` (ISO times or epoch ms). */
export function secondsBetween(from: string | number, to: string | number): number {
  const a = typeof from === "number" ? from : Date.parse(from);
  const b = typeof to === "number" ? to : Date.parse(to);
  return (b - a) / 1000;
}
