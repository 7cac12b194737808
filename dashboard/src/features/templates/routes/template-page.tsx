// One template: a version's summary (the newest unless `?version=` says), its build log
// (followed while it builds), and every version, newest first (each opens here). Build a new
// version, or Delete the template (asked first). Refreshed every few seconds while a version
// is queued or building; the log's end refreshes it at once.
import { useState, type ReactNode } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";

import { describeError } from "@/api/problem";
import { LogPanel } from "@/components/log-panel";
import { Time } from "@/components/time";
import { formatBytes, formatDuration, secondsBetween } from "@/lib/format";
import { useLogStream } from "@/lib/use-log-stream";

import { useDeleteTemplate, useInvalidateTemplates, useTemplateVersions } from "../api/templates";
import { DeleteTemplateDialog } from "../components/delete-template-dialog";
import { NewTemplateDialog } from "../components/new-template-dialog";
import { TemplateStateBadge } from "../components/template-state";
import { isBuilding, parseVersion, templateLogUrl, templatePath, type Template } from "../lib/templates";
import type { TemplatesPageState } from "./templates-page";

function Item({ term, children }: { term: string; children: ReactNode }) {
  return (
    <div className="detail">
      <dt>{term}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function VersionSummary({ template: t }: { template: Template }) {
  return (
    <>
      <dl className="details">
        <Item term="State">
          <TemplateStateBadge template={t} testId="template-state" />
        </Item>
        <Item term="Image">
          <code>{t.image}</code>
        </Item>
        <Item term="Size">{t.size_bytes != null ? formatBytes(t.size_bytes) : "—"}</Item>
        <Item term="Created">
          <Time at={t.created_at} />
        </Item>
        <Item term="Started">
          <Time at={t.started_at} />
        </Item>
        <Item term="Ended">
          <Time at={t.ended_at} />
        </Item>
        <Item term="Built in">
          {t.started_at && t.ended_at ? formatDuration(secondsBetween(t.started_at, t.ended_at)) : "—"}
        </Item>
        <Item term="Network while building">{t.network ? "Allowed" : "None"}</Item>
        <Item term="Timeout">{formatDuration(t.timeout_s)}</Item>
        <Item term="Build context">
          {formatBytes(t.context_bytes)} (<code>{t.dockerfile}</code>)
        </Item>
        {t.image_id && (
          <Item term="Image id">
            <code>{t.image_id}</code>
          </Item>
        )}
      </dl>
      {t.error && (
        <div className="alert" data-testid="template-error">
          <strong>The build failed:</strong> {t.error}
        </div>
      )}
      {t.state === "ready" && (
        <p className="muted">
          Run it as a sandbox's or job's image: <code>{t.name}</code> (the newest ready version) or{" "}
          <code>{t.image}</code> (this one).
        </p>
      )}
    </>
  );
}

function BuildLog({ template: t }: { template: Template }) {
  const invalidate = useInvalidateTemplates();
  // The stream's last event is the build's end: show its state without waiting for a poll.
  const stream = useLogStream(templateLogUrl(t.name, t.version), () => void invalidate());
  return (
    <LogPanel
      label={`Build log of ${t.image}`}
      stream={stream}
      empty={t.state === "queued" ? "Nothing written yet: the build is queued." : isBuilding(t) ? "Nothing written yet." : "No output."}
    />
  );
}

function Versions({ versions, shown }: { versions: Template[]; shown: number }) {
  return (
    <div className="table-wrap">
      <table className="table">
        <caption className="visually-hidden">Every version, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">State</th>
            <th scope="col" className="number">
              Size
            </th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {versions.map((v) => (
            <tr key={v.version} data-version={v.version} data-state={v.state}>
              <td>
                <Link to={templatePath(v.name, v.version)} aria-current={v.version === shown ? "page" : undefined}>
                  {v.image}
                </Link>
              </td>
              <td>
                <TemplateStateBadge template={v} />
              </td>
              <td className="number">{v.size_bytes != null ? formatBytes(v.size_bytes) : "—"}</td>
              <td>
                <Time at={v.created_at} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function TemplatePage() {
  const { name = "" } = useParams();
  const [search] = useSearchParams();
  const wanted = parseVersion(search.get("version"));
  const versions = useTemplateVersions(name);
  const remove = useDeleteTemplate();
  const navigate = useNavigate();
  const [newOpen, setNewOpen] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);

  const all = versions.data?.data ?? [];
  const shown = wanted === undefined ? all[0] : all.find((v) => v.version === wanted);

  return (
    <section className="page" aria-labelledby="template-heading">
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/templates">Templates</Link> <span aria-hidden="true">›</span> <span>{name}</span>
      </nav>
      <div className="page-header">
        <h1 id="template-heading">Template {name}</h1>
        {versions.isSuccess && (
          <div className="row-actions">
            <button type="button" className="button" onClick={() => setNewOpen(true)}>
              Build a new version
            </button>
            <button
              type="button"
              className="button danger-outline"
              onClick={() => setConfirmDelete(true)}
              disabled={remove.isPending}
            >
              Delete
            </button>
          </div>
        )}
      </div>
      {remove.isError && (
        <div role="alert" className="alert">
          {describeError(remove.error)}
        </div>
      )}
      {versions.isError && (
        <div role="alert" className="alert">
          {describeError(versions.error)}
        </div>
      )}
      {versions.isPending && <p role="status">Loading the template…</p>}
      {versions.isSuccess && !shown && !versions.isFetching && (
        <div role="alert" className="alert">
          Template {name} has no version {wanted}. <Link to={templatePath(name)}>Show the newest.</Link>
        </div>
      )}
      {shown && (
        <>
          <section className="panel" aria-labelledby="version-heading">
            <h2 id="version-heading">Version {shown.version}</h2>
            <VersionSummary template={shown} />
          </section>
          <section className="panel" aria-labelledby="build-log-heading">
            <h2 id="build-log-heading">Build log</h2>
            <BuildLog key={shown.id} template={shown} />
          </section>
        </>
      )}
      {all.length > 0 && (
        <section className="panel" aria-labelledby="versions-heading">
          <h2 id="versions-heading">Versions</h2>
          <Versions versions={all} shown={shown?.version ?? 0} />
        </section>
      )}

      <NewTemplateDialog
        open={newOpen}
        onOpenChange={setNewOpen}
        name={name}
        onCreated={(t) => navigate(templatePath(t.name, t.version))}
      />
      <DeleteTemplateDialog
        name={confirmDelete ? name : null}
        onClose={() => setConfirmDelete(false)}
        onConfirm={(n) =>
          remove.mutate(n, {
            onSuccess: () => navigate("/templates", { state: { deleted: n } satisfies TemplatesPageState }),
          })
        }
      />
    </section>
  );
}
