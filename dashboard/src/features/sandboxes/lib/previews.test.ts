import { describe, expect, it } from "vitest";

import {
  canPreview,
  DEFAULT_EXPIRES_IN_S,
  EXPIRY_CHOICES,
  fieldOfProblem,
  initialPreviewForm,
  toPreviewRequest,
  type PreviewForm,
} from "./previews";

const form = (patch: Partial<PreviewForm>): PreviewForm => ({ ...initialPreviewForm(), ...patch });

describe("which sandboxes can have a preview URL", () => {
  it("a running or paused container", () => {
    expect(canPreview({ kind: "container", state: "running" })).toBe(true);
    expect(canPreview({ kind: "container", state: "paused" })).toBe(true);
  });
  it("not a container that is starting or has ended, nor a code-interpreter", () => {
    expect(canPreview({ kind: "container", state: "pending" })).toBe(false);
    expect(canPreview({ kind: "container", state: "terminated" })).toBe(false);
    expect(canPreview({ kind: "container", state: "failed" })).toBe(false);
    expect(canPreview({ kind: "interpreter", state: "running" })).toBe(false);
  });
});

describe("the preview request", () => {
  it("starts with no port and an hour", () => {
    expect(initialPreviewForm()).toEqual({ port: "", expiresIn: 3600 });
    expect(DEFAULT_EXPIRES_IN_S).toBe(3600);
    expect(EXPIRY_CHOICES.map((c) => c.seconds)).toContain(DEFAULT_EXPIRES_IN_S);
  });
  it("carries the port and how long the URL works", () => {
    expect(toPreviewRequest(form({ port: " 8000 ", expiresIn: 900 }))).toEqual({ body: { port: 8000, expires_in: 900 } });
    expect(toPreviewRequest(form({ port: "1" }))).toEqual({ body: { port: 1, expires_in: 3600 } });
    expect(toPreviewRequest(form({ port: "65535", expiresIn: 86_400 }))).toEqual({
      body: { port: 65535, expires_in: 86_400 },
    });
  });
  it("asks for a port when there is none", () => {
    expect(toPreviewRequest(form({ port: "  " }))).toEqual({
      errors: { port: "Enter the port the server listens on in the sandbox." },
    });
  });
  it("refuses a port out of range or not a whole number", () => {
    for (const port of ["0", "65536", "70000", "-1", "80.5", "1e3", "http"]) {
      expect(toPreviewRequest(form({ port }))).toEqual({ errors: { port: "Give a port from 1 to 65,535." } });
    }
  });
});

describe("the field of a problem", () => {
  it("maps the API's names to the form's", () => {
    expect(fieldOfProblem("port")).toBe("port");
    expect(fieldOfProblem("expires_in")).toBe("expiresIn");
    expect(fieldOfProblem("other")).toBeNull();
    expect(fieldOfProblem(null)).toBeNull();
  });
});
