// API keys: the project's keys (programs authenticate with them), Create key (its secret shown
// once), Revoke with a confirmation, and the webhook secret. For owners: a plain member is
// told so (403 `not_an_owner`) instead.
import { useState } from "react";

import { ApiError, describeError } from "@/api/problem";
import { Time } from "@/components/time";

import { useKeys, useRevokeKey, type ApiKey } from "../api/keys";
import { CreateKeyDialog } from "../components/create-key-dialog";
import { RevokeKeyDialog } from "../components/revoke-key-dialog";
import { WebhookSecret } from "../components/webhook-secret";

function KeysTable({ keys, onRevoke }: { keys: ApiKey[]; onRevoke: (k: ApiKey) => void }) {
  return (
    <div className="table-wrap">
      <table className="table">
        <caption className="visually-hidden">The project's API keys, oldest first</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Key</th>
            <th scope="col">Created</th>
            <th scope="col">Status</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {keys.map((k) => (
            <tr key={k.id} data-key-id={k.id} data-revoked={k.revoked}>
              <td>{k.name}</td>
              <td>
                <code>{k.prefix}…</code>
              </td>
              <td>
                <Time at={k.created_at} />
              </td>
              <td>
                <span className={`badge ${k.revoked ? "state-terminated" : "state-running"}`}>
                  {k.revoked ? "revoked" : "active"}
                </span>
              </td>
              <td>
                {!k.revoked && (
                  <button
                    type="button"
                    className="button small danger-outline"
                    aria-label={`Revoke ${k.name}`}
                    onClick={() => onRevoke(k)}
                  >
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ApiKeysPage() {
  const keys = useKeys();
  const revoke = useRevokeKey();
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const notOwner = keys.error instanceof ApiError && keys.error.status === 403;

  return (
    <section className="page" aria-labelledby="keys-heading">
      <div className="page-header">
        <h1 id="keys-heading">API keys</h1>
        {!notOwner && (
          <button type="button" className="button primary" onClick={() => setCreating(true)}>
            Create key
          </button>
        )}
      </div>
      {keys.isError && (
        <div role="alert" className="alert">
          {describeError(keys.error)}
        </div>
      )}
      {revoke.isError && (
        <div role="alert" className="alert">
          {describeError(revoke.error)}
        </div>
      )}
      {!notOwner && (
        <>
          <section className="panel" aria-labelledby="keys-list-heading">
            <h2 id="keys-list-heading">Keys</h2>
            <p className="muted">
              Programs (the SDK, the CLI, CI) authenticate with a key: <code>Authorization: Bearer &lt;key&gt;</code>.
            </p>
            {keys.isPending ? (
              <p role="status">Loading keys…</p>
            ) : keys.data && keys.data.length > 0 ? (
              <KeysTable keys={keys.data} onRevoke={setRevoking} />
            ) : (
              keys.data && <p className="muted">No keys yet.</p>
            )}
          </section>
          <WebhookSecret />
        </>
      )}
      <CreateKeyDialog open={creating} onOpenChange={setCreating} />
      <RevokeKeyDialog
        apiKey={revoking}
        onClose={() => setRevoking(null)}
        onConfirm={(id) => {
          setRevoking(null);
          revoke.mutate(id);
        }}
      />
    </section>
  );
}
