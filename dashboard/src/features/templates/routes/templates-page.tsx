// The project's templates: the newest version of each, by name (refreshed every few seconds
// while any is queued or building), New template, and Delete (asked first). A name opens its
// page: its versions and the build log.
import { useState } from "react";
import { Link, useLocation, useNavigate } from "react-router";

import { describeError } from "@/api/problem";
import { formatBytes, formatDuration, secondsBetween } from "@/lib/format";
import { useNow } from "@/lib/use-now";

import { useDeleteTemplate, useTemplates } from "../api/templates";
import { DeleteTemplateDialog } from "../components/delete-template-dialog";
import { NewTemplateDialog } from "../components/new-template-dialog";
import { TemplateStateBadge } from "../components/template-state";
import { templatePath, type Template } from "../lib/templates";

/** What the template's page leaves in the navigation's state when it deleted one. */
export interface TemplatesPageState {
  deleted?: string;
}

function TemplateRow({
  template: t,
  now,
  busy,
  onDelete,
}: {
  template: Template;
  now: number;
  busy: boolean;
  onDelete: () => void;
}) {
  return (
    <tr data-template-name={t.name} data-state={t.state}>
      <td>
        <Link to={templatePath(t.name)}>{t.name}</Link>
      </td>
      <td className="image">
        <code>{t.image}</code>
      </td>
      <td>
        <TemplateStateBadge template={t} />
      </td>
      <td className="number">{t.size_bytes != null ? formatBytes(t.size_bytes) : "—"}</td>
      <td>
        <time dateTime={t.created_at} title={new Date(t.created_at).toLocaleString()}>
          {formatDuration(secondsBetween(t.created_at, now))} ago
        </time>
      </td>
      <td className="template-error">{t.error ? <span className="reason">{t.error}</span> : "—"}</td>
      <td>
        <div className="row-actions">
          <button
            type="button"
            className="button small danger-outline"
            onClick={onDelete}
            disabled={busy}
            aria-label={`Delete ${t.name}`}
          >
            Delete
          </button>
        </div>
      </td>
    </tr>
  );
}

export function TemplatesPage() {
  const templates = useTemplates();
  const remove = useDeleteTemplate();
  const navigate = useNavigate();
  const location = useLocation();
  const now = useNow(1000);
  const [newOpen, setNewOpen] = useState(false);
  const [toDelete, setToDelete] = useState<string | null>(null);
  const [announcement, setAnnouncement] = useState(() => {
    const deleted = (location.state as TemplatesPageState | null)?.deleted;
    return deleted ? `Template ${deleted} deleted.` : "";
  });
  const rows = templates.data?.data ?? [];

  const newButton = (
    <button type="button" className="button primary" onClick={() => setNewOpen(true)}>
      New template
    </button>
  );

  return (
    <section className="page" aria-labelledby="templates-heading">
      <div className="page-header">
        <h1 id="templates-heading">Templates</h1>
        {rows.length > 0 && newButton}
      </div>
      {templates.isFetching && !templates.isPending && (
        <div className="toolbar">
          <span className="muted" aria-hidden="true">
            Refreshing…
          </span>
        </div>
      )}
      <div role="status" className="visually-hidden">
        {announcement}
      </div>
      {remove.isError && (
        <div role="alert" className="alert">
          {describeError(remove.error)}
        </div>
      )}
      {templates.isError && (
        <div role="alert" className="alert">
          {describeError(templates.error)}
        </div>
      )}
      {templates.isPending ? (
        <p role="status">Loading templates…</p>
      ) : rows.length > 0 ? (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">The project's templates, the newest version of each</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Image</th>
                <th scope="col">State</th>
                <th scope="col" className="number">
                  Size
                </th>
                <th scope="col">Created</th>
                <th scope="col">Error</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((t) => (
                <TemplateRow
                  key={t.name}
                  template={t}
                  now={now}
                  busy={remove.isPending && remove.variables === t.name}
                  onDelete={() => setToDelete(t.name)}
                />
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        !templates.isError && (
          <div className="empty">
            <h2>No templates yet</h2>
            <p>
              A template is your own container image, built from a Dockerfile: start from a catalog
              image, install what you need, and run sandboxes and jobs from it.
            </p>
            {newButton}
          </div>
        )
      )}

      <NewTemplateDialog
        open={newOpen}
        onOpenChange={setNewOpen}
        onCreated={(t) => navigate(templatePath(t.name, t.version))}
      />
      <DeleteTemplateDialog
        name={toDelete}
        onClose={() => setToDelete(null)}
        onConfirm={(name) =>
          remove.mutate(name, { onSuccess: () => setAnnouncement(`Template ${name} deleted.`) })
        }
      />
    </section>
  );
}
