// A program's output (stdout, stderr, a result) as a captioned monospace block, found by its
// caption: `getByRole("figure", { name: "stdout" })`.
export function OutputBlock({ label, text, tone }: { label: string; text: string; tone?: "error" }) {
  return (
    <figure className={`output${tone === "error" ? " output-error" : ""}`}>
      <figcaption>{label}</figcaption>
      {/* Focusable: a long output scrolls, and keyboard users must be able to scroll it. */}
      <pre tabIndex={0}>{text}</pre>
    </figure>
  );
}
