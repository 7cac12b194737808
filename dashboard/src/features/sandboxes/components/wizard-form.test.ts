import { describe, expect, it } from "vitest";

import {
  checkStep,
  CUSTOM,
  fieldOfProblem,
  initialForm,
  messageOfProblem,
  offersNetwork,
  offersPorts,
  STEP_OF,
  toRequest,
  type Form,
} from "./wizard-form";

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

describe("the wizard's ports", () => {
  it("start empty, and send nothing then", () => {
    expect(initialForm("p1").ports).toBe("");
    expect(toRequest(form({ image: "python" }))).not.toHaveProperty("ports");
    expect(toRequest(form({ image: "python", ports: " , " }))).not.toHaveProperty("ports");
    expect(checkStep(2, form({ image: "python", ports: "" }))).toEqual({});
  });
  it("are offered for a container, not a code-interpreter", () => {
    expect(offersPorts(form({ image: "python" }))).toBe(true);
    expect(offersPorts(form({ image: CUSTOM, customImage: "ghcr.io/org/image:tag" }))).toBe(true);
    expect(offersPorts(form({ image: "code-interpreter" }))).toBe(false);
  });
  it("send the numbers typed, separated by commas or spaces", () => {
    expect(toRequest(form({ image: "python", ports: "8000, 9000" })).ports).toEqual([8000, 9000]);
    expect(toRequest(form({ image: "python", ports: "  3000 8080\n" })).ports).toEqual([3000, 8080]);
  });
  it("are never sent for a code-interpreter, nor checked", () => {
    expect(toRequest(form({ image: "code-interpreter", ports: "8000" }))).not.toHaveProperty("ports");
    expect(checkStep(2, form({ image: "code-interpreter", ports: "nonsense" }))).toEqual({});
  });
  it("are checked on the Configuration step: in range, distinct, at most 16", () => {
    expect(STEP_OF.ports).toBe(2);
    expect(checkStep(2, form({ image: "python", ports: "8000 70000" })).ports).toMatch(/“70000” is not a port/);
    expect(checkStep(2, form({ image: "python", ports: "0" })).ports).toMatch(/from 1 to 65,535/);
    expect(checkStep(2, form({ image: "python", ports: "8000,8000" })).ports).toBe("Port 8000 is listed twice: give each port once.");
    const seventeen = Array.from({ length: 17 }, (_, i) => 8000 + i).join(" ");
    expect(checkStep(2, form({ image: "python", ports: seventeen })).ports).toBe("At most 16 ports: 17 are listed.");
    expect(checkStep(1, form({ image: "python", ports: "0" }))).toEqual({});
    expect(checkStep(2, form({ image: "python", ports: "1, 65535" }))).toEqual({});
  });
  it("take the server's problems about them, naming the port", () => {
    expect(fieldOfProblem("ports", false)).toBe("ports");
    expect(fieldOfProblem("ports[3]", false)).toBe("ports");
    const f = form({ image: "python", ports: "8000, 9000" });
    expect(messageOfProblem("ports[1]", "Already in use.", f)).toBe("Port 9000: Already in use.");
    expect(messageOfProblem("ports", "At most 16.", f)).toBe("At most 16.");
  });
});
