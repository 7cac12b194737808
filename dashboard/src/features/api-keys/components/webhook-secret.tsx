// The project's webhook signing secret: fetched and shown only when asked for.
import { useState } from "react";

import { describeError } from "@/api/problem";
import { CopyButton } from "@/components/copy-button";

import { useWebhookSecret } from "../api/keys";

export function WebhookSecret() {
  const [shown, setShown] = useState(false);
  const secret = useWebhookSecret(shown);
  return (
    <section className="panel" aria-labelledby="webhook-secret-heading">
      <h2 id="webhook-secret-heading">Webhook secret</h2>
      <p className="muted">
        Webhooks to the project's <code>callback_url</code>s are signed with it (Standard Webhooks): check their{" "}
        <code>webhook-signature</code> header.
      </p>
      <div className="secret-row">
        <button type="button" className="button" aria-expanded={shown} aria-controls="webhook-secret" onClick={() => setShown((s) => !s)}>
          {shown ? "Hide" : "Show"}
        </button>
        <div id="webhook-secret">
          {shown &&
            (secret.isPending ? (
              <span role="status">Loading…</span>
            ) : secret.isError ? (
              <span role="alert" className="field-error">
                {describeError(secret.error)}
              </span>
            ) : (
              <>
                <code className="secret" data-testid="webhook-secret">
                  {secret.data}
                </code>{" "}
                <CopyButton text={secret.data ?? ""} label="Copy webhook secret" />
              </>
            ))}
        </div>
      </div>
    </section>
  );
}
