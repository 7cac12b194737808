import { describe, expect, it } from "vitest";

import {
  checkTemplateForm,
  EXAMPLE_DOCKERFILE,
  fieldOfTemplateProblem,
  initialTemplateForm,
  isBuilding,
  parseVersion,
  readyTemplates,
  templateLogUrl,
  templatePath,
  templatesRefetchInterval,
  TEMPLATE_POLL_MS,
  toBuildRequest,
  type Template,
} from "./templates";

const t = (name: string, state: Template["state"], version = 1): Template => ({
  id: `id-${name}-${version}`,
  name,
  version,
  image: `${name}:${version}`,
  state,
  dockerfile: "Dockerfile",
  context_bytes: 2048,
  network: false,
  timeout_s: 600,
  created_at: "2025-01-01T00:00:00Z",
});

describe("polling", () => {
  it("goes on while a version is queued or building", () => {
    expect(isBuilding(t("a", "queued"))).toBe(true);
    expect(isBuilding(t("a", "building"))).toBe(true);
    expect(isBuilding(t("a", "ready"))).toBe(false);
    expect(isBuilding(t("a", "failed"))).toBe(false);
    expect(templatesRefetchInterval({ data: [t("a", "ready"), t("b", "building")] })).toBe(TEMPLATE_POLL_MS);
    expect(templatesRefetchInterval({ data: [t("a", "ready"), t("b", "failed")] })).toBe(false);
    expect(templatesRefetchInterval(undefined)).toBe(false);
  });
});

describe("addresses", () => {
  it("encode the name", () => {
    expect(templatePath("my-env")).toBe("/templates/my-env");
    expect(templatePath("my-env", 3)).toBe("/templates/my-env?version=3");
    expect(templateLogUrl("my.env_1", 2)).toBe("/v1/templates/my.env_1/logs?version=2");
    expect(templatePath("a b")).toBe("/templates/a%20b");
  });

  it("read a page's version: a whole number from 1, else the newest", () => {
    expect(parseVersion("2")).toBe(2);
    expect(parseVersion(null)).toBeUndefined();
    expect(parseVersion("0")).toBeUndefined();
    expect(parseVersion("-1")).toBeUndefined();
    expect(parseVersion("1.5")).toBeUndefined();
    expect(parseVersion("x")).toBeUndefined();
  });
});

describe("the form", () => {
  it("starts with the example Dockerfile, the name given, no network and the default timeout", () => {
    expect(initialTemplateForm()).toEqual({ name: "", dockerfile: EXAMPLE_DOCKERFILE, network: false, timeout: "" });
    expect(initialTemplateForm("my-env").name).toBe("my-env");
    expect(EXAMPLE_DOCKERFILE).toMatch(/^FROM python\n/);
  });

  it("checks a name, a Dockerfile and the timeout; the server checks the name's rules", () => {
    const ok = initialTemplateForm("my-env");
    expect(checkTemplateForm(ok)).toEqual({});
    expect(checkTemplateForm({ ...ok, name: "Bad Name" })).toEqual({});
    expect(Object.keys(checkTemplateForm({ ...ok, name: " ", dockerfile: "\n" }))).toEqual(["name", "dockerfile"]);
    expect(checkTemplateForm({ ...ok, timeout: "60" })).toEqual({});
    for (const bad of ["0", "3601", "1.5", "ten"]) {
      expect(checkTemplateForm({ ...ok, timeout: bad }).timeout).toMatch(/1 to 3600/);
    }
  });

  it("becomes a query and a tar holding the Dockerfile", () => {
    const r = toBuildRequest({ name: " my-env ", dockerfile: "FROM python\nRUN echo hi", network: false, timeout: "" }, 0);
    expect(r.query).toEqual({ name: "my-env" });
    const text = new TextDecoder().decode(r.context);
    expect(text.slice(0, 10)).toBe("Dockerfile");
    // The file ends with a newline, as an editor saves it.
    expect(text.slice(512, 512 + 24)).toBe("FROM python\nRUN echo hi\n");
    expect(r.context.length).toBe(512 * 4);

    const withAll = toBuildRequest({ name: "e", dockerfile: "FROM python\n", network: true, timeout: "120" }, 0);
    expect(withAll.query).toEqual({ name: "e", network: true, timeout_s: 120 });
  });

  it("puts a problem next to the field it names", () => {
    expect(fieldOfTemplateProblem({ field: "name", code: "invalid_request" })).toBe("name");
    expect(fieldOfTemplateProblem({ field: "timeout_s", code: "invalid_request" })).toBe("timeout");
    expect(fieldOfTemplateProblem({ field: "dockerfile", code: "invalid_request" })).toBe("dockerfile");
    expect(fieldOfTemplateProblem({ code: "template_not_ready" })).toBe("dockerfile");
    expect(fieldOfTemplateProblem({ field: "body", code: "invalid_request" })).toBeNull();
    expect(fieldOfTemplateProblem({ code: "too_many_templates" })).toBeNull();
  });
});

describe("readyTemplates", () => {
  it("keeps those whose newest version is ready, by name", () => {
    const list = [t("zeta", "ready"), t("alpha", "ready", 2), t("beta", "building"), t("gamma", "failed")];
    expect(readyTemplates(list).map((x) => x.image)).toEqual(["alpha:2", "zeta:1"]);
  });
});
