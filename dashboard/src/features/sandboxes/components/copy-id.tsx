import { useState, type ReactNode } from "react";

/** An id (as `children` show it) with a button copying the full id. */
export function CopyId({ id, children }: { id: string; children: ReactNode }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(id);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      // No clipboard (an insecure origin): the full id is in the title to select by hand.
    }
  };
  return (
    <span className="id-cell">
      {children}
      <button type="button" className="icon-button" onClick={copy} aria-label={`Copy id ${id}`} title="Copy the full id">
        {copied ? (
          "✓"
        ) : (
          <svg width="14" height="14" viewBox="0 0 16 16" aria-hidden="true" focusable="false">
            <rect x="5" y="5" width="9" height="9" rx="1.5" fill="none" stroke="currentColor" strokeWidth="1.5" />
            <path d="M11 3.5V3a1 1 0 0 0-1-1H3a1 1 0 0 0-1 1v7a1 1 0 0 0 1 1h.5" fill="none" stroke="currentColor" strokeWidth="1.5" />
          </svg>
        )}
      </button>
    </span>
  );
}
