import { describe, expect, it } from "vitest";

import {
  artifactFileName,
  artifactUrl,
  describeJob,
  JOB_POLL_MS,
  jobRefetchInterval,
  jobsRefetchInterval,
} from "./jobs";

describe("polling", () => {
  it("refetches a job every 5 s while it is queued or running, then stops", () => {
    expect(jobRefetchInterval({ status: "queued" })).toBe(JOB_POLL_MS);
    expect(jobRefetchInterval({ status: "running" })).toBe(JOB_POLL_MS);
    for (const status of ["succeeded", "failed", "timeout", "cancelled", "error"]) {
      expect(jobRefetchInterval({ status })).toBe(false);
    }
    expect(jobRefetchInterval(undefined)).toBe(false);
  });

  it("refetches the list while any listed job can change", () => {
    expect(jobsRefetchInterval([{ data: [{ status: "succeeded" }] }, { data: [{ status: "running" }] }])).toBe(
      JOB_POLL_MS,
    );
    expect(jobsRefetchInterval([{ data: [{ status: "succeeded" }] }, { data: [] }])).toBe(false);
    expect(jobsRefetchInterval(undefined)).toBe(false);
  });
});

describe("artifacts", () => {
  it("encodes each segment of the path and keeps its slashes", () => {
    expect(artifactUrl("j1", "result.txt")).toBe("/v1/jobs/j1/artifacts/result.txt");
    expect(artifactUrl("j1", "plots/a b#1.png")).toBe("/v1/jobs/j1/artifacts/plots/a%20b%231.png");
  });

  it("saves under the path's last segment", () => {
    expect(artifactFileName("plots/loss.png")).toBe("loss.png");
    expect(artifactFileName("result.txt")).toBe("result.txt");
  });
});

describe("describeJob", () => {
  it("names the image and command of a container job, the language of an exec job", () => {
    expect(
      describeJob({ kind: "container", language: "container", request: { image: "python", command: ["sh", "-c", "echo a; echo b"] } }),
    ).toBe('python sh -c "echo a; echo b"');
    expect(describeJob({ kind: "exec", language: "python", request: {} })).toBe("python");
    expect(describeJob({ kind: "exec", language: "python", request: { code: "\nprint(1)\nprint(2)" } })).toBe(
      "python: print(1)",
    );
    expect(describeJob({ kind: "exec", language: "python", request: { code: "x".repeat(80) } })).toBe(
      `python: ${"x".repeat(59)}…`,
    );
  });
});
