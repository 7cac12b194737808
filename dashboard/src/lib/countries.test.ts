import { describe, expect, it } from "vitest";

import { countryByCode, COUNTRIES, describeCountry } from "./countries";

describe("countries", () => {
  it("lists the 249 ISO 3166-1 alpha-2 codes, by name, each once", () => {
    expect(COUNTRIES).toHaveLength(249);
    expect(new Set(COUNTRIES.map((c) => c.code)).size).toBe(249);
    expect(COUNTRIES.every((c) => /^[A-Z]{2}$/.test(c.code) && c.name.length > 1)).toBe(true);
    const names = COUNTRIES.map((c) => c.name);
    expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b, "en")));
  });

  it("finds a country by its code, in any case, and not codes that are not assigned", () => {
    expect(countryByCode("GB")?.name).toBe("United Kingdom");
    expect(countryByCode("de")?.name).toBe("Germany");
    expect(countryByCode("UK")).toBeUndefined();
    expect(countryByCode("EU")).toBeUndefined();
    expect(describeCountry("FR")).toBe("FR — France");
    expect(describeCountry("ZZ")).toBe("ZZ");
  });
});
