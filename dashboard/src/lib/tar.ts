// A tar archive written in the browser (POSIX ustar): for a template's build context, which
// the API takes as a tar body. Regular files only, which is all a context made from a form
// holds. Pure, unit-tested beside (its output is also read back with the system's `tar`).
//
// Each file is a 512-byte header (name, mode, owner, size and mtime in octal, a checksum, type
// `0`, the `ustar` magic) followed by its bytes padded to a multiple of 512; two zero blocks end
// the archive.

const BLOCK = 512;
/** The largest size 11 octal digits hold: 8 GiB − 1. */
const MAX_SIZE = 0o77777777777;

/** One regular file of an archive. */
export interface TarFile {
  /** Its path in the archive, relative (`Dockerfile`, `app/main.py`). */
  name: string;
  /** Its bytes, or text (written as UTF-8). */
  data: Uint8Array | string;
  /** Permission bits; 0644 by default. */
  mode?: number;
  /** Modification time in seconds since the epoch; now by default. */
  mtime?: number;
}

const encoder = new TextEncoder();

/** `value` in `width - 1` octal digits, zero-padded, then a NUL: a ustar numeric field. */
function octal(value: number, width: number): string {
  const digits = Math.floor(value).toString(8);
  if (value < 0 || digits.length > width - 1) throw new RangeError(`${value} does not fit a ${width}-byte tar field`);
  return `${digits.padStart(width - 1, "0")}\0`;
}

/** Writes a field (text as UTF-8, or bytes) at `offset`; the rest of the field stays zero. */
function put(header: Uint8Array, offset: number, field: string | Uint8Array) {
  header.set(typeof field === "string" ? encoder.encode(field) : field, offset);
}

/**
 * A path's `name` (≤ 100 bytes) and `prefix` (≤ 155 bytes) fields: split at a `/` when the
 * whole path does not fit in `name`. Throws for a path that fits neither way, an absolute
 * one, or one with `..` (the API refuses those).
 */
export function splitName(path: string): { name: Uint8Array; prefix: Uint8Array } {
  if (!path || path.startsWith("/") || path.split("/").includes("..") || path.includes("\0")) {
    throw new Error(`${JSON.stringify(path)}: a tar path is relative, without '..'`);
  }
  const bytes = encoder.encode(path);
  if (bytes.length <= 100) return { name: bytes, prefix: new Uint8Array(0) };
  // The last `/` that leaves at most 155 bytes before it and at most 100 after.
  for (let i = Math.min(bytes.length - 2, 155); i > 0; i--) {
    if (bytes[i] === 0x2f && bytes.length - i - 1 <= 100) {
      return { name: bytes.slice(i + 1), prefix: bytes.slice(0, i) };
    }
  }
  throw new Error(`${JSON.stringify(path)}: too long for a tar header`);
}

/** The sum of a header's bytes with its checksum field counted as eight spaces. */
export function headerChecksum(header: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return sum;
}

/** The 512-byte ustar header of a regular file of `size` bytes. */
export function tarHeader(file: { name: string; size: number; mode?: number; mtime?: number }): Uint8Array {
  if (!Number.isInteger(file.size) || file.size < 0 || file.size > MAX_SIZE) {
    throw new RangeError(`${file.name}: ${file.size} bytes is not a size a tar header holds`);
  }
  const { name, prefix } = splitName(file.name);
  const h = new Uint8Array(BLOCK);
  put(h, 0, name); // name[100]
  put(h, 100, octal(file.mode ?? 0o644, 8)); // mode[8]
  put(h, 108, octal(0, 8)); // uid[8]
  put(h, 116, octal(0, 8)); // gid[8]
  put(h, 124, octal(file.size, 12)); // size[12]
  put(h, 136, octal(file.mtime ?? Math.floor(Date.now() / 1000), 12)); // mtime[12]
  put(h, 156, "0"); // typeflag: a regular file
  put(h, 257, "ustar\0"); // magic[6]
  put(h, 263, "00"); // version[2]
  put(h, 345, prefix); // prefix[155]
  // chksum[8]: six octal digits, a NUL and a space, summed with the field as spaces.
  put(h, 148, `${octal(headerChecksum(h), 7)} `);
  return h;
}

/** A tar archive of `files`, in order. */
export function tar(files: readonly TarFile[]): Uint8Array<ArrayBuffer> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const f of files) {
    const data = typeof f.data === "string" ? encoder.encode(f.data) : f.data;
    const header = tarHeader({ name: f.name, size: data.length, mode: f.mode, mtime: f.mtime });
    const padded = Math.ceil(data.length / BLOCK) * BLOCK;
    parts.push(header, data, new Uint8Array(padded - data.length));
    total += BLOCK + padded;
  }
  total += 2 * BLOCK; // the end: two zero blocks
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
