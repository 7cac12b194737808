import { describe, expect, it } from "vitest";

import { checkStep, CUSTOM, fieldOfProblem, initialForm, messageOfProblem, offersNetwork, toRequest, type Form } from "./wizard-form";

const form = (patch: Partial<Form>): Form => ({ ...initialForm("p1"), ...patch });

describe("the wizard's network choice", () => {
  it("starts at none, and sends nothing then", () => {
    expect(initialForm("p1")).toMatchObject({ network: "none", allowList: "" });
    expect(toRequest(form({ image: "python" }))).not.toHaveProperty("network");
  });
  it("is offered for a container, not a code-interpreter", () => {
    expect(offersNetwork(form({ image: "python" }))).toBe(true);
    expect(offersNetwork(form({ image: CUSTOM, customImage: "ghcr.io/org/image:tag" }))).toBe(true);
    expect(offersNetwork(form({ image: "code-interpreter" }))).toBe(false);
    expect(offersNetwork(form({ image: CUSTOM, customImage: " code-interpreter " }))).toBe(false);
  });
  it("sends true for full, the entries for an allow list", () => {
    expect(toRequest(form({ image: "python", network: "full" })).network).toBe(true);
    expect(toRequest(form({ image: "python", network: "allow", allowList: "\n allowed.test \n\n*.example.com" })).network).toEqual({
      allow: ["allowed.test", "*.example.com"],
    });
  });
  it("never sends a network for a code-interpreter (the API refuses it)", () => {
    expect(toRequest(form({ image: "code-interpreter", network: "full" }))).not.toHaveProperty("network");
    expect(toRequest(form({ image: "code-interpreter", network: "allow", allowList: "a.test" }))).not.toHaveProperty("network");
  });
  it("needs an entry in an allow list, on the Configuration step", () => {
    expect(checkStep(2, form({ image: "python", network: "allow", allowList: " \n" }))).toHaveProperty("allowList");
    expect(checkStep(2, form({ image: "python", network: "allow", allowList: "bad name!" }))).toEqual({});
    expect(checkStep(2, form({ image: "code-interpreter", network: "allow", allowList: "" }))).toEqual({});
    expect(checkStep(2, form({ image: "python", network: "full" }))).toEqual({});
  });
  it("takes the server's problems about it", () => {
    expect(fieldOfProblem("network.allow[2]", false)).toBe("allowList");
    expect(fieldOfProblem("network.allow", false)).toBe("allowList");
    expect(fieldOfProblem("network", false)).toBe("network");
    const f = form({ image: "python", network: "allow", allowList: "allowed.test\n\nbad name!" });
    expect(messageOfProblem("network.allow[1]", "Not a host name.", f)).toBe("Line 3: Not a host name.");
    expect(messageOfProblem("network", "No network for a code-interpreter.", f)).toBe("No network for a code-interpreter.");
    expect(messageOfProblem("memory", "Not a quantity.", f)).toBe("Not a quantity.");
  });
});
