// One batch: a live progress bar, the pass rate, counts by verdict, Cancel while it runs
// (refreshed every 2 s until it ends), and its items' results.
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, type ReactNode } from "react";
import { Link, useParams } from "react-router";

import { describeError } from "@/api/problem";
import { Time } from "@/components/time";
import { useCurrentProject } from "@/features/auth/components/current-project";
import { formatDuration, secondsBetween, shortId } from "@/lib/format";

import { batchesKeys, useBatch, useBatchResults, useCancelBatch } from "../api/batches";
import { BatchResults } from "../components/batch-results";
import { countsInOrder, describePassRate, formatPercent, isActive, type Batch } from "../lib/batches";

function Item({ term, children }: { term: string; children: ReactNode }) {
  return (
    <div className="detail">
      <dt>{term}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function BatchSummary({ batch }: { batch: Batch }) {
  const counts = countsInOrder(batch.counts);
  return (
    <>
      <div className="progress-field">
        <label htmlFor="batch-progress">Progress</label>
        <progress id="batch-progress" value={batch.ended} max={Math.max(batch.total, 1)} aria-describedby="batch-progress-text" />
        <span id="batch-progress-text" data-testid="batch-progress">
          {batch.ended} of {batch.total} ended ({formatPercent(batch.progress)})
        </span>
      </div>
      <dl className="details">
        <Item term="Status">
          <span className={`badge batch-${batch.status}`} data-testid="batch-status">
            {batch.status}
          </span>
        </Item>
        <Item term="Pass rate">
          <span data-testid="pass-rate">{describePassRate(batch)}</span>
        </Item>
        <Item term="Items">{batch.total}</Item>
        <Item term="Created">
          <Time at={batch.created_at} />
        </Item>
        <Item term="Finished">
          <Time at={batch.finished_at} />
        </Item>
        <Item term="Took">
          {batch.finished_at ? formatDuration(secondsBetween(batch.created_at, batch.finished_at)) : "—"}
        </Item>
      </dl>
      <h3 id="counts-heading">By verdict</h3>
      {counts.length > 0 ? (
        <dl className="counts" aria-labelledby="counts-heading">
          {counts.map(([verdict, n]) => (
            <div key={verdict} className="detail" data-verdict={verdict}>
              <dt>{verdict}</dt>
              <dd>{n}</dd>
            </div>
          ))}
        </dl>
      ) : (
        <p className="muted">No item has ended yet.</p>
      )}
    </>
  );
}

export function BatchPage() {
  const { id = "" } = useParams();
  const { project } = useCurrentProject();
  const queryClient = useQueryClient();
  const batch = useBatch(id);
  const b = batch.data;
  const live = Boolean(b && isActive(b));
  const results = useBatchResults(id, live);
  const cancel = useCancelBatch();

  // The last items end between two polls of the results: read them once more when the batch
  // has ended (or any more items did).
  const ended = b?.ended;
  const seenEnded = useRef(ended);
  useEffect(() => {
    if (seenEnded.current !== undefined && ended !== seenEnded.current) {
      queryClient.invalidateQueries({ queryKey: batchesKeys.results(project?.id ?? null, id) });
    }
    seenEnded.current = ended;
  }, [ended, id, project?.id, queryClient]);

  return (
    <section className="page" aria-labelledby="batch-heading">
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/batches">Batches</Link> <span aria-hidden="true">›</span> <span>{shortId(id)}</span>
      </nav>
      <div className="page-header">
        <h1 id="batch-heading">Batch {shortId(id)}</h1>
        {b?.status === "running" && (
          <button
            type="button"
            className="button danger-outline"
            onClick={() => cancel.mutate(b.id)}
            disabled={cancel.isPending}
          >
            Cancel
          </button>
        )}
      </div>
      {[cancel.isError && cancel.error, batch.isError && batch.error].map(
        (e, i) =>
          e && (
            <div key={i} role="alert" className="alert">
              {describeError(e)}
            </div>
          ),
      )}
      {batch.isPending && <p role="status">Loading the batch…</p>}
      {b && (
        <>
          <p className="muted">
            <code>{b.id}</code>
          </p>
          <section className="panel" aria-labelledby="batch-summary-heading">
            <h2 id="batch-summary-heading">Summary</h2>
            <BatchSummary batch={b} />
          </section>
          <section className="panel" aria-labelledby="results-heading">
            <h2 id="results-heading">Results</h2>
            <BatchResults results={results} />
          </section>
        </>
      )}
    </section>
  );
}
