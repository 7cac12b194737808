// The project's batches, newest first, with "Load more" for older pages; refreshed every 5 s
// while any listed batch runs or is cancelling.
import { Link } from "react-router";

import { describeError } from "@/api/problem";
import { formatDuration, secondsBetween, shortId } from "@/lib/format";
import { useNow } from "@/lib/use-now";

import { useBatches } from "../api/batches";
import { describePassRate, formatPercent, type Batch } from "../lib/batches";

function BatchRow({ batch, now }: { batch: Batch; now: number }) {
  return (
    <tr data-batch-id={batch.id} data-status={batch.status}>
      <td>
        <Link to={`/batches/${batch.id}`}>
          <code title={batch.id}>{shortId(batch.id)}</code>
        </Link>
      </td>
      <td>
        <span className={`badge batch-${batch.status}`}>{batch.status}</span>
      </td>
      <td>
        <progress
          className="progress-small"
          value={batch.ended}
          max={Math.max(batch.total, 1)}
          aria-label={`Progress of batch ${shortId(batch.id)}`}
        />{" "}
        {formatPercent(batch.progress)}
      </td>
      <td>{describePassRate(batch)}</td>
      <td className="number">{batch.total}</td>
      <td>
        <time dateTime={batch.created_at} title={new Date(batch.created_at).toLocaleString()}>
          {formatDuration(secondsBetween(batch.created_at, now))} ago
        </time>
      </td>
    </tr>
  );
}

export function BatchesPage() {
  const batches = useBatches();
  const now = useNow(1000);
  const rows = batches.data?.pages.flatMap((p) => p.data) ?? [];

  return (
    <section className="page" aria-labelledby="batches-heading">
      <div className="page-header">
        <h1 id="batches-heading">Batches</h1>
      </div>
      {batches.isError && (
        <div role="alert" className="alert">
          {describeError(batches.error)}
        </div>
      )}
      {batches.isPending ? (
        <p role="status">Loading batches…</p>
      ) : rows.length > 0 ? (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">The project's batches, newest first</caption>
            <thead>
              <tr>
                <th scope="col">ID</th>
                <th scope="col">Status</th>
                <th scope="col">Progress</th>
                <th scope="col">Pass rate</th>
                <th scope="col">Items</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((b) => (
                <BatchRow key={b.id} batch={b} now={now} />
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        !batches.isError && (
          <div className="empty">
            <h2>No batches yet</h2>
            <p>
              A batch runs many pieces of code, each checked against the output it should print: submit one with
              <code> POST /v1/batches</code>, the SDK or <code>sbx batch submit</code>.
            </p>
          </div>
        )
      )}
      {batches.hasNextPage && (
        <p>
          <button
            type="button"
            className="button"
            onClick={() => batches.fetchNextPage()}
            disabled={batches.isFetchingNextPage}
          >
            {batches.isFetchingNextPage ? "Loading…" : "Load more"}
          </button>
        </p>
      )}
    </section>
  );
}
