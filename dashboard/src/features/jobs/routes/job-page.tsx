// One job: status and times, its output or a container job's result and artifacts, its log
// (followed while it runs), Cancel while it is queued or running. Refreshed every 5 s until
// it ends.
import { useQueryClient } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { Link, useParams } from "react-router";

import { describeError } from "@/api/problem";
import { LogPanel } from "@/components/log-panel";
import { OutputBlock } from "@/components/output-block";
import { useCurrentProject } from "@/features/auth/components/current-project";
import { Time } from "@/components/time";
import { formatDuration, secondsBetween, shortId } from "@/lib/format";
import { useLogStream } from "@/lib/use-log-stream";

import { jobsKeys, useCancelJob, useJob } from "../api/jobs";
import { JobArtifacts } from "../components/job-artifacts";
import { describeJob, isActive, isContainerJob, jobResult, type Job } from "../lib/jobs";

function Item({ term, children }: { term: string; children: ReactNode }) {
  return (
    <div className="detail">
      <dt>{term}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function JobSummary({ job }: { job: Job }) {
  const r = jobResult(job);
  return (
    <dl className="details">
      <Item term="Status">
        <span className={`badge status-${job.status}`} data-testid="job-status">
          {job.status}
        </span>
        {r?.message && <span className="reason"> {r.message}</span>}
      </Item>
      <Item term="What">
        <code>{describeJob(job)}</code>
      </Item>
      <Item term="Exit code">{r?.exit_code ?? "—"}</Item>
      <Item term="Created">
        <Time at={job.created_at} />
      </Item>
      <Item term="Started">
        <Time at={job.started_at} />
      </Item>
      <Item term="Finished">
        <Time at={job.finished_at} />
      </Item>
      <Item term="Ran for">
        {job.started_at && job.finished_at ? formatDuration(secondsBetween(job.started_at, job.finished_at)) : "—"}
      </Item>
      {r?.oom_killed && <Item term="Memory">Killed: over its memory limit</Item>}
      {r?.sandbox_id && (
        <Item term="Sandbox">
          <Link to={`/sandboxes/${r.sandbox_id}`}>
            <code>{shortId(r.sandbox_id)}</code>
          </Link>
        </Item>
      )}
    </dl>
  );
}

function JobLog({ job }: { job: Job }) {
  const queryClient = useQueryClient();
  const { project } = useCurrentProject();
  const stream = useLogStream(`/v1/jobs/${encodeURIComponent(job.id)}/logs`, () =>
    // The stream's last event is the job's end: show it without waiting for the next poll.
    queryClient.invalidateQueries({ queryKey: jobsKeys.detail(project?.id ?? null, job.id) }),
  );
  return <LogPanel label="Job log" stream={stream} empty={isActive(job) ? "Nothing written yet." : "No output."} />;
}

export function JobPage() {
  const { id = "" } = useParams();
  const job = useJob(id);
  const cancel = useCancelJob();
  const j = job.data;
  const r = j ? jobResult(j) : null;

  return (
    <section className="page" aria-labelledby="job-heading">
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/jobs">Jobs</Link> <span aria-hidden="true">›</span> <span>{shortId(id)}</span>
      </nav>
      <div className="page-header">
        <h1 id="job-heading">Job {shortId(id)}</h1>
        {j && isActive(j) && (
          <button type="button" className="button danger-outline" onClick={() => cancel.mutate(j.id)} disabled={cancel.isPending}>
            Cancel
          </button>
        )}
      </div>
      {cancel.isError && (
        <div role="alert" className="alert">
          {describeError(cancel.error)}
        </div>
      )}
      {job.isError && (
        <div role="alert" className="alert">
          {describeError(job.error)}
        </div>
      )}
      {job.isPending && <p role="status">Loading the job…</p>}
      {j && (
        <>
          <p className="muted">
            <code>{j.id}</code>
          </p>
          <div className="panels">
            <section className="panel" aria-labelledby="summary-heading">
              <h2 id="summary-heading">Summary</h2>
              <JobSummary job={j} />
            </section>
            {isContainerJob(j) ? (
              <section className="panel" aria-labelledby="artifacts-heading">
                <h2 id="artifacts-heading">Artifacts</h2>
                {r ? (
                  <JobArtifacts jobId={j.id} artifacts={r.artifacts ?? []} omitted={r.artifacts_omitted ?? 0} />
                ) : (
                  <p className="muted">Files the job writes under /outputs are kept when it ends.</p>
                )}
                {r?.metrics != null && <OutputBlock label="metrics.json" text={JSON.stringify(r.metrics, null, 2)} />}
              </section>
            ) : (
              <section className="panel" aria-labelledby="output-heading">
                <h2 id="output-heading">Output</h2>
                {r ? (
                  <>
                    <OutputBlock label="stdout" text={r.stdout ?? ""} />
                    {r.stderr && <OutputBlock label="stderr" text={r.stderr} tone="error" />}
                  </>
                ) : (
                  <p className="muted">The output is here when the job ends; its log follows it meanwhile.</p>
                )}
              </section>
            )}
          </div>
          <section className="panel" aria-labelledby="job-log-heading">
            <h2 id="job-log-heading">Log</h2>
            <JobLog job={j} />
          </section>
        </>
      )}
    </section>
  );
}
