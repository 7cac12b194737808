// The project's jobs, newest first: a status filter and "Load more" for older pages.
import { useState } from "react";
import { Link } from "react-router";

import { describeError } from "@/api/problem";
import { formatDuration, secondsBetween, shortId } from "@/lib/format";
import { useNow } from "@/lib/use-now";

import { useJobs } from "../api/jobs";
import { describeJob, JOB_STATUSES, jobResult, type Job, type JobStatus } from "../lib/jobs";

function JobRow({ job, now }: { job: Job; now: number }) {
  const result = jobResult(job);
  const ran =
    job.started_at && job.finished_at
      ? formatDuration(secondsBetween(job.started_at, job.finished_at))
      : job.started_at
        ? `${formatDuration(secondsBetween(job.started_at, now))} so far`
        : "—";
  return (
    <tr data-job-id={job.id} data-status={job.status}>
      <td>
        <Link to={`/jobs/${job.id}`}>
          <code title={job.id}>{shortId(job.id)}</code>
        </Link>
      </td>
      <td className="image">{describeJob(job)}</td>
      <td>
        <span className={`badge status-${job.status}`}>{job.status}</span>
      </td>
      <td className="number">{result?.exit_code ?? "—"}</td>
      <td>{ran}</td>
      <td>
        <time dateTime={job.created_at} title={new Date(job.created_at).toLocaleString()}>
          {formatDuration(secondsBetween(job.created_at, now))} ago
        </time>
      </td>
    </tr>
  );
}

export function JobsPage() {
  const [status, setStatus] = useState<JobStatus | undefined>(undefined);
  const jobs = useJobs(status);
  const now = useNow(1000);
  const rows = jobs.data?.pages.flatMap((p) => p.data) ?? [];

  return (
    <section className="page" aria-labelledby="jobs-heading">
      <div className="page-header">
        <h1 id="jobs-heading">Jobs</h1>
      </div>
      <div className="toolbar">
        <label className="field inline">
          <span>Status</span>
          <select value={status ?? ""} onChange={(e) => setStatus((e.target.value || undefined) as JobStatus | undefined)}>
            <option value="">All statuses</option>
            {JOB_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        {jobs.isFetching && !jobs.isPending && !jobs.isFetchingNextPage && (
          <span className="muted" aria-hidden="true">
            Refreshing…
          </span>
        )}
      </div>
      {jobs.isError && (
        <div role="alert" className="alert">
          {describeError(jobs.error)}
        </div>
      )}
      {jobs.isPending ? (
        <p role="status">Loading jobs…</p>
      ) : rows.length > 0 ? (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">The project's jobs, newest first</caption>
            <thead>
              <tr>
                <th scope="col">ID</th>
                <th scope="col">What</th>
                <th scope="col">Status</th>
                <th scope="col">Exit code</th>
                <th scope="col">Ran for</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((job) => (
                <JobRow key={job.id} job={job} now={now} />
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <div className="empty">
          <h2>{status ? `No ${status} jobs` : "No jobs yet"}</h2>
          <p>
            A job runs code or a container command to completion in the background: submit one with
            <code> POST /v1/jobs</code>, the SDK or <code>sbx job submit</code>.
          </p>
        </div>
      )}
      {jobs.hasNextPage && (
        <p>
          <button
            type="button"
            className="button"
            onClick={() => jobs.fetchNextPage()}
            disabled={jobs.isFetchingNextPage}
          >
            {jobs.isFetchingNextPage ? "Loading…" : "Load more"}
          </button>
        </p>
      )}
    </section>
  );
}
