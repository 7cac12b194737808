import { useState } from "react";

/** A button copying `text` to the clipboard, named `label` ("Copy key"); says when it did. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState(false);
  const [failed, setFailed] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      setFailed(false);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      // No clipboard (an insecure origin): the text is shown to select by hand.
      setFailed(true);
    }
  };
  return (
    <>
      <button type="button" className="button small" onClick={copy}>
        {label}
      </button>
      <span role="status" className="muted copy-status">
        {copied ? "Copied" : failed ? "Copying is not allowed here: select the text instead." : ""}
      </span>
    </>
  );
}
