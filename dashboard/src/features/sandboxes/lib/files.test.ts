import { describe, expect, it } from "vitest";

import {
  baseName,
  crumbsOf,
  directoryUrl,
  fileUrl,
  folderNameProblem,
  joinPath,
  percentOf,
  sortEntries,
  treeOf,
  treesOf,
  type FileInfo,
} from "./files";

const entry = (path: string, type: FileInfo["type"]): FileInfo => ({
  path,
  type,
  size: 0,
  mode: 0o644,
  mtime: "2025-01-01T00:00:00Z",
});

describe("guest paths", () => {
  it("joins and splits", () => {
    expect(joinPath("/workspace", "a.txt")).toBe("/workspace/a.txt");
    expect(joinPath("/workspace/data/", "b c")).toBe("/workspace/data/b c");
    expect(baseName("/workspace/data/a.csv")).toBe("a.csv");
    expect(baseName("/workspace")).toBe("workspace");
  });
  it("knows the trees of each kind", () => {
    expect(treesOf("interpreter")).toEqual(["/workspace"]);
    expect(treesOf("container")).toEqual(["/workspace", "/outputs"]);
    expect(treeOf("/outputs/run/1")).toBe("/outputs");
    expect(treeOf("/workspace/outputs")).toBe("/workspace");
  });
});

describe("URLs", () => {
  it("put the path name by name, each percent-encoded", () => {
    expect(fileUrl("s1", "/workspace/a b.txt")).toBe("/v1/sandboxes/s1/files/workspace/a%20b.txt");
    expect(fileUrl("s1", "/workspace/100%/#1?.txt")).toBe("/v1/sandboxes/s1/files/workspace/100%25/%231%3F.txt");
    expect(fileUrl("s1", "/workspace/naïve")).toBe("/v1/sandboxes/s1/files/workspace/na%C3%AFve");
    expect(directoryUrl("s1", "/workspace/x/y")).toBe("/v1/sandboxes/s1/directories/workspace/x/y");
  });
});

describe("the breadcrumb", () => {
  it("names each folder with its path, the tree with its slash", () =>
    expect(crumbsOf("/workspace/a/b c")).toEqual([
      { name: "/workspace", path: "/workspace" },
      { name: "a", path: "/workspace/a" },
      { name: "b c", path: "/workspace/a/b c" },
    ]));
});

describe("entries", () => {
  it("puts folders first and keeps the server's order within each", () =>
    expect(
      sortEntries([
        entry("/workspace/a.txt", "file"),
        entry("/workspace/b", "directory"),
        entry("/workspace/c.lnk", "symlink"),
        entry("/workspace/d", "directory"),
      ]).map((e) => e.path),
    ).toEqual(["/workspace/b", "/workspace/d", "/workspace/a.txt", "/workspace/c.lnk"]));
});

describe("new folders' names", () => {
  it.each([
    ["", "Give the folder a name."],
    ["  ", "Give the folder a name."],
    ["a/b", "A name cannot hold “/”: make one folder at a time."],
    ["..", "“.” and “..” are not names a folder can have."],
    ["x".repeat(256), "A name is at most 255 bytes long."],
  ])("refuses %j", (name, problem) => expect(folderNameProblem(name)).toBe(problem));
  it("takes ordinary names", () => {
    expect(folderNameProblem("data")).toBeNull();
    expect(folderNameProblem("my results (2)")).toBeNull();
  });
});

describe("upload progress", () => {
  it("is a whole percentage, unknown without a total", () => {
    expect(percentOf(0, 200)).toBe(0);
    expect(percentOf(101, 200)).toBe(50);
    expect(percentOf(200, 200)).toBe(100);
    expect(percentOf(0, 0)).toBeNull();
  });
});
