import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

import { headerChecksum, splitName, tar, tarHeader } from "./tar";

const text = (b: Uint8Array, from: number, to: number) => new TextDecoder().decode(b.slice(from, to));
/** A NUL-terminated field's text. */
const field = (b: Uint8Array, from: number, len: number) => text(b, from, from + len).replace(/\0.*$/s, "");

/** Whether the system has GNU or BSD tar to read archives back with. */
function hasTar(): boolean {
  try {
    execFileSync("tar", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("tarHeader", () => {
  const h = tarHeader({ name: "Dockerfile", size: 25, mtime: 1_700_000_000 });

  it("is one 512-byte block with the ustar fields", () => {
    expect(h.length).toBe(512);
    expect(field(h, 0, 100)).toBe("Dockerfile");
    expect(text(h, 100, 108)).toBe("0000644\0");
    expect(text(h, 108, 116)).toBe("0000000\0");
    expect(text(h, 116, 124)).toBe("0000000\0");
    expect(text(h, 124, 136)).toBe("00000000031\0"); // 25 in octal
    expect(text(h, 136, 148)).toBe(`${(1_700_000_000).toString(8).padStart(11, "0")}\0`);
    expect(text(h, 156, 157)).toBe("0");
    expect(text(h, 257, 263)).toBe("ustar\0");
    expect(text(h, 263, 265)).toBe("00");
    // Unused fields stay zero.
    expect(h.slice(157, 257).every((b) => b === 0)).toBe(true);
    expect(h.slice(265, 512).every((b) => b === 0)).toBe(true);
  });

  it("has the checksum of its bytes with the checksum field as spaces", () => {
    const stored = text(h, 148, 156);
    expect(stored).toMatch(/^[0-7]{6}\0 $/);
    expect(parseInt(stored.slice(0, 6), 8)).toBe(headerChecksum(h));
    // Computed independently: every byte, the field's eight counted as 0x20.
    let sum = 0;
    h.forEach((b, i) => (sum += i >= 148 && i < 156 ? 32 : b));
    expect(parseInt(stored.slice(0, 6), 8)).toBe(sum);
  });

  it("takes another mode", () => {
    expect(text(tarHeader({ name: "run.sh", size: 0, mode: 0o755, mtime: 0 }), 100, 108)).toBe("0000755\0");
  });

  it("defaults the mtime to now", () => {
    const now = Math.floor(Date.now() / 1000);
    const mtime = parseInt(field(tarHeader({ name: "a", size: 0 }), 136, 12), 8);
    expect(Math.abs(mtime - now)).toBeLessThanOrEqual(2);
  });

  it("refuses sizes it cannot hold", () => {
    expect(() => tarHeader({ name: "a", size: -1 })).toThrow(RangeError);
    expect(() => tarHeader({ name: "a", size: 1.5 })).toThrow(RangeError);
    expect(() => tarHeader({ name: "a", size: 8 * 1024 ** 3 })).toThrow(RangeError);
  });
});

describe("splitName", () => {
  it("keeps a path of up to 100 bytes whole", () => {
    const p = "a".repeat(100);
    const { name, prefix } = splitName(p);
    expect(new TextDecoder().decode(name)).toBe(p);
    expect(prefix.length).toBe(0);
  });

  it("splits a longer path at a slash into prefix and name", () => {
    const dir = `${"d".repeat(60)}/${"e".repeat(60)}`;
    const { name, prefix } = splitName(`${dir}/file.txt`);
    expect(new TextDecoder().decode(prefix)).toBe(dir);
    expect(new TextDecoder().decode(name)).toBe("file.txt");
  });

  it("refuses paths that fit neither way, absolute ones and ones with ..", () => {
    expect(() => splitName("x".repeat(101))).toThrow(/too long/);
    expect(() => splitName(`${"d".repeat(10)}/${"f".repeat(101)}`)).toThrow(/too long/);
    expect(() => splitName("/etc/passwd")).toThrow(/relative/);
    expect(() => splitName("a/../b")).toThrow(/relative/);
    expect(() => splitName("")).toThrow(/relative/);
  });
});

describe("tar", () => {
  it("is each file's header and data padded to 512 bytes, then two zero blocks", () => {
    const dockerfile = "FROM python\nRUN echo ready\n";
    const out = tar([{ name: "Dockerfile", data: dockerfile, mtime: 0 }]);
    expect(out.length).toBe(512 + 512 + 1024);
    expect(field(out, 0, 100)).toBe("Dockerfile");
    expect(text(out, 512, 512 + dockerfile.length)).toBe(dockerfile);
    expect(out.slice(512 + dockerfile.length).every((b) => b === 0)).toBe(true);
  });

  it("writes text as UTF-8 and sizes it in bytes", () => {
    const out = tar([{ name: "é.txt", data: "naïve", mtime: 0 }]);
    expect(parseInt(field(out, 124, 12), 8)).toBe(6);
    expect(field(out, 0, 100)).toBe("é.txt");
  });

  it("lays several files one after another, a full block unpadded", () => {
    const big = new Uint8Array(1024).fill(0x41);
    const out = tar([
      { name: "a", data: big, mtime: 0 },
      { name: "b", data: "", mtime: 0 },
      { name: "c", data: "x", mtime: 0 },
    ]);
    expect(out.length).toBe(512 + 1024 + 512 + 512 + 512 + 1024);
    expect(field(out, 512 + 1024, 100)).toBe("b");
    expect(field(out, 512 + 1024 + 512, 100)).toBe("c");
    expect(text(out, 3 * 512 + 1024, 3 * 512 + 1025)).toBe("x");
  });

  it("is an empty archive for no files", () => {
    const out = tar([]);
    expect(out.length).toBe(1024);
    expect(out.every((b) => b === 0)).toBe(true);
  });

  it.skipIf(!hasTar())("reads back with the system's tar", () => {
    const dir = mkdtempSync(join(tmpdir(), "sbx-tar-"));
    try {
      const long = `${"dir".repeat(30)}/${"sub".repeat(10)}/script.sh`;
      const archive = tar([
        { name: "Dockerfile", data: "FROM python\nRUN echo ready\n", mtime: 1_700_000_000 },
        { name: long, data: "#!/bin/sh\necho hi\n", mode: 0o755, mtime: 1_700_000_000 },
        { name: "data.bin", data: new Uint8Array(700).map((_, i) => i % 256), mtime: 1_700_000_000 },
      ]);
      const file = join(dir, "context.tar");
      writeFileSync(file, archive);
      const listing = execFileSync("tar", ["-tvf", file], { encoding: "utf8" });
      expect(listing).toContain("Dockerfile");
      expect(listing).toContain(long);
      expect(listing).toMatch(/-rwxr-xr-x .* 18 .*script\.sh/);
      const out = join(dir, "out");
      mkdirSync(out);
      execFileSync("tar", ["-xf", file, "-C", out]);
      expect(readFileSync(join(out, "Dockerfile"), "utf8")).toBe("FROM python\nRUN echo ready\n");
      expect(readFileSync(join(out, long), "utf8")).toBe("#!/bin/sh\necho hi\n");
      expect([...readFileSync(join(out, "data.bin"))]).toEqual([...new Uint8Array(700).map((_, i) => i % 256)]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
