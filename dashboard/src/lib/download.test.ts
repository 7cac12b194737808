import { describe, expect, it } from "vitest";

import { fileNameOfDisposition } from "./download";

describe("fileNameOfDisposition", () => {
  it("reads the file name, quoted or not, or encoded", () => {
    expect(fileNameOfDisposition('attachment; filename="submission-1.png"')).toBe("submission-1.png");
    expect(fileNameOfDisposition("attachment; filename=result.txt")).toBe("result.txt");
    expect(fileNameOfDisposition("attachment; filename*=UTF-8''na%C3%AFve.pdf")).toBe("naïve.pdf");
    expect(fileNameOfDisposition("attachment")).toBeNull();
    expect(fileNameOfDisposition(null)).toBeNull();
  });
});
