import { describe, expect, it } from "vitest";

import {
  base64OfDataUrl,
  DOCUMENT_ACCEPT,
  documentProblem,
  documentType,
  kycFieldOfProblem,
  MAX_DOCUMENT_BYTES,
} from "./document";

describe("the identity document", () => {
  it("takes PNG, JPEG and PDF, by media type or else by extension", () => {
    expect(documentType({ name: "id.png", type: "image/png" })).toBe("image/png");
    expect(documentType({ name: "scan", type: "application/pdf" })).toBe("application/pdf");
    expect(documentType({ name: "ID.JPEG", type: "" })).toBe("image/jpeg");
    expect(documentType({ name: "id.txt", type: "text/plain" })).toBeNull();
    // A media type the browser knows wins over a misleading name.
    expect(documentType({ name: "id.png", type: "image/gif" })).toBeNull();
    expect(documentType({ name: "id", type: "" })).toBeNull();
    expect(DOCUMENT_ACCEPT).toBe("image/png,.png,image/jpeg,.jpg,.jpeg,application/pdf,.pdf");
  });

  it("says what is wrong with a file: its type, empty, over 10 MiB", () => {
    expect(documentProblem({ name: "id.png", type: "image/png", size: 1000 })).toBeNull();
    expect(documentProblem({ name: "id.png", type: "image/png", size: MAX_DOCUMENT_BYTES })).toBeNull();
    expect(documentProblem({ name: "notes.txt", type: "text/plain", size: 10 })).toBe("Choose a PNG, JPEG or PDF file.");
    expect(documentProblem({ name: "id.png", type: "image/png", size: 0 })).toBe("The file is empty.");
    expect(documentProblem({ name: "id.pdf", type: "application/pdf", size: MAX_DOCUMENT_BYTES + 1 })).toBe(
      "The file is over the 10 MiB limit (10 MiB).",
    );
    expect(documentProblem({ name: "id.pdf", type: "application/pdf", size: 12.5 * 1024 * 1024 })).toBe(
      "The file is over the 10 MiB limit (12.5 MiB).",
    );
  });

  it("takes the base64 out of a data URL", () => {
    expect(base64OfDataUrl("data:image/png;base64,iVBORw0KGgo=")).toBe("iVBORw0KGgo=");
    expect(base64OfDataUrl("data:application/octet-stream;base64,")).toBe("");
    expect(() => base64OfDataUrl("data:text/plain,hello")).toThrow();
    expect(() => base64OfDataUrl("iVBORw0KGgo=")).toThrow();
  });

  it("puts a problem's field next to the form's field", () => {
    expect(kycFieldOfProblem("country")).toBe("country");
    expect(kycFieldOfProblem("document.content_type")).toBe("document");
    expect(kycFieldOfProblem("document.content_b64")).toBe("document");
    expect(kycFieldOfProblem("date_of_birth")).toBe("date_of_birth");
    expect(kycFieldOfProblem("other")).toBeNull();
    expect(kycFieldOfProblem(null)).toBeNull();
  });
});
